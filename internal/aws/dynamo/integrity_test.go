package dynamo_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

func testAuthority(t *testing.T) *ca.Authority {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	cert, err := ca.NewRoot(k, "test CA", now, 10*365*24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ca.Authority{Cert: cert, Signer: k, Rand: rand.Reader, Now: func() time.Time { return now }}
}

// fleet makes n agents that send signed data at sentAt, through the store's own writes.
func fleet(t *testing.T, s hub.Stores, prefix string, n int, sentAt time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		ids[i] = fmt.Sprintf("ag_%s%05d", prefix, i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx := context.Background()
			id := ids[i]
			key := []byte(fmt.Sprintf("%032d", i))
			if err := s.Agents.CreateAgent(ctx, hub.Agent{TenantID: "acme", AgentID: id, TokenHash: "h" + id, CreatedAt: sentAt}); err != nil {
				errs <- err
				return
			}
			if err := s.Agents.PinSigningKey(ctx, id, key, sentAt); err != nil {
				errs <- err
				return
			}
			p := hub.Pending{Seq: 1, SHA: "x", At: sentAt}
			if err := s.Commits.BeginBatch(ctx, id, p, key, "1.0.0", "1.0.0"); err != nil {
				errs <- err
				return
			}
			errs <- s.Commits.EndBatch(ctx, id, p)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func legacy(t *testing.T, s hub.Stores, n int, at time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("ag_legacy%02d", i)
		if err := s.Agents.CreateAgent(t.Context(), hub.Agent{TenantID: "acme", AgentID: id, TokenHash: "h" + id, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commits.MarkUnsigned(t.Context(), id, at); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func integrityOver(t *testing.T, api dynamo.API, tables dynamo.Tables, clk *clocktest.Clock) (*hub.Integrity, hub.Stores) {
	t.Helper()
	s, err := dynamo.New(api, tables)
	if err != nil {
		t.Fatal(err)
	}
	core, err := app.Assemble(s, testAuthority(t), app.CoreConfig{StaleAfter: 30 * time.Minute}, hub.Env{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return core.Integrity, s
}

// TestIntegrityCostFollowsAttention: with 5,000 agents of which 10 need
// attention, a run reads on the order of 10 agent items, counted at the
// adapter, not 5,000.
func TestIntegrityCostFollowsAttention(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 5,000 agents")
	}
	db := emutest.DynamoForTest(t)
	_, tables := newStore(t, db)
	clk := clocktest.At(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
	cnt := &faultAPI{API: emutest.Data(t, db), agents: tables.Agents}
	in, s := integrityOver(t, cnt, tables, clk)

	now := clk.Now()
	fleet(t, s, "busy", 4990-5, now.Add(-5*time.Minute))    // healthy, sending
	quiet := fleet(t, s, "quiet", 5, now.Add(-2*time.Hour)) // went quiet: stale
	unsigned := legacy(t, s, 5, now.Add(-10*time.Minute))   // legacy: unsigned_payload
	_ = fleet(t, s, "tail", 5, now.Add(-time.Minute))

	cnt.agentReads.Store(0)
	sum, err := in.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reads := cnt.agentReads.Load()
	t.Logf("run 1 over 5,000 agents: %+v; agent items read: %d", sum, reads)
	if sum.Checked != 10 || sum.Raised != 10 {
		t.Fatalf("summary %+v, want 10 checked and 10 raised", sum)
	}
	if reads > 30 {
		t.Fatalf("read %d agent items for 10 agents needing attention", reads)
	}
	// The next run sees the 10 (now all in the attention index) and nothing else.
	cnt.agentReads.Store(0)
	clk.Advance(10 * time.Minute)
	sum, err = in.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run 2: %+v; agent items read: %d", sum, cnt.agentReads.Load())
	if sum.Checked != 10 || sum.Raised != 0 || cnt.agentReads.Load() > 30 {
		t.Fatalf("second run: %+v, %d reads", sum, cnt.agentReads.Load())
	}
	for _, id := range append(quiet, unsigned...) {
		p, err := s.Anomalies.ListAnomalies(t.Context(), "acme", anomaly.Filter{Status: anomaly.Open, AgentID: id}, "", 10)
		if err != nil || len(p.Anomalies) != 1 || p.Anomalies[0].Count != 1 {
			t.Fatalf("%s: %+v %v", id, p.Anomalies, err)
		}
	}
}

// TestIntegrityInterruptedRun: the emulator dies half-way through a run; the
// run reports failure; once it is back, a repeat gives the correct final state.
func TestIntegrityInterruptedRun(t *testing.T) {
	ctx := context.Background()
	d, err := emu.StartDynalite(ctx, emu.DynaliteOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	db, err := emu.DynamoClient(ctx, d.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	tables := dynamo.TablesWithPrefix("int-")
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		t.Fatal(err)
	}
	clk := clocktest.At(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
	cnt := &faultAPI{API: emutest.Data(t, db), agents: tables.Agents}
	in, s := integrityOver(t, cnt, tables, clk)
	now := clk.Now()
	quiet := fleet(t, s, "quiet", 6, now.Add(-2*time.Hour))
	unsigned := legacy(t, s, 6, now.Add(-10*time.Minute))

	// Stop dynalite just before the run's 9th write: some agents are done,
	// one may be cut between its two writes, the rest are untouched.
	cnt.writes.Store(0)
	cnt.setFault(func(n int64, _ string) verdict {
		if n == 9 {
			_ = d.Stop()
		}
		return pass
	})
	if _, err := in.Run(ctx); err == nil {
		t.Fatal("a run against a dead emulator reported success")
	}
	cnt.setFault(nil)
	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for run := range 2 { // the repeat, then one more to show it is stable
		sum, err := in.Run(ctx)
		if err != nil {
			t.Fatalf("repeat %d: %v", run, err)
		}
		t.Logf("repeat %d: %+v", run, sum)
	}
	for _, id := range quiet {
		expectOpen(t, s, id, anomaly.StaleAgent)
	}
	for _, id := range unsigned {
		expectOpen(t, s, id, anomaly.UnsignedPayload)
	}
}

func expectOpen(t *testing.T, s hub.Stores, id string, k anomaly.Kind) {
	t.Helper()
	p, err := s.Anomalies.ListAnomalies(context.Background(), "acme", anomaly.Filter{AgentID: id, Kind: k}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Anomalies) != 1 || p.Anomalies[0].Status != anomaly.Open || p.Anomalies[0].Count != 1 {
		t.Fatalf("%s %s: want exactly one open anomaly with count 1, got %+v", id, k, p.Anomalies)
	}
}
