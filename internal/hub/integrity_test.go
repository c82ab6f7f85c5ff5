package hub_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// sendUnsigned has the legacy agent a send one unsigned batch now.
func (f *fx) sendUnsigned(a *agent) {
	f.t.Helper()
	body := fmt.Appendf(nil, `[{"type":"metric","ts":%q}]`, f.clock.Now().Format(time.RFC3339Nano))
	r := hub.IngestRequest{Token: a.token, ClientCertPEM: a.cert, ContentType: "application/json", Body: body}
	if res, err := f.ingest(r); err != nil || res.Accepted != 1 {
		f.t.Fatalf("unsigned ingest: %+v, %v", res, err)
	}
}

// cycle runs the integrity cycle and wants its counts.
func (f *fx) cycle(checked, raised, refreshed, closed int) {
	f.t.Helper()
	sum, err := f.core.Integrity.Run(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if sum.Checked != checked || sum.Raised != raised || sum.Refreshed != refreshed || sum.Closed != closed {
		f.t.Fatalf("cycle %+v, want checked %d raised %d refreshed %d closed %d", sum, checked, raised, refreshed, closed)
	}
}

// anomalyOf is the one anomaly of (agent, kind).
func (f *fx) anomalyOf(agentID string, k anomaly.Kind) anomaly.Anomaly {
	f.t.Helper()
	p, err := f.store.ListAnomalies(f.ctx, tenant, anomaly.Filter{AgentID: agentID, Kind: k}, "", 10)
	if err != nil || len(p.Anomalies) != 1 {
		f.t.Fatalf("%s anomalies of %s: %+v, %v", k, agentID, p.Anomalies, err)
	}
	return p.Anomalies[0]
}

// TestIntegrityUnsigned: SPEC 4.4 at the use case, over the kit's sparse
// indexes and the fixture's clock: an agent without a signing pin that sent
// data in the last hour has an open unsigned_payload (medium), refreshed at
// most hourly; once it is pinned and has sent a signed batch, the anomaly is
// closed (agent_signing) and the agent leaves the attention index.
func TestIntegrityUnsigned(t *testing.T) {
	f := newFx(t)
	a := f.legacyAgent()
	f.sendUnsigned(a)
	f.cycle(1, 1, 0, 0)
	if an := f.anomalyOf(a.id, anomaly.UnsignedPayload); an.Severity != anomaly.Medium || an.Count != 1 || an.Status != anomaly.Open {
		t.Fatalf("unsigned_payload %+v", an)
	}
	f.clock.Advance(30 * time.Minute)
	f.sendUnsigned(a)
	f.cycle(1, 0, 0, 0) // within the hour: left alone
	f.clock.Advance(31 * time.Minute)
	f.sendUnsigned(a)
	f.cycle(1, 0, 1, 0)
	if an := f.anomalyOf(a.id, anomaly.UnsignedPayload); an.Count != 2 {
		t.Fatalf("unsigned_payload after an hour %+v, want count 2", an)
	}
	// The agent gets its signing module: pinned, then a signed batch.
	if _, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), "")); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	f.mustIngest(a, "1.4.2", 1)
	f.cycle(1, 0, 0, 1)
	an := f.anomalyOf(a.id, anomaly.UnsignedPayload)
	if an.Status != anomaly.Closed || an.ClosedReason == nil || *an.ClosedReason != hub.ReasonAgentSigning {
		t.Fatalf("unsigned_payload after signing %+v", an)
	}
	f.cycle(0, 0, 0, 0) // out of the attention index
}

// TestIntegrityStale: an agent that sent data and is quiet for longer than
// StaleAfter (30 minutes) gets stale_agent (low) once; when it is heard from
// again the anomaly is closed (agent_heard_from) and it leaves attention.
func TestIntegrityStale(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	f.clock.Advance(29 * time.Minute)
	f.cycle(0, 0, 0, 0) // not quiet long enough
	f.clock.Advance(2 * time.Minute)
	f.cycle(1, 1, 0, 0)
	if an := f.anomalyOf(a.id, anomaly.StaleAgent); an.Severity != anomaly.Low || an.Status != anomaly.Open {
		t.Fatalf("stale_agent %+v", an)
	}
	f.clock.Advance(time.Hour)
	f.cycle(1, 0, 0, 0) // still stale: raised once, never refreshed
	f.mustIngest(a, "1.4.2", 1)
	f.cycle(1, 0, 0, 1)
	an := f.anomalyOf(a.id, anomaly.StaleAgent)
	if an.Status != anomaly.Closed || an.ClosedReason == nil || *an.ClosedReason != hub.ReasonAgentHeardFrom {
		t.Fatalf("stale_agent after data %+v", an)
	}
	f.cycle(0, 0, 0, 0)
}
