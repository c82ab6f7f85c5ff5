package logtest_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/logtest"
)

func TestBufferConcurrent(t *testing.T) {
	var b logtest.Buffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { b.Write([]byte("line\n")) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 50 || len(b.String()) != 250 {
		t.Fatalf("%d lines, %d bytes", got, len(b.String()))
	}
}

func TestTail(t *testing.T) {
	tail := logtest.NewTail(10)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { tail.Write([]byte("abc\n")) })
	}
	wg.Wait()
	if got := tail.String(); got != "c\nabc\nabc\n" {
		t.Fatalf("kept %q, want the last 10 bytes", got)
	}
	if got := tail.Lines(2); got != "...\nabc\nabc" {
		t.Fatalf("Lines(2) = %q", got)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 5, "a\nb\nc"},
		{"a\nb\nc", 3, "a\nb\nc"},
		{"a\nb\nc\n", 1, "...\nc"},
		{"", 2, ""},
	} {
		if got := logtest.LastLines([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
