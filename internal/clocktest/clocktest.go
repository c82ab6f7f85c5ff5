// Package clocktest is the settable clock tests hand to code that asks for
// the time or waits on it (clock.Clock): fixed at an instant (At) or running
// with real time plus an offset (Skewed), moved forward by Advance. Its
// timers fire when Advance moves the clock past them (a skewed clock's also
// when real time does), so a test drives every wait without sleeping. It is
// safe for concurrent use.
package clocktest

import (
	"sync"
	"time"

	"github.com/monsys/hub/internal/clock"
)

// Clock is a settable clock.
type Clock struct {
	mu      sync.Mutex
	t       time.Time // the fixed instant, or zero for a skewed clock
	offset  time.Duration
	waiting map[*timer]bool
	started chan struct{} // closed, and replaced, when a timer starts waiting
}

var _ clock.Clock = (*Clock)(nil)

// At returns a clock that stands at t until advanced.
func At(t time.Time) *Clock { return newClock(t) }

// Skewed returns a clock that runs with real time (UTC), Advance adding to
// its lead.
func Skewed() *Clock { return newClock(time.Time{}) }

func newClock(t time.Time) *Clock {
	return &Clock{t: t, waiting: map[*timer]bool{}, started: make(chan struct{})}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *Clock) now() time.Time {
	if c.t.IsZero() {
		return time.Now().UTC().Add(c.offset)
	}
	return c.t.Add(c.offset)
}

// Advance moves the clock forward by d (back for a negative d) and fires
// every timer whose time has come.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.fire()
}

// fire sends on every waiting timer that is due; c.mu is held.
func (c *Clock) fire() {
	now := c.now()
	for t := range c.waiting {
		if !now.Before(t.at) {
			delete(c.waiting, t)
			if t.real != nil {
				t.real.Stop()
			}
			t.ch <- now
		}
	}
}

// NewTimer returns a timer that fires once the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now().Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now()
		return t
	}
	c.waiting[t] = true
	if c.t.IsZero() {
		// A skewed clock moves with real time too.
		t.real = time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.fire()
		})
	}
	close(c.started)
	c.started = make(chan struct{})
	return t
}

// Waiting is the number of timers that wait on the clock.
func (c *Clock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiting)
}

// BlockUntilWaiting returns once n timers or more wait on the clock: a test
// calls it before Advance, so that the code under test is known to be waiting.
func (c *Clock) BlockUntilWaiting(n int) { c.Await(n, nil) }

// Await is BlockUntilWaiting that gives up when done is closed: true when n
// timers wait, false when done came first (the code under test ended).
func (c *Clock) Await(n int, done <-chan struct{}) bool {
	for {
		c.mu.Lock()
		if len(c.waiting) >= n {
			c.mu.Unlock()
			return true
		}
		started := c.started
		c.mu.Unlock()
		select {
		case <-started:
		case <-done:
			return false
		}
	}
}

type timer struct {
	c    *Clock
	at   time.Time
	ch   chan time.Time
	real *time.Timer
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.real != nil {
		t.real.Stop()
	}
	waiting := t.c.waiting[t]
	delete(t.c.waiting, t)
	return waiting
}
