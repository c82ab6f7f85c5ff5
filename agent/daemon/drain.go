package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// after a 2xx. Just before it is sent its header gets the "prev" of the
// chain (the SHA-256 of the last body the hub acknowledged), and after a
// 409 replay_rejected a seq above the hub's last_seq; either change is
// rewritten in place in the spool before the send, so a resend after a
// crash sends the same bytes.
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
		e, acked, err := a.chain(e)
		if err != nil {
			return sent, a.fail(err)
		}
		if acked {
			continue
		}
		id, err := identity.Load(identity.Path(a.o.StateDir))
		if err != nil {
			return sent, &DrainError{Err: err}
		}
		_, err = a.o.Hub.Ingest(ctx, id.TLS, e.Body, sig.Sign(key, e.Body))
		if err == nil {
			if err := a.acknowledged(e); err != nil {
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

// chain gives batch e, about to be sent, the header "prev" that names the
// last body the hub acknowledged (SPEC 4.2), rewriting it in the spool
// first when it names another: so the spool always holds the exact bytes
// sent, and a crash after the send resends them. A batch whose body is the
// last acknowledged one (the agent stopped between noting the answer and
// removing it) is removed instead (acked).
func (a *Agent) chain(e spool.Entry) (_ spool.Entry, acked bool, err error) {
	st, err := a.store.Load()
	if err != nil {
		return e, false, err
	}
	if st.LastAcked == bodySHA(e.Body) {
		return e, true, a.spool.Remove(e.ID)
	}
	b, err := batch.Parse(e.Body, true)
	if err != nil || b.Header.Prev == st.LastAcked {
		return e, false, nil // a body the hub refuses (400) stays as it is, and is set aside
	}
	body, err := batch.Rechain(e.Body, st.LastAcked)
	if err != nil {
		return e, false, err
	}
	if err := a.spool.Replace(e.ID, body); err != nil && !errors.Is(err, spool.ErrGone) {
		return e, false, err
	}
	e.Body = body
	return e, false, nil
}

// acknowledged notes that the hub took batch e, then removes it from the
// spool: in this order, so that the chain never forgets an answer.
func (a *Agent) acknowledged(e spool.Entry) error {
	sha := bodySHA(e.Body)
	if _, err := a.store.Update(func(s *state.State) error { s.LastAcked = sha; return nil }); err != nil {
		return err
	}
	return a.spool.Remove(e.ID)
}

func bodySHA(body []byte) string {
	d := sha256.Sum256(body)
	return hex.EncodeToString(d[:])
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
