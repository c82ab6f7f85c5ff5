package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// newClockEnv is a hub on the shared dynalite whose clock the test moves.
func newClockEnv(t *testing.T) (*env, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.Skewed()
	e := startEnv(t, local.Config{DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t), Clock: clk})
	return e, clk
}

// runCycle runs the integrity cycle through the local hub's endpoint.
func (a *admin) runCycle() map[string]any {
	a.e.t.Helper()
	r := call(a.e.t, a.c, "POST", a.e.info.URL+"/local/run/integrity", a.key, nil, nil)
	if r.Status != http.StatusOK {
		a.e.t.Fatalf("integrity run: %s", r)
	}
	return r.Body
}

// legacyAgent enrolls an agent without a signing key and sends unsigned data.
func (e *env) legacyAgent() *agent {
	e.t.Helper()
	a := e.newAgent()
	r := a.register(a.enrollC, a.regBody(nil, a.csr()))
	expect(e.t, r, http.StatusOK, "")
	a.useCert(r.Body["client_cert"].(string))
	a.sendUnsigned()
	return a
}

func (a *agent) sendUnsigned() {
	a.e.t.Helper()
	expect(a.e.t, a.ingestWith(a.c, mustJSON(a.e.t, []rec{metric("cpu", 1)}), "", nil), http.StatusAccepted, "")
}

func TestIntegrityUnsignedHourlyRefresh(t *testing.T) {
	e, clk := newClockEnv(t)
	ad := e.admin()
	a := e.legacyAgent()

	ad.runCycle()
	an := ad.anomaly(a.id, "unsigned_payload")
	if an["severity"] != "medium" || an["count"] != float64(1) {
		t.Fatalf("first cycle: %v", an)
	}
	first := an["anomaly_id"]
	steps := []struct {
		advance time.Duration
		send    bool
		count   float64
	}{
		{0, false, 1},               // same cycle again: nothing new
		{10 * time.Minute, true, 1}, // within the hour: not refreshed
		{30 * time.Minute, true, 1},
		{21 * time.Minute, true, 2}, // 61 minutes after the first: refreshed once
		{10 * time.Minute, true, 2},
		{2 * time.Hour, false, 2}, // no data in the last hour: no refresh
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.send {
			a.sendUnsigned()
		}
		ad.runCycle()
		an := ad.anomaly(a.id, "unsigned_payload") // fails if there is not exactly one open
		if an["count"] != s.count || an["anomaly_id"] != first {
			t.Fatalf("step %d: count %v id %v, want %v %v", i, an["count"], an["anomaly_id"], s.count, first)
		}
	}
}

func TestIntegrityClosesWhenAgentSigns(t *testing.T) {
	e, _ := newClockEnv(t)
	ad := e.admin()
	a := e.legacyAgent()
	ad.runCycle()
	ad.anomaly(a.id, "unsigned_payload")

	// The agent upgrades: registers a key, then sends a signed batch.
	p := a.pub()
	expect(t, a.register(a.c, a.regBody(&p, "")), http.StatusOK, "")
	ad.runCycle()
	ad.anomaly(a.id, "unsigned_payload") // pinned but no signed batch yet: still open
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	sum := ad.runCycle()
	if sum["closed"] != float64(1) {
		t.Fatalf("summary: %v", sum)
	}
	if open := ad.anomalies("status=open&agent_id=" + a.id); len(open) != 0 {
		t.Fatalf("still open: %v", open)
	}
	closed := ad.anomalies("status=closed&kind=unsigned_payload&agent_id=" + a.id)
	if len(closed) != 1 || closed[0]["closed_reason"] != "agent_signing" || closed[0]["closed_at"] == nil {
		t.Fatalf("closed: %v", closed)
	}
	// Out of the attention index: the next cycle does not even look at it.
	if sum := ad.runCycle(); sum["checked"] != float64(0) {
		t.Fatalf("agent still in the attention index: %v", sum)
	}
	// If it ever goes unsigned again, a new anomaly opens; the closed one stays.
	expect(t, ad.do("POST", "/agents/"+a.id+"/rotate-signing-key", nil), http.StatusOK, "")
	a.sendUnsigned()
	ad.runCycle()
	if an := ad.anomaly(a.id, "unsigned_payload"); an["anomaly_id"] == closed[0]["anomaly_id"] {
		t.Fatal("a closed anomaly was reopened")
	}
}

func TestIntegrityStaleAgent(t *testing.T) {
	e, clk := newClockEnv(t)
	ad := e.admin()
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	quiet := e.enrolledAgent() // enrolled but never sent data: not "an agent that was sending"

	ad.runCycle()
	ad.noAnomaly(a.id, "stale_agent")
	clk.Advance(31 * time.Minute)
	ad.runCycle()
	an := ad.anomaly(a.id, "stale_agent")
	if an["severity"] != "low" {
		t.Fatalf("stale: %v", an)
	}
	ad.noAnomaly(quiet.id, "stale_agent")
	clk.Advance(time.Hour)
	ad.runCycle()
	if an := ad.anomaly(a.id, "stale_agent"); an["count"] != float64(1) {
		t.Fatalf("stale anomaly repeated: %v", an)
	}
	// Heard from again: closed in the next cycle.
	expect(t, a.ingest(a.body(metric("cpu", 2))), http.StatusAccepted, "")
	ad.runCycle()
	closed := ad.anomalies("status=closed&kind=stale_agent&agent_id=" + a.id)
	if len(closed) != 1 || closed[0]["closed_reason"] != "agent_heard_from" {
		t.Fatalf("closed: %v", closed)
	}
	// And it can go stale again later, as a new anomaly.
	clk.Advance(31 * time.Minute)
	ad.runCycle()
	if an := ad.anomaly(a.id, "stale_agent"); an["anomaly_id"] == closed[0]["anomaly_id"] {
		t.Fatal("reused a closed anomaly")
	}
}

// TestIntegrityOverlappingRuns: two cycles at once raise nothing twice.
func TestIntegrityOverlappingRuns(t *testing.T) {
	e, clk := newClockEnv(t)
	ad := e.admin()
	var agents []*agent
	for range 6 {
		agents = append(agents, e.legacyAgent())
	}
	stale := e.enrolledAgent()
	expect(t, stale.ingest(stale.body(metric("cpu", 1))), http.StatusAccepted, "")
	clk.Advance(31 * time.Minute)
	for _, a := range agents {
		a.sendUnsigned()
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); ad.runCycle() }()
	}
	wg.Wait()
	for _, a := range agents {
		if an := ad.anomaly(a.id, "unsigned_payload"); an["count"] != float64(1) {
			t.Fatalf("overlapping runs counted twice: %v", an)
		}
	}
	if an := ad.anomaly(stale.id, "stale_agent"); an["count"] != float64(1) {
		t.Fatalf("overlapping runs counted stale twice: %v", an)
	}
}

// TestLocalIntegrityRun is SPEC 1.1's on-demand integrity run, POST
// /local/run/integrity on the local hub: the admin key with its tenant's
// operator certificate runs the cycle and answers its summary; any other
// method, a missing or foreign admin key and a certificate that is not an
// operator's are refused as on the admin routes.
func TestLocalIntegrityRun(t *testing.T) {
	e := newEnv(t)
	other, err := e.hub.AddTenant(t.Context(), "integrity-bv")
	if err != nil {
		t.Fatal(err)
	}
	operator := e.fileClient(e.info.OperatorCert, e.info.OperatorKey)
	enrollment := e.fileClient(e.info.EnrollCert, e.info.EnrollKey)
	url := e.info.URL + local.IntegrityPath
	for _, tt := range []struct {
		name, method, key string
		c                 *http.Client
		status            int
		code              string
	}{
		{"ok/operator", "POST", e.info.AdminKey, operator, http.StatusOK, ""},
		{"fail/get", "GET", e.info.AdminKey, operator, http.StatusNotFound, "not_found"},
		{"fail/no-admin-key", "POST", "", operator, http.StatusUnauthorized, "unauthorized"},
		{"fail/wrong-admin-key", "POST", "msa_" + strings.Repeat("A", 43), operator, http.StatusUnauthorized, "unauthorized"},
		{"fail/other-tenants-admin-key", "POST", other.AdminKey, operator, http.StatusForbidden, "forbidden"},
		{"fail/enrollment-cert", "POST", e.info.AdminKey, enrollment, http.StatusForbidden, "forbidden"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.c, tt.method, url, tt.key, nil, nil)
			expect(t, r, tt.status, tt.code)
			if tt.status != http.StatusOK {
				return
			}
			for _, k := range []string{"checked", "raised", "refreshed", "closed", "errors", "duration"} {
				if _, ok := r.Body[k]; !ok {
					t.Errorf("summary %s has no %q", r, k)
				}
			}
		})
	}
}
