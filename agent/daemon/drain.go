package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/spool"
	"github.com/monsys/hub/agent/state"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/sig"
)

// maxReplays bounds 409 rounds for one batch within one drain.
const maxReplays = 3

// DrainError is a failed drain, with the wait the hub asked for.
type DrainError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *DrainError) Error() string { return "drain: " + e.Err.Error() }
func (e *DrainError) Unwrap() error { return e.Err }

// Drain sends the spool, oldest first, one batch at a time, until it is
// empty (nil) or a send fails (*DrainError). A batch leaves the spool only
// after a 2xx; its bytes are what was spooled, except after a 409
// replay_rejected, when it gets a seq above the hub's last_seq and is
// rewritten in place before it is sent again.
func (a *Agent) Drain(ctx context.Context) (sent int, err error) {
	key, err := a.key()
	if err != nil {
		return 0, &DrainError{Err: err}
	}
	if err := a.ensureRegistered(ctx, key); err != nil {
		return 0, a.fail(err)
	}
	reregistered, reenrolled := false, false
	replays := 0
	// floor is the hub's last_seq after a 409: spooled batches at or below
	// it would be refused too, so they are re-sequenced before sending.
	var floor int64
	for {
		if err := ctx.Err(); err != nil {
			return sent, &DrainError{Err: err}
		}
		e, err := a.spool.Head()
		if errors.Is(err, spool.ErrEmpty) {
			return sent, nil
		}
		if err != nil {
			return sent, &DrainError{Err: err}
		}
		if floor > 0 {
			if b, err := batch.Parse(e.Body, true); err == nil && b.Header.Seq <= floor {
				if err := a.resequence(e, floor); err != nil {
					return sent, a.fail(err)
				}
				continue
			}
		}
		id, err := identity.Load(identity.Path(a.o.StateDir))
		if err != nil {
			return sent, &DrainError{Err: err}
		}
		_, err = a.o.Hub.Ingest(ctx, id.TLS, e.Body, sig.Sign(key, e.Body))
		if err == nil {
			if err := a.spool.Remove(e.ID); err != nil {
				return sent, &DrainError{Err: err}
			}
			sent++
			replays = 0
			if err := a.recordContact(); err != nil {
				return sent, &DrainError{Err: err}
			}
			continue
		}
		var ae *client.Error
		if !errors.As(err, &ae) {
			return sent, a.fail(err) // network: retry later, same bytes
		}
		switch {
		case ae.Status == http.StatusConflict && ae.Code == client.CodeReplayRejected && replays < maxReplays:
			replays++
			if ae.HasLastSeq {
				floor = max(floor, ae.LastSeq)
			}
			a.o.Log.Warn("hub rejected seq as replay, re-sequencing", "last_seq", ae.LastSeq)
			if err := a.resequence(e, floor); err != nil {
				return sent, a.fail(err)
			}
		case ae.Status == http.StatusForbidden && ae.Code == client.CodeCertPinMismatch && !reenrolled:
			// The certificate pin was reset (or lost): enroll again.
			reenrolled = true
			a.o.Log.Warn("client certificate refused, enrolling again", "err", ae)
			if _, err := a.register(ctx, key, modeEnroll); err != nil {
				return sent, a.fail(err)
			}
		case ae.Status == http.StatusForbidden && ae.Code != client.CodeCertPinMismatch && !reregistered:
			// The signing pin was unset by an admin, or the key file
			// was rotated under us: reload the key and register again.
			reregistered = true
			a.o.Log.Warn("signed batch refused, registering again", "err", ae)
			if key, err = a.key(); err != nil {
				return sent, a.fail(err)
			}
			if _, err := a.register(ctx, key, modeAuto); err != nil {
				return sent, a.fail(err)
			}
		case ae.Status == http.StatusBadRequest || ae.Status == http.StatusRequestEntityTooLarge:
			// The hub will never take this batch; keeping it would block
			// the spool forever. Set it aside and count it.
			a.o.Log.Error("hub refused a batch as malformed, dropping it", "err", ae, "records", e.Records)
			if err := a.spool.Remove(e.ID); err != nil {
				return sent, &DrainError{Err: err}
			}
			if _, err := a.store.Update(func(s *state.State) error { s.Rejected++; return nil }); err != nil {
				return sent, &DrainError{Err: err}
			}
		default:
			return sent, a.fail(ae)
		}
	}
}

func (a *Agent) fail(err error) *DrainError {
	a.recordError(err)
	de := &DrainError{Err: err}
	var ae *client.Error
	if errors.As(err, &ae) {
		de.RetryAfter = ae.RetryAfter
	}
	return de
}

// resequence gives batch e a seq above both hubLast and every seq this
// agent has used, re-encodes it and rewrites it in the spool.
func (a *Agent) resequence(e spool.Entry, hubLast int64) error {
	now := a.o.Now()
	var seq int64
	_, err := a.store.Update(func(s *state.State) error {
		seq = batch.NextSeq(now, max(s.LastSeq, hubLast))
		s.LastSeq = seq
		return nil
	})
	if err != nil {
		return err
	}
	body, err := batch.Resequence(e.Body, seq)
	if err != nil {
		return err
	}
	if err := a.spool.Replace(e.ID, body); err != nil && !errors.Is(err, spool.ErrGone) {
		return err
	}
	return nil
}

// Once collects once and drains the spool.
func (a *Agent) Once(ctx context.Context) error {
	if _, err := a.Collect(ctx); err != nil {
		return err
	}
	if _, err := a.Drain(ctx); err != nil {
		return err
	}
	return nil
}

// Run collects every Interval and drains the spool after each collection,
// waiting with exponential backoff and jitter (or the hub's Retry-After,
// when longer) after a failed drain. It returns when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	nextCollect := a.o.Now()
	nextSend := nextCollect
	for {
		now := a.o.Now()
		if !now.Before(nextCollect) {
			if _, err := a.Collect(ctx); err != nil {
				a.o.Log.Error("collect failed", "err", err)
			}
			nextCollect = now.Add(a.o.Interval)
		}
		if !now.Before(nextSend) {
			n, err := a.Drain(ctx)
			if ctx.Err() != nil {
				return nil
			}
			var de *DrainError
			switch {
			case errors.As(err, &de):
				wait := a.backoff.Next(de.RetryAfter)
				a.o.Log.Warn("hub not reachable, will retry", "err", de.Err, "sent", n, "retry_in", wait.Round(time.Millisecond), "spool_batches", a.spool.Stats().Batches)
				nextSend = now.Add(wait)
			case err != nil:
				return fmt.Errorf("run: %w", err)
			default:
				a.backoff.Reset()
				nextSend = nextCollect
			}
		}
		next := nextCollect
		if nextSend.Before(next) {
			next = nextSend
		}
		wait := next.Sub(a.o.Now())
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}
