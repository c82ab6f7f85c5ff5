package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local"
)

// internalText are fragments that must never reach a client.
var internalText = []string{"dial", "127.0.0.1", "connection", "dynamodb", "DynamoDB", "operation error", "refused", "EOF"}

func checkUnavailable(t *testing.T, r resp) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable && r.Status != http.StatusTooManyRequests {
		t.Fatalf("want 503 or 429 while the backend is away, got %s", r)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("%d without Retry-After: %s", r.Status, r)
	}
	for _, frag := range internalText {
		if strings.Contains(string(r.Raw), frag) {
			t.Fatalf("answer carries internal text %q: %s", frag, r)
		}
	}
}

// TestBackendFaults stops dynalite under a stream of signed batches, three
// times, at moments the test does not choose. Every answer is 2xx or 503 with
// Retry-After, never 500; the sender retries like an agent; and once dynalite
// is back every batch is stored exactly once, in order, with no batch left
// half-written.
func TestBackendFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops its own dynalite")
	}
	clk := clocktest.Skewed()
	e := startEnv(t, local.Config{Clock: clk})
	a := e.enrolledAgent()
	ad := e.admin()

	const n = 60
	bodies := make([][]byte, n)
	seqs := make([]int64, n)
	for i := range bodies {
		seqs[i] = a.seq.Add(1)
		bodies[i] = a.bodySeq(seqs[i], metric("cpu", float64(i)), metric("mem", float64(i)))
	}
	accepted := make([]int, n)
	var unavailable int
	done := make(chan struct{})
	var failure string
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			for attempt := 0; ; attempt++ {
				if attempt > 400 {
					failure = "batch never accepted"
					return
				}
				r := a.ingest(bodies[i])
				switch {
				case r.Status == http.StatusAccepted:
					accepted[i]++
				case r.Status == http.StatusOK && r.Body["duplicate"] == true:
				case r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests ||
					r.Status == http.StatusConflict && r.code() == "conflict":
					unavailable++
					if r.Header.Get("Retry-After") == "" || strings.Contains(string(r.Raw), "dial") {
						failure = "bad answer without Retry-After: " + r.String()
						return
					}
					// Honour Retry-After without waiting for real: a batch
					// left in flight by a cut request is past its lease.
					clk.Advance(20 * time.Second)
					time.Sleep(20 * time.Millisecond)
					continue
				default:
					failure = "unexpected answer: " + r.String()
					return
				}
				break
			}
		}
	}()

	ctx := context.Background()
	d := e.hub.Dynalite()
	for cycle := 0; cycle < 3; cycle++ {
		time.Sleep(time.Duration(150+cycle*70) * time.Millisecond)
		if err := d.Stop(); err != nil {
			t.Fatal(err)
		}
		if cycle == 0 { // while it is down, every kind of endpoint answers 503
			checkUnavailable(t, ad.do("GET", "/agents/"+a.id, nil))
			p := a.pub()
			checkUnavailable(t, a.register(a.c, a.regBody(&p, "")))
		}
		time.Sleep(1500 * time.Millisecond) // longer than the SDK's retries
		if err := d.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("sender did not finish")
	}
	if failure != "" {
		t.Fatal(failure)
	}
	if unavailable == 0 {
		t.Log("note: no request hit the outage this run")
	}
	for i := range n {
		if accepted[i] > 1 {
			t.Fatalf("batch %d accepted %d times", i, accepted[i])
		}
		b, err := e.hub.Stores.Batches.GetBatch(ctx, a.id, hub.SignedBatchKey(seqs[i]))
		if err != nil || string(b.Body) != string(bodies[i]) {
			t.Fatalf("batch %d (seq %d) not stored as sent: %v", i, seqs[i], err)
		}
	}
	ag, err := e.hub.Stores.Agents.GetAgent(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	if ag.Pending != nil || ag.LastSeq != seqs[n-1] {
		t.Fatalf("agent left half-written: pending=%+v last_seq=%d want %d", ag.Pending, ag.LastSeq, seqs[n-1])
	}
	t.Logf("%d batches, %d answers of 503/429 during three outages", n, unavailable)
}
