package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/clocktest"
)

func TestAt(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	c := clocktest.At(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v", c.Now())
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("after 10 advances Now = %v", got)
	}
}

func TestSkewed(t *testing.T) {
	c := clocktest.Skewed()
	c.Advance(time.Hour)
	before := time.Now().Add(time.Hour)
	got := c.Now()
	if got.Before(before) || got.After(time.Now().Add(time.Hour)) || got.Location() != time.UTC {
		t.Fatalf("Now = %v, want real time plus an hour (UTC)", got)
	}
}

// fired reports whether a timer's channel holds a value, without waiting.
func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-ch:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestTimer(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	t.Run("ok/fires-when-advanced-past", func(t *testing.T) {
		c := clocktest.At(t0)
		tm := c.NewTimer(time.Minute)
		c.Advance(59 * time.Second)
		if _, ok := fired(tm.C()); ok {
			t.Fatal("fired a second early")
		}
		c.Advance(2 * time.Second)
		at, ok := fired(tm.C())
		if !ok || !at.Equal(t0.Add(61*time.Second)) {
			t.Fatalf("fired %v at %v, want at %v", ok, at, t0.Add(61*time.Second))
		}
		if tm.Stop() {
			t.Fatal("Stop after firing reported a stop")
		}
	})
	t.Run("ok/zero-fires-at-once", func(t *testing.T) {
		c := clocktest.At(t0)
		if _, ok := fired(c.NewTimer(0).C()); !ok {
			t.Fatal("a zero timer did not fire")
		}
		if n := c.Waiting(); n != 0 {
			t.Fatalf("Waiting = %d", n)
		}
	})
	t.Run("ok/stop", func(t *testing.T) {
		c := clocktest.At(t0)
		tm := c.NewTimer(time.Second)
		if !tm.Stop() || c.Waiting() != 0 {
			t.Fatalf("Stop did not stop (waiting %d)", c.Waiting())
		}
		c.Advance(time.Hour)
		if _, ok := fired(tm.C()); ok {
			t.Fatal("a stopped timer fired")
		}
	})
	t.Run("ok/block-until-waiting", func(t *testing.T) {
		c := clocktest.At(t0)
		done := make(chan time.Time)
		go func() { done <- <-c.NewTimer(time.Hour).C() }()
		c.BlockUntilWaiting(1)
		c.Advance(time.Hour)
		if at := <-done; !at.Equal(t0.Add(time.Hour)) {
			t.Fatalf("fired at %v", at)
		}
	})
	t.Run("ok/await-gives-up-when-done", func(t *testing.T) {
		c := clocktest.At(t0)
		done := make(chan struct{})
		close(done)
		if c.Await(1, done) {
			t.Fatal("Await reported a timer nobody started")
		}
		c.NewTimer(time.Hour)
		if !c.Await(1, done) {
			t.Fatal("Await missed a waiting timer")
		}
	})
	t.Run("ok/skewed-fires-when-advanced", func(t *testing.T) {
		c := clocktest.Skewed()
		tm := c.NewTimer(24 * time.Hour)
		c.Advance(24 * time.Hour)
		if _, ok := fired(tm.C()); !ok {
			t.Fatal("a skewed clock's timer did not fire on Advance")
		}
	})
}
