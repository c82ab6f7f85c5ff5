// Package storetest is the store test kit, as testing/fstest is for file
// systems: the contract of the core's store ports (hub.Stores), the in-memory
// store (Memory) held to it, the one fault-injecting wrapper (Faulty), and
// in-memory stand-ins for the packs' other ports (Objects, Vault, Builds).
// Every implementation runs the contract: Memory here, the DynamoDB adapter
// on dynalite in internal/aws/dynamo. It checks the semantics documented in
// internal/hub: not-found answers, the win and the loss of every conditional
// write, anomaly folding, refreshing, closing and listing, batch round trips
// and period reads, audit idempotence and time ranges, the integrity cycle's
// sparse indexes, pack records, build leases and chain heads, signing-key
// records, and races between writers.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// Run runs the suite. newStore returns new, empty stores; it is called once
// per group of tests, and the groups run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) hub.Stores) {
	groups := []struct {
		name string
		run  func(*testing.T, hub.Stores)
	}{
		{"credentials", testCredentials},
		{"tenants", testTenants},
		{"agents", testAgents},
		{"signing-pin", testSigningPin},
		{"cert-pin", testCertPin},
		{"token", testToken},
		{"batch-seq", testBatchSeq},
		{"anomaly-gen", testAnomalyGen},
		{"batches", testBatches},
		{"expiry", testExpiry},
		{"archive", testArchive},
		{"raise", testRaise},
		{"raise-once", testRaiseOnce},
		{"closed", testClosed},
		{"list", testList},
		{"audit", testAudit},
		{"audit-range", testAuditRange},
		{"period", testPeriod},
		{"chain", testChain},
		{"attention", testAttention},
		{"log-pending", testLogPending},
		{"refresh", testRefresh},
		{"packs", testPacks},
		{"agent-list", testAgentList},
		{"pack-list", testPackList},
		{"build-lease", testBuildLease},
		{"keys", testKeys},
		{"race", testRace},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newStore(t))
		})
	}
}

// t0 is the suite's clock: fixed, UTC, with nanoseconds, which every store
// must keep.
var t0 = time.Date(2026, 4, 1, 10, 0, 0, 123456789, time.UTC)

// at returns t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// check fails t unless err is want (nil: success).
func check(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s = %v, want success", op, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s = %v, want %v", op, err, want)
	}
}

// same fails t unless got and want are deeply equal, showing both as JSON.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

// utc normalises times so that equal instants compare equal: stores may hand
// back another location and no monotonic reading.
func utc(ts ...*time.Time) {
	for _, p := range ts {
		*p = p.UTC()
	}
}

func normAgent(a hub.Agent) hub.Agent {
	utc(&a.SigningSetAt, &a.LastSeen, &a.LastSignedAt, &a.LastUnsignedAt, &a.LiveAt, &a.StaleSince, &a.RegisteredAt, &a.CreatedAt)
	if len(a.SigningPubKey) == 0 {
		a.SigningPubKey = nil
	}
	if len(a.SigningKeys) == 0 {
		a.SigningKeys = nil
	}
	a.SigningKeys = slices.Clone(a.SigningKeys)
	for i := range a.SigningKeys {
		utc(&a.SigningKeys[i].PinnedAt, &a.SigningKeys[i].UnpinnedAt)
	}
	if a.Cert != nil {
		c := *a.Cert
		utc(&c.NotAfter, &c.SetAt)
		a.Cert = &c
	}
	if a.Pending != nil {
		p := *a.Pending
		utc(&p.At)
		a.Pending = &p
	}
	g := map[anomaly.Kind]int64{}
	for k, v := range a.AnomalyGen {
		g[k] = v
	}
	a.AnomalyGen = g
	return a
}

func normBatch(b hub.StoredBatch) hub.StoredBatch {
	utc(&b.MinTS, &b.MaxTS, &b.ReceivedAt, &b.ExpireAt)
	if len(b.Days) == 0 {
		b.Days = nil
	}
	return b
}

func normAnomaly(a anomaly.Anomaly) anomaly.Anomaly {
	utc(&a.FirstSeen, &a.LastSeen)
	if a.ClosedAt != nil {
		c := a.ClosedAt.UTC()
		a.ClosedAt = &c
	}
	return a
}

func normAudit(e hub.AuditEvent) hub.AuditEvent {
	utc(&e.At)
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	return e
}

// newAgent is an agent as the service creates it.
func newAgent(tenant, id string) hub.Agent {
	return hub.Agent{TenantID: tenant, AgentID: id, TokenHash: hash("token-" + id), Hostname: "host-" + id,
		CreatedAt: t0, AnomalyGen: map[anomaly.Kind]int64{}}
}

func createAgent(t *testing.T, s hub.Stores, a hub.Agent) {
	t.Helper()
	check(t, "CreateAgent("+a.AgentID+")", s.Agents.CreateAgent(t.Context(), a), nil)
}

func wantAgent(t *testing.T, s hub.Stores, want hub.Agent) {
	t.Helper()
	got, err := s.Agents.GetAgent(t.Context(), want.AgentID)
	check(t, "GetAgent("+want.AgentID+")", err, nil)
	same(t, "GetAgent("+want.AgentID+")", normAgent(got), normAgent(want))
	got, err = s.Agents.GetAgentState(t.Context(), want.AgentID)
	check(t, "GetAgentState("+want.AgentID+")", err, nil)
	same(t, "GetAgentState("+want.AgentID+")", normAgent(got), normAgent(want.WithoutProfile()))
}

// agentStep is one write on an agent: want nil means the write wins and
// changes the record as apply says; a loss must change nothing.
type agentStep struct {
	name  string
	write func(ctx context.Context, s hub.Stores, id string) error
	want  error
	apply func(a *hub.Agent)
}

// runAgentSteps creates a and runs steps on it in order, checking the whole
// record after each one. It stops at the first failing step, since the later
// ones assume its outcome.
func runAgentSteps(t *testing.T, s hub.Stores, a hub.Agent, steps []agentStep) {
	t.Helper()
	createAgent(t, s, a)
	want := normAgent(a)
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			check(t, st.name, st.write(t.Context(), s, a.AgentID), st.want)
			if st.want == nil && st.apply != nil {
				st.apply(&want)
			}
			wantAgent(t, s, want)
		})
		if !ok {
			return
		}
	}
}
