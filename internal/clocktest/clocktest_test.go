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
