package backoff

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	tests := []struct {
		name       string
		rand       float64
		attempts   int
		retryAfter time.Duration
		want       time.Duration
	}{
		{name: "ok/first low jitter", rand: 0, attempts: 0, want: 500 * time.Millisecond},
		{name: "ok/first high jitter", rand: 0.5, attempts: 0, want: 750 * time.Millisecond},
		{name: "ok/grows", rand: 0, attempts: 3, want: 4 * time.Second},
		{name: "ok/capped", rand: 0, attempts: 40, want: 150 * time.Second},
		{name: "ok/retry-after longer wins", rand: 0, attempts: 0, retryAfter: 30 * time.Second, want: 30 * time.Second},
		{name: "ok/retry-after shorter ignored", rand: 0, attempts: 5, retryAfter: time.Second, want: 16 * time.Second},
		{name: "ok/retry-after capped", rand: 0, attempts: 0, retryAfter: 48 * time.Hour, want: MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Backoff{Base: DefaultBase, Max: DefaultMax, Rand: func() float64 { return tt.rand }}
			for range tt.attempts {
				b.Next(0)
			}
			if got := b.Next(tt.retryAfter); got != tt.want {
				t.Fatalf("Next = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("ok/reset", func(t *testing.T) {
		b := &Backoff{Base: DefaultBase, Max: DefaultMax, Rand: func() float64 { return 0 }}
		b.Next(0)
		b.Next(0)
		b.Reset()
		if got := b.Next(0); got != 500*time.Millisecond || b.Attempts() != 1 {
			t.Fatalf("after Reset: %v, %d attempts", got, b.Attempts())
		}
	})
}
