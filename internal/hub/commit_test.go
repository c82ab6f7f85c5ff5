package hub_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

var errBoom = errors.New("dynamodb: connection reset")

// TestCommitRepair covers the pending marker (docs/dynamodb.md, "ingest
// commit"): whatever write fails, the agent ends with nothing half-written,
// and the agent's retry or its next batch completes the picture.
func TestCommitRepair(t *testing.T) {
	t.Run("ok/put-batch-fails-once-then-retry", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		before := f.agentState(a.id)
		f.store.FailNext("PutBatch", fmt.Errorf("put: %w", hub.ErrUnavailable))
		r := a.req(a.next("1.4.2", 2))
		_, err := f.ingest(r)
		if he := wantCode(t, err, hub.CodeUnavailable); he.RetryAfter <= 0 {
			t.Fatal("503 without Retry-After")
		}
		st := f.agentState(a.id)
		if st.LastSeq != before.LastSeq || st.LastBatchSHA != before.LastBatchSHA || st.Pending != nil || len(f.store.Batches(a.id)) != 1 {
			t.Fatalf("after a failed store: last_seq %d pending %+v batches %d", st.LastSeq, st.Pending, len(f.store.Batches(a.id)))
		}
		f.consistent(a.id)
		res, err := f.ingest(r)
		if err != nil || res.Accepted != 2 {
			t.Fatalf("retry: %+v, %v", res, err)
		}
		f.consistent(a.id)
		if len(f.store.Batches(a.id)) != 2 {
			t.Fatal("retry did not store exactly once")
		}
		f.wantAnomalies(a.id)
	})

	t.Run("ok/put-batch-internal-error", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.store.FailNext("PutBatch", errBoom)
		r := a.req(a.next("1.4.2", 1))
		_, err := f.ingest(r)
		he := wantCode(t, err, hub.CodeInternal)
		if !errors.Is(err, errBoom) || strings.Contains(he.Message, "connection reset") {
			t.Fatalf("cause %v, message %q", he.Cause, he.Message)
		}
		f.consistent(a.id)
		if _, err := f.ingest(r); err != nil {
			t.Fatal(err)
		}
		f.consistent(a.id)
	})

	t.Run("ok/end-batch-fails-once-then-retry-is-duplicate", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		f.store.FailNext("EndBatch", fmt.Errorf("update: %w", hub.ErrUnavailable))
		r := a.req(a.next("1.4.2", 3))
		_, err := f.ingest(r)
		wantCode(t, err, hub.CodeUnavailable)
		if st := f.agentState(a.id); st.Pending == nil || st.LastSeq != a.seq {
			t.Fatalf("the marker should stand until repaired: %+v", st.Pending)
		}
		// The batch is stored; only the marker's removal was lost. The retry,
		// even within the lease, is the idempotent duplicate and clears it.
		res, err := f.ingest(r)
		if err != nil || !res.Duplicate || res.Accepted != 0 {
			t.Fatalf("retry: %+v, %v", res, err)
		}
		f.consistent(a.id)
		if st := f.agentState(a.id); st.Pending != nil {
			t.Fatalf("marker left after the retry: %+v", st.Pending)
		}
		if n := len(f.store.Batches(a.id)); n != 2 {
			t.Fatalf("%d batches stored", n)
		}
		res, err = f.ingest(r)
		if err != nil || !res.Duplicate {
			t.Fatalf("second retry: %+v, %v", res, err)
		}
		f.wantAnomalies(a.id)
	})

	t.Run("ok/stale-marker-undone-by-next-batch", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		before := f.agentState(a.id)
		// The function "dies" after the seq advance: the store fails and so does the undo.
		f.store.FailNext("PutBatch", errBoom)
		f.store.FailNext("AbortBatch", errBoom)
		_, err := f.ingest(a.req(a.next("1.4.2", 1)))
		wantCode(t, err, hub.CodeInternal)
		st := f.agentState(a.id)
		if st.Pending == nil || st.LastSeq != a.seq {
			t.Fatalf("expected a stale marker, agent %+v", st)
		}
		// A newer batch within the lease is a lost race (SPEC 4: 409 conflict, never 5xx).
		next := a.req(a.next("1.4.2", 2))
		_, err = f.ingest(next)
		wantCode(t, err, hub.CodeConflict)
		// After the lease, the next request undoes the stale batch and goes on.
		f.clock.Advance(lease + time.Second)
		res, err := f.ingest(next)
		if err != nil || res.Accepted != 2 {
			t.Fatalf("next batch after the lease: %+v, %v", res, err)
		}
		f.consistent(a.id)
		bs := f.store.Batches(a.id)
		if len(bs) != 2 || bs[0].Seq != before.LastSeq || bs[1].Seq != a.seq {
			t.Fatalf("batches = %v", seqs(bs))
		}
		f.wantAnomalies(a.id)
	})

	t.Run("ok/stale-marker-of-a-stored-batch-undone", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		before := f.agentState(a.id)
		// Stored, but the marker was never cleared, and the agent moved on.
		f.store.FailNext("EndBatch", errBoom)
		_, err := f.ingest(a.req(a.next("1.4.2", 1)))
		wantCode(t, err, hub.CodeInternal)
		if len(f.store.Batches(a.id)) != 2 {
			t.Fatal("setup: the batch should be stored")
		}
		f.clock.Advance(lease + time.Second)
		next := a.req(a.next("1.4.2", 1))
		if _, err := f.ingest(next); err != nil {
			t.Fatal(err)
		}
		f.consistent(a.id)
		// The 500'd batch is gone: the agent was never told it was accepted.
		bs := f.store.Batches(a.id)
		if len(bs) != 2 || bs[0].Seq != before.LastSeq || bs[1].Seq != a.seq {
			t.Fatalf("batches = %v", seqs(bs))
		}
	})

	t.Run("ok/stale-marker-retried-with-the-same-body", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.store.FailNext("PutBatch", errBoom)
		f.store.FailNext("AbortBatch", errBoom)
		r := a.req(a.next("1.4.2", 1))
		_, err := f.ingest(r)
		wantCode(t, err, hub.CodeInternal)
		f.clock.Advance(lease + time.Second)
		res, err := f.ingest(r)
		if err != nil || res.Accepted != 1 {
			t.Fatalf("retry of the stale batch: %+v, %v", res, err)
		}
		f.consistent(a.id)
		if len(f.store.Batches(a.id)) != 1 {
			t.Fatal("not stored exactly once")
		}
	})

	t.Run("ok/undo-fails-too-then-repaired", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		// Stored, marker stuck, and the first repair attempt fails on delete.
		f.store.FailNext("EndBatch", errBoom)
		_, err := f.ingest(a.req(a.next("1.4.2", 1)))
		wantCode(t, err, hub.CodeInternal)
		f.clock.Advance(lease + time.Second)
		f.store.FailNext("DeleteBatch", fmt.Errorf("delete: %w", hub.ErrThrottled))
		next := a.req(a.next("1.4.2", 1))
		_, err = f.ingest(next)
		wantCode(t, err, hub.CodeThrottled)
		// The failed undo claimed the batch, renewing its lease: the next
		// request waits for it, then finishes the undo.
		_, err = f.ingest(next)
		he := wantCode(t, err, hub.CodeConflict)
		if he.RetryAfter < lease-time.Second {
			t.Fatalf("Retry-After %v, want the rest of the undo's lease", he.RetryAfter)
		}
		f.clock.Advance(he.RetryAfter)
		if _, err := f.ingest(next); err != nil {
			t.Fatal(err)
		}
		f.consistent(a.id)
		if n := len(f.store.Batches(a.id)); n != 2 {
			t.Fatalf("%d batches", n)
		}
	})

	t.Run("ok/retry-while-the-batch-is-undone-is-not-acknowledged", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		// Stored whole, but the marker's removal failed: the agent was told 500.
		f.store.FailNext("EndBatch", errBoom)
		old := a.req(a.next("1.4.2", 1))
		_, err := f.ingest(old)
		wantCode(t, err, hub.CodeInternal)
		f.clock.Advance(lease + time.Second)
		// The agent moves on; while its new batch undoes the stale one, a
		// late retry of the old body arrives. It must not be acknowledged:
		// the old batch is on its way out.
		var late error
		f.store.BeforeNext("DeleteBatch", func() { _, late = f.ingest(old) })
		next := a.req(a.next("1.4.2", 2))
		if res, err := f.ingest(next); err != nil || res.Accepted != 2 {
			t.Fatalf("next batch: %+v, %v", res, err)
		}
		wantCode(t, late, hub.CodeConflict)
		f.consistent(a.id)
		if bs := f.store.Batches(a.id); len(bs) != 2 || bs[1].Seq != a.seq {
			t.Fatalf("batches = %v", seqs(bs))
		}
	})

	t.Run("fail/begin-batch-throttled-stores-nothing", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.store.FailNext("BeginBatch", fmt.Errorf("update: %w", hub.ErrThrottled))
		r := a.req(a.next("1.4.2", 1))
		_, err := f.ingest(r)
		if he := wantCode(t, err, hub.CodeThrottled); he.RetryAfter <= 0 {
			t.Fatal("429 without Retry-After")
		}
		if st := f.agentState(a.id); st.LastSeq != 0 || st.Pending != nil || len(f.store.Batches(a.id)) != 0 {
			t.Fatalf("a throttled request changed the agent: %+v", st)
		}
		if _, err := f.ingest(r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fail/legacy-store-unavailable", func(t *testing.T) {
		f := newFx(t)
		a := f.legacyAgent()
		f.store.FailNext("PutBatch", hub.ErrUnavailable)
		r := a.req([]byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z"}]`))
		r.Signature = ""
		_, err := f.ingest(r)
		wantCode(t, err, hub.CodeUnavailable)
		if len(f.store.Batches(a.id)) != 0 {
			t.Fatal("stored despite the 503")
		}
		if _, err := f.ingest(r); err != nil {
			t.Fatal(err)
		}
		if len(f.store.Batches(a.id)) != 1 {
			t.Fatal("retry not stored")
		}
	})
}

func seqs(bs []hub.StoredBatch) []int64 {
	var out []int64
	for _, b := range bs {
		out = append(out, b.Seq)
	}
	return out
}

// TestBackendErrorsOnAuth: a store failure while authenticating is 429/503
// with Retry-After or a 500 without internal text, never a 401. A warm
// function knows the agent's credential (cached since its registration), so
// the agent endpoints fail on the agent item's read; the admin key's on the
// credential's.
func TestBackendErrorsOnAuth(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code hub.Code
	}{
		{"fail/throttled", fmt.Errorf("get item: %w", hub.ErrThrottled), hub.CodeThrottled},
		{"fail/unavailable", fmt.Errorf("get item: %w", hub.ErrUnavailable), hub.CodeUnavailable},
		{"fail/internal", errBoom, hub.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			a := f.enrolled()
			f.store.FailNext("GetAgentState", tt.err) // ingest
			f.store.FailNext("GetAgent", tt.err)      // register
			f.store.FailNext("GetCredential", tt.err)
			_, err := f.ingest(a.req(a.next("1.4.2", 1)))
			he := wantCode(t, err, tt.code)
			if (tt.code != hub.CodeInternal) != (he.RetryAfter > 0) {
				t.Fatalf("retry after %v on %s", he.RetryAfter, tt.code)
			}
			_, err = f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
			wantCode(t, err, tt.code)
			_, err = f.core.AdminAuth.Authenticate(f.ctx, f.adminKey, f.operator)
			wantCode(t, err, tt.code)
			if len(f.store.Batches(a.id)) != 0 {
				t.Fatal("stored")
			}
		})
	}
}

// TestRaiseFailureKeepsAnswer: when the anomaly cannot be written the
// refusal stands and the failure is logged.
func TestRaiseFailureKeepsAnswer(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.store.FailNext("RaiseAnomaly", errBoom)
	r := a.req(a.next("1.4.2", 1))
	r.Signature = "bad"
	_, err := f.ingest(r)
	wantCode(t, err, hub.CodeSignatureInvalid)
	if !strings.Contains(f.logs.String(), "raise anomaly") {
		t.Fatalf("log = %s", f.logs.String())
	}
	f.wantAnomalies(a.id)
}

// TestConcurrentRegistration: 50 registrations with 50 different keys race
// for one agent's pin; exactly one wins and the others get 403.
func TestConcurrentRegistration(t *testing.T) {
	f := newFx(t)
	a := f.newAgent()
	const n = 50
	keys := make([]string, n)
	for i := range keys {
		keys[i] = pubB64(newSigningKey(t))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	results := make([]hub.RegisterResult, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = f.register(a.token, f.enroll, regBody("1.4.2", keys[i], ""))
		})
	}
	close(start)
	wg.Wait()
	winner, invalid := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("two registrations won: %d and %d", winner, i)
			}
			winner = i
		default:
			wantCode(t, err, hub.CodeSignatureInvalid)
			invalid++
		}
	}
	if winner < 0 || invalid != n-1 {
		t.Fatalf("winner %d, %d signature_invalid", winner, invalid)
	}
	if got := pubB64Raw(f.agentState(a.id).SigningPubKey); got != keys[winner] || !results[winner].SigningPubKeyPinned {
		t.Fatalf("pinned %s, winner sent %s", got, keys[winner])
	}
	f.wantAnomalies(a.id, anom{anomaly.SignatureInvalid, anomaly.Critical, n - 1})
}

// TestConcurrentIngest: 20 different bodies with the same seq; exactly one
// is accepted and stored, the rest are replays.
func TestConcurrentIngest(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	const n = 20
	seq := a.seq + 1
	reqs := make([]hub.IngestRequest, n)
	for i := range reqs {
		reqs[i] = a.req(batchBody(seq, "1.4.2", 1, fmt.Sprint("body-", i)))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = f.ingest(reqs[i])
		})
	}
	close(start)
	wg.Wait()
	winner, replays := -1, 0
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("two bodies with seq %d accepted", seq)
			}
			winner = i
			continue
		}
		he := wantCode(t, err, hub.CodeReplayRejected)
		if *he.LastSeq != seq {
			t.Fatalf("last_seq %d, want %d", *he.LastSeq, seq)
		}
		replays++
	}
	if winner < 0 || replays != n-1 {
		t.Fatalf("winner %d, %d replays", winner, replays)
	}
	bs := f.store.Batches(a.id)
	if len(bs) != 2 || string(bs[1].Body) != string(reqs[winner].Body) {
		t.Fatalf("stored %d batches; the last is not the winner's", len(bs))
	}
	f.consistent(a.id)
	f.wantAnomalies(a.id, anom{anomaly.ReplayDetected, anomaly.High, n - 1})
}

// TestConcurrentRetries: 20 copies of the same body race; one is accepted,
// the others are told to retry or that it is a duplicate, and it is stored once.
func TestConcurrentRetries(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	r := a.req(a.next("1.4.2", 1))
	const n = 20
	var wg sync.WaitGroup
	results := make([]hub.IngestResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = f.ingest(r)
		})
	}
	close(start)
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil && results[i].Accepted == 1:
			accepted++
		case err == nil && results[i].Duplicate:
		default:
			// Told to retry: 409 while another request stores this body
			// (docs/dynamodb.md, "The ingest commit"), 503 when it lost
			// the store's race; both with Retry-After.
			var he *hub.Error
			if !errors.As(err, &he) || (he.Code != hub.CodeConflict && he.Code != hub.CodeUnavailable) || he.RetryAfter <= 0 {
				t.Fatalf("copy %d: %v, want accepted, duplicate, or conflict/unavailable with Retry-After", i, err)
			}
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted", accepted)
	}
	if len(f.store.Batches(a.id)) != 1 {
		t.Fatal("stored more than once")
	}
	f.consistent(a.id)
	f.wantAnomalies(a.id)
}

func pubB64Raw(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
