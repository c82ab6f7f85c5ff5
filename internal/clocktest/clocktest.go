// Package clocktest is the settable clock tests hand to code that asks for
// the time: fixed at an instant (At) or running with real time plus an
// offset (Skewed), moved forward by Advance. It is safe for concurrent use.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a settable clock.
type Clock struct {
	mu     sync.Mutex
	t      time.Time // the fixed instant, or zero for a skewed clock
	offset time.Duration
}

// At returns a clock that stands at t until advanced.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Skewed returns a clock that runs with real time (UTC), Advance adding to
// its lead.
func Skewed() *Clock { return &Clock{} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now().UTC().Add(c.offset)
	}
	return c.t.Add(c.offset)
}

// Advance moves the clock forward by d (back for a negative d).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
