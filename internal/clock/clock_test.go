package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/clocktest"
)

func TestSleep(t *testing.T) {
	t.Run("ok/returns-once-the-clock-passes", func(t *testing.T) {
		c := clocktest.At(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
		done := make(chan error, 1)
		go func() { done <- clock.Sleep(t.Context(), c, time.Minute) }()
		c.BlockUntilWaiting(1)
		c.Advance(time.Minute)
		if err := <-done; err != nil {
			t.Fatalf("Sleep = %v", err)
		}
	})
	t.Run("fail/cancelled", func(t *testing.T) {
		c := clocktest.At(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := clock.Sleep(ctx, c, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want %v", err, context.Canceled)
		}
		if n := c.Waiting(); n != 0 {
			t.Fatalf("%d timers left waiting after Sleep returned", n)
		}
	})
	t.Run("ok/real-clock-zero-wait", func(t *testing.T) {
		if err := clock.Sleep(t.Context(), clock.Real{}, 0); err != nil {
			t.Fatalf("Sleep = %v", err)
		}
	})
}
