// Package backoff computes retry delays: exponential growth with jitter, a
// cap, and a server's Retry-After taking precedence when it is longer.
package backoff

import (
	"time"
)

// Defaults used by the agent.
const (
	DefaultBase = time.Second
	DefaultMax  = 5 * time.Minute
	// MaxRetryAfter caps a server's Retry-After so a bad header cannot park
	// the agent for days.
	MaxRetryAfter = time.Hour
)

// Backoff is the state of one retry sequence. It is not safe for concurrent use.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a number in [0, 1); injected for reproducible tests.
	Rand func() float64

	attempt int
}

// Next returns the delay before the next attempt: a random value in
// [d/2, d) where d = min(Max, Base·2^attempt) ("equal jitter": never
// zero, and spread so that many agents do not retry in step). A positive
// retryAfter from the server is honoured when longer, up to MaxRetryAfter.
func (b *Backoff) Next(retryAfter time.Duration) time.Duration {
	d := b.Base
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	wait := d/2 + time.Duration(b.Rand()*float64(d/2))
	if retryAfter > 0 {
		wait = max(wait, min(retryAfter, MaxRetryAfter))
	}
	return wait
}

// Attempts returns how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts a new sequence after a success.
func (b *Backoff) Reset() { b.attempt = 0 }
