package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
)

func testCredentials(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	agentCred := hub.Credential{Hash: hash("ms_agent"), Kind: cred.KindAgent, TenantID: "t-cred", AgentID: "ag_cred", CreatedAt: at(1)}
	adminCred := hub.Credential{Hash: hash("msa_admin"), Kind: cred.KindAdmin, TenantID: "t-cred", CreatedAt: at(2)}
	get := func(t *testing.T, h string, want hub.Credential) {
		t.Helper()
		got, err := s.Credentials.GetCredential(ctx, h)
		check(t, "GetCredential", err, nil)
		utc(&got.CreatedAt)
		same(t, "GetCredential", got, want)
	}
	t.Run("fail/get unknown", func(t *testing.T) {
		_, err := s.Credentials.GetCredential(ctx, hash("nobody"))
		check(t, "GetCredential(unknown)", err, hub.ErrNotFound)
	})
	t.Run("ok/agent token round trip", func(t *testing.T) {
		check(t, "PutCredential", s.Credentials.PutCredential(ctx, agentCred), nil)
		get(t, agentCred.Hash, agentCred)
	})
	t.Run("ok/admin key round trip", func(t *testing.T) {
		check(t, "PutCredential", s.Credentials.PutCredential(ctx, adminCred), nil)
		get(t, adminCred.Hash, adminCred)
	})
	t.Run("ok/delete", func(t *testing.T) {
		check(t, "DeleteCredential", s.Credentials.DeleteCredential(ctx, agentCred.Hash), nil)
		_, err := s.Credentials.GetCredential(ctx, agentCred.Hash)
		check(t, "GetCredential(deleted)", err, hub.ErrNotFound)
		get(t, adminCred.Hash, adminCred)
	})
	t.Run("ok/delete is idempotent", func(t *testing.T) {
		check(t, "DeleteCredential(again)", s.Credentials.DeleteCredential(ctx, agentCred.Hash), nil)
		check(t, "DeleteCredential(never stored)", s.Credentials.DeleteCredential(ctx, hash("never")), nil)
	})
}

func testTenants(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	first := hub.Tenant{TenantID: "acme", CreatedAt: at(1)}
	get := func(t *testing.T, want hub.Tenant) {
		t.Helper()
		got, err := s.Tenants.GetTenant(ctx, want.TenantID)
		check(t, "GetTenant", err, nil)
		utc(&got.CreatedAt)
		same(t, "GetTenant", got, want)
	}
	t.Run("fail/get unknown", func(t *testing.T) {
		_, err := s.Tenants.GetTenant(ctx, "nobody")
		check(t, "GetTenant(unknown)", err, hub.ErrNotFound)
	})
	t.Run("ok/round trip", func(t *testing.T) {
		check(t, "PutTenant", s.Tenants.PutTenant(ctx, first), nil)
		get(t, first)
	})
	t.Run("ok/put again keeps the first", func(t *testing.T) {
		check(t, "PutTenant(again)", s.Tenants.PutTenant(ctx, hub.Tenant{TenantID: "acme", CreatedAt: at(99)}), nil)
		get(t, first)
	})
	t.Run("ok/list: every tenant, by id", func(t *testing.T) {
		check(t, "PutTenant", s.Tenants.PutTenant(ctx, hub.Tenant{TenantID: "globex", CreatedAt: at(2)}), nil)
		check(t, "PutTenant", s.Tenants.PutTenant(ctx, hub.Tenant{TenantID: "a-first", CreatedAt: at(3)}), nil)
		got, err := s.Tenants.ListTenants(ctx)
		check(t, "ListTenants", err, nil)
		for i := range got {
			utc(&got[i].CreatedAt)
		}
		same(t, "ListTenants", got, []hub.Tenant{{TenantID: "a-first", CreatedAt: at(3)}, first, {TenantID: "globex", CreatedAt: at(2)}})
	})
}

// agentWrites are one call of every conditional write on an agent, for the
// missing-agent cases.
var agentWrites = []struct {
	name  string
	write func(ctx context.Context, s hub.Stores, id string) error
}{
	{"PinSigningKey", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.PinSigningKey(ctx, id, key(1), t0)
	}},
	{"UnpinSigningKey", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.UnpinSigningKey(ctx, id, []hub.SigningKey{{PublicKey: key(1), PinnedAt: t0, UnpinnedAt: at(1)}})
	}},
	{"PinCert", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.PinCert(ctx, id, certPin(1, ""), "")
	}},
	{"UnpinCert", func(ctx context.Context, s hub.Stores, id string) error { return s.Agents.UnpinCert(ctx, id) }},
	{"ReplaceToken", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.ReplaceToken(ctx, id, hash("new"), hash("token-"+id))
	}},
	{"RecordRegistration", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.RecordRegistration(ctx, id, registration(1))
	}},
	{"BeginBatch", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Commits.BeginBatch(ctx, id, hub.Pending{Seq: 1, SHA: "a", At: t0}, key(1), "1.0.0", "1.0.0")
	}},
	{"EndBatch", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Commits.EndBatch(ctx, id, hub.Pending{Seq: 1, SHA: "a", At: t0})
	}},
	{"AbortBatch", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Commits.AbortBatch(ctx, id, hub.Pending{Seq: 1, SHA: "a", At: t0})
	}},
	{"ClaimBatch", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Commits.ClaimBatch(ctx, id, hub.Pending{Seq: 1, SHA: "a", At: t0}, hub.Pending{Seq: 1, SHA: "a", At: t0, Undo: true})
	}},
	{"MarkUnsigned", func(ctx context.Context, s hub.Stores, id string) error { return s.Commits.MarkUnsigned(ctx, id, t0) }},
	{"BumpAnomalyGen", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Agents.BumpAnomalyGen(ctx, id, anomaly.UnsignedPayload, 0)
	}},
	{"MarkStale", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Attention.MarkStale(ctx, id, time.Time{}, t0)
	}},
	{"ClearStale", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Attention.ClearStale(ctx, id, time.Time{})
	}},
	{"ClearAttention", func(ctx context.Context, s hub.Stores, id string) error {
		return s.Attention.ClearAttention(ctx, id, time.Time{})
	}},
}

func key(n byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = n + byte(i)
	}
	return k
}

func certPin(n int, previous string) hub.CertPin {
	s := strconv.Itoa(n)
	return hub.CertPin{Fingerprint: hash("cert-" + s), PEM: "-----BEGIN CERTIFICATE-----\n" + s + "\n-----END CERTIFICATE-----\n",
		PubKeySHA: hash("spki-" + s), NotAfter: at(86400 * n), SetAt: at(n), Previous: previous}
}

func registration(n int) hub.Registration {
	s := strconv.Itoa(n)
	return hub.Registration{Hostname: "web-" + s, AgentVersion: "1.4." + s, OS: "linux", Arch: "arm64",
		MaxAgentVersion: "1.5." + s, At: at(100 + n)}
}

func testAgents(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	t.Run("fail/get unknown", func(t *testing.T) {
		_, err := s.Agents.GetAgent(ctx, "ag_nobody")
		check(t, "GetAgent(unknown)", err, hub.ErrNotFound)
	})
	a := newAgent("t-agents", "ag_one")
	t.Run("ok/create and read back", func(t *testing.T) {
		createAgent(t, s, a)
		wantAgent(t, s, a)
	})
	t.Run("fail/create twice", func(t *testing.T) {
		again := a
		again.TokenHash, again.TenantID = hash("other"), "t-other"
		check(t, "CreateAgent(again)", s.Agents.CreateAgent(ctx, again), hub.ErrConflict)
		wantAgent(t, s, a)
	})
	for _, w := range agentWrites {
		t.Run("fail/"+w.name+" on a missing agent", func(t *testing.T) {
			check(t, w.name, w.write(ctx, s, "ag_missing"), hub.ErrConflict)
			_, err := s.Agents.GetAgent(ctx, "ag_missing")
			check(t, "GetAgent after "+w.name, err, hub.ErrNotFound)
		})
	}
	runAgentSteps(t, s, newAgent("t-agents", "ag_two"), []agentStep{
		{name: "ok/record registration", write: func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.RecordRegistration(ctx, id, registration(1))
		}, apply: func(a *hub.Agent) {
			r := registration(1)
			a.Hostname, a.AgentVersion, a.OS, a.Arch, a.MaxAgentVersion = r.Hostname, r.AgentVersion, r.OS, r.Arch, r.MaxAgentVersion
			a.RegisteredAt, a.LastSeen = r.At, r.At
		}},
		{name: "ok/record registration again", write: func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.RecordRegistration(ctx, id, registration(2))
		}, apply: func(a *hub.Agent) {
			r := registration(2)
			a.Hostname, a.AgentVersion, a.OS, a.Arch, a.MaxAgentVersion = r.Hostname, r.AgentVersion, r.OS, r.Arch, r.MaxAgentVersion
			a.RegisteredAt, a.LastSeen = r.At, r.At
		}},
		{name: "ok/mark unsigned", write: func(ctx context.Context, s hub.Stores, id string) error {
			return s.Commits.MarkUnsigned(ctx, id, at(200))
		}, apply: func(a *hub.Agent) { a.LastUnsignedAt, a.LastSeen, a.LiveAt = at(200), at(200), at(200) }},
	})
}

func testSigningPin(t *testing.T, s hub.Stores) {
	pin := func(k []byte, ts time.Time) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.PinSigningKey(ctx, id, k, ts)
		}
	}
	unpin := func(h ...hub.SigningKey) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error { return s.Agents.UnpinSigningKey(ctx, id, h) }
	}
	e1 := hub.SigningKey{PublicKey: key(1), PinnedAt: at(1)}
	c1 := hub.SigningKey{PublicKey: key(1), PinnedAt: at(1), UnpinnedAt: at(3)}
	e2 := hub.SigningKey{PublicKey: key(2), PinnedAt: at(4)}
	c2 := hub.SigningKey{PublicKey: key(2), PinnedAt: at(4), UnpinnedAt: at(5)}
	history := func(h ...hub.SigningKey) func(a *hub.Agent) {
		return func(a *hub.Agent) { a.SigningKeys = h }
	}
	clearMark := func(mark string) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error { return s.Agents.ClearLogMark(ctx, id, mark) }
	}
	mark := func(typ hub.KeyChangeType, ts time.Time) func(a *hub.Agent) {
		return func(a *hub.Agent) { a.LogMark = hub.LogMark(typ, ts) }
	}
	unmark := func(a *hub.Agent) { a.LogMark = "" }
	runAgentSteps(t, s, newAgent("t-pin", "ag_pin"), []agentStep{
		{name: "fail/unpin an unpinned agent", write: unpin(c1), want: hub.ErrConflict},
		{name: "fail/clear a log mark the agent does not have", write: clearMark(hub.LogMark(hub.KeyPin, at(1))), want: hub.ErrConflict},
		{name: "ok/pin on an unpinned agent appends to the history and marks it log pending", write: pin(key(1), at(1)),
			apply: func(a *hub.Agent) {
				a.SigningPubKey, a.SigningSetAt = key(1), at(1)
				history(e1)(a)
				mark(hub.KeyPin, at(1))(a)
			}},
		{name: "fail/clear another change's log mark", write: clearMark(hub.LogMark(hub.KeyPin, at(2))), want: hub.ErrConflict},
		{name: "ok/clear the pin's log mark", write: clearMark(hub.LogMark(hub.KeyPin, at(1))), apply: unmark},
		{name: "fail/clear the log mark again", write: clearMark(hub.LogMark(hub.KeyPin, at(1))), want: hub.ErrConflict},
		{name: "fail/pin another key while pinned", write: pin(key(2), at(2)), want: hub.ErrConflict},
		{name: "fail/pin the same key while pinned", write: pin(key(1), at(3)), want: hub.ErrConflict},
		{name: "fail/unpin another key", write: unpin(hub.SigningKey{PublicKey: key(2), PinnedAt: at(1), UnpinnedAt: at(3)}), want: hub.ErrConflict},
		{name: "fail/unpin the key pinned at another time", write: unpin(hub.SigningKey{PublicKey: key(1), PinnedAt: at(2), UnpinnedAt: at(3)}), want: hub.ErrConflict},
		{name: "fail/unpin with a history of another length", write: unpin(c2, c1), want: hub.ErrConflict},
		{name: "fail/unpin with no history", write: unpin(), want: hub.ErrConflict},
		{name: "ok/unpin closes the entry and marks the agent log pending", write: unpin(c1),
			apply: func(a *hub.Agent) {
				a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
				history(c1)(a)
				mark(hub.KeyUnpin, at(3))(a)
			}},
		{name: "fail/unpin an unpinned agent again", write: unpin(c1), want: hub.ErrConflict},
		{name: "ok/pin a new key after unpin appends and replaces the mark", write: pin(key(2), at(4)),
			apply: func(a *hub.Agent) {
				a.SigningPubKey, a.SigningSetAt = key(2), at(4)
				history(c1, e2)(a)
				mark(hub.KeyPin, at(4))(a)
			}},
		{name: "fail/clear the older unpin's log mark", write: clearMark(hub.LogMark(hub.KeyUnpin, at(3))), want: hub.ErrConflict},
		{name: "fail/unpin with a history that lost an entry", write: unpin(c2), want: hub.ErrConflict},
		{name: "ok/unpin the second key", write: unpin(c1, c2),
			apply: func(a *hub.Agent) {
				a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
				history(c1, c2)(a)
				mark(hub.KeyUnpin, at(5))(a)
			}},
	})
}

func testCertPin(t *testing.T, s hub.Stores) {
	c1, c3 := certPin(1, ""), certPin(3, "")
	c2 := certPin(2, c1.Fingerprint)
	c3.PEM = "" // a certificate the hub did not issue: no PEM kept
	pin := func(c hub.CertPin, expect string) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error { return s.Agents.PinCert(ctx, id, c, expect) }
	}
	set := func(c hub.CertPin) func(a *hub.Agent) { return func(a *hub.Agent) { a.Cert = &c } }
	runAgentSteps(t, s, newAgent("t-cert", "ag_cert"), []agentStep{
		{name: "fail/expect a fingerprint while none is pinned", write: pin(c1, c1.Fingerprint), want: hub.ErrConflict},
		{name: "ok/pin with expect none", write: pin(c1, ""), apply: set(c1)},
		{name: "fail/expect none while pinned", write: pin(c2, ""), want: hub.ErrConflict},
		{name: "fail/expect a wrong fingerprint", write: pin(c2, c3.Fingerprint), want: hub.ErrConflict},
		{name: "ok/renew with expect the old fingerprint", write: pin(c2, c1.Fingerprint), apply: set(c2)},
		{name: "fail/renew again from the replaced fingerprint", write: pin(c3, c1.Fingerprint), want: hub.ErrConflict},
		{name: "ok/unpin", write: func(ctx context.Context, s hub.Stores, id string) error { return s.Agents.UnpinCert(ctx, id) },
			apply: func(a *hub.Agent) { a.Cert = nil }},
		{name: "ok/pin without PEM after unpin", write: pin(c3, ""), apply: set(c3)},
	})
}

func testToken(t *testing.T, s hub.Stores) {
	a := newAgent("t-token", "ag_token")
	replace := func(newHash, oldHash string) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.ReplaceToken(ctx, id, newHash, oldHash)
		}
	}
	runAgentSteps(t, s, a, []agentStep{
		{name: "fail/stale old hash", write: replace(hash("new-1"), hash("stale")), want: hub.ErrConflict},
		{name: "ok/current old hash", write: replace(hash("new-1"), a.TokenHash),
			apply: func(a *hub.Agent) { a.TokenHash = hash("new-1") }},
		{name: "fail/the hash it replaced", write: replace(hash("new-2"), a.TokenHash), want: hub.ErrConflict},
		{name: "ok/rotate again", write: replace(hash("new-2"), hash("new-1")),
			apply: func(a *hub.Agent) { a.TokenHash = hash("new-2") }},
	})
}

func testBatchSeq(t *testing.T, s hub.Stores) {
	begin := func(p hub.Pending, pub []byte, v, maxV string) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error {
			return s.Commits.BeginBatch(ctx, id, p, pub, v, maxV)
		}
	}
	end := func(p hub.Pending) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error { return s.Commits.EndBatch(ctx, id, p) }
	}
	abort := func(p hub.Pending) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error { return s.Commits.AbortBatch(ctx, id, p) }
	}
	claim := func(seen, next hub.Pending) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error {
			return s.Commits.ClaimBatch(ctx, id, seen, next)
		}
	}
	claimed := func(next hub.Pending) func(a *hub.Agent) { return func(a *hub.Agent) { a.Pending = &next } }
	begun := func(p hub.Pending, v, maxV string) func(a *hub.Agent) {
		return func(a *hub.Agent) {
			a.LastSeq, a.LastBatchSHA, a.Pending = p.Seq, p.SHA, &p
			a.AgentVersion, a.MaxAgentVersion, a.LastSeen, a.LastSignedAt, a.LiveAt = v, maxV, p.At, p.At, p.At
		}
	}
	cleared := func(a *hub.Agent) { a.Pending = nil }
	aborted := func(p hub.Pending) func(a *hub.Agent) {
		return func(a *hub.Agent) { a.LastSeq, a.LastBatchSHA, a.Pending = p.PrevSeq, p.PrevSHA, nil }
	}
	k := key(7)
	p1 := hub.Pending{Seq: 10, SHA: hash("b1"), PrevSeq: 0, PrevSHA: "", At: at(10)}
	p2 := hub.Pending{Seq: 20, SHA: hash("b2"), PrevSeq: 10, PrevSHA: p1.SHA, At: at(20)}
	p3 := hub.Pending{Seq: 30, SHA: hash("b3"), PrevSeq: 10, PrevSHA: p1.SHA, At: at(30)}
	other := func(p hub.Pending, seq int64, sha string) hub.Pending { p.Seq, p.SHA = seq, sha; return p }
	held := func(p hub.Pending, when int, undo bool) hub.Pending { p.At, p.Undo = at(when), undo; return p }
	u1, f1 := held(p1, 12, true), held(p1, 13, false)
	runAgentSteps(t, s, newAgent("t-seq", "ag_seq"), []agentStep{
		{name: "ok/pin the signing key", write: func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.PinSigningKey(ctx, id, k, at(1))
		}, apply: func(a *hub.Agent) {
			a.SigningPubKey, a.SigningSetAt = k, at(1)
			a.SigningKeys = []hub.SigningKey{{PublicKey: k, PinnedAt: at(1)}}
			a.LogMark = hub.LogMark(hub.KeyPin, at(1))
		}},
		{name: "fail/begin when last_seq is not prev", write: begin(hub.Pending{Seq: 10, SHA: p1.SHA, PrevSeq: 5, At: at(10)}, k, "1.0.0", "1.0.0"),
			want: hub.ErrConflict},
		{name: "fail/begin with another signing key", write: begin(p1, key(8), "1.0.0", "1.0.0"), want: hub.ErrConflict},
		{name: "ok/begin the first batch", write: begin(p1, k, "1.0.0", "1.0.0"), apply: begun(p1, "1.0.0", "1.0.0")},
		{name: "ok/abort the first batch", write: abort(p1), apply: aborted(p1)},
		{name: "fail/abort it again", write: abort(p1), want: hub.ErrConflict},
		{name: "ok/begin the first batch again", write: begin(p1, k, "1.0.0", "1.0.0"), apply: begun(p1, "1.0.0", "1.0.0")},
		{name: "fail/begin while a batch is pending", write: begin(p2, k, "1.0.0", "1.0.0"), want: hub.ErrConflict},
		{name: "fail/end with another sha", write: end(other(p1, p1.Seq, hash("x"))), want: hub.ErrConflict},
		{name: "fail/end with another seq", write: end(other(p1, 11, p1.SHA)), want: hub.ErrConflict},
		{name: "fail/abort with another marker", write: abort(other(p1, 11, hash("x"))), want: hub.ErrConflict},
		{name: "fail/end with another lease", write: end(held(p1, 11, false)), want: hub.ErrConflict},
		{name: "fail/abort with another lease", write: abort(held(p1, 11, false)), want: hub.ErrConflict},
		{name: "fail/claim with another lease", write: claim(held(p1, 11, false), u1), want: hub.ErrConflict},
		{name: "fail/claim a marker not being undone as undone", write: claim(held(p1, 10, true), f1), want: hub.ErrConflict},
		{name: "fail/claim with another sha", write: claim(other(p1, p1.Seq, hash("x")), u1), want: hub.ErrConflict},
		{name: "ok/claim to undo", write: claim(p1, u1), apply: claimed(u1)},
		{name: "fail/end while being undone", write: end(u1), want: hub.ErrConflict},
		{name: "fail/claim from the lease before", write: claim(p1, f1), want: hub.ErrConflict},
		{name: "fail/claim as not being undone", write: claim(held(p1, 12, false), f1), want: hub.ErrConflict},
		{name: "ok/claim back to finish", write: claim(u1, f1), apply: claimed(f1)},
		{name: "fail/end with the lease before the claim", write: end(p1), want: hub.ErrConflict},
		{name: "ok/end", write: end(f1), apply: cleared},
		{name: "fail/end again", write: end(f1), want: hub.ErrConflict},
		{name: "fail/begin when last_seq moved", write: begin(hub.Pending{Seq: 20, SHA: p2.SHA, PrevSeq: 0, At: at(20)}, k, "1.0.0", "1.0.0"),
			want: hub.ErrConflict},
		{name: "ok/begin the second batch", write: begin(p2, k, "0.9.0", "1.0.0"), apply: begun(p2, "0.9.0", "1.0.0")},
		{name: "ok/abort restores last_seq and sha", write: abort(p2), apply: aborted(p2)},
		{name: "ok/begin from the restored seq", write: begin(p3, k, "1.1.0", "1.1.0"), apply: begun(p3, "1.1.0", "1.1.0")},
		{name: "ok/end the third batch", write: end(p3), apply: cleared},
		{name: "ok/unpin the signing key", write: func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.UnpinSigningKey(ctx, id, []hub.SigningKey{{PublicKey: k, PinnedAt: at(1), UnpinnedAt: at(31)}})
		}, apply: func(a *hub.Agent) {
			a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
			a.SigningKeys = []hub.SigningKey{{PublicKey: k, PinnedAt: at(1), UnpinnedAt: at(31)}}
			a.LogMark = hub.LogMark(hub.KeyUnpin, at(31))
		}},
		{name: "fail/begin with the unpinned key", write: begin(hub.Pending{Seq: 40, SHA: hash("b4"), PrevSeq: 30, PrevSHA: p3.SHA, At: at(40)}, k, "1.1.0", "1.1.0"),
			want: hub.ErrConflict},
	})
}

func testAnomalyGen(t *testing.T, s hub.Stores) {
	bump := func(k anomaly.Kind, from int64) func(context.Context, hub.Stores, string) error {
		return func(ctx context.Context, s hub.Stores, id string) error {
			return s.Agents.BumpAnomalyGen(ctx, id, k, from)
		}
	}
	set := func(k anomaly.Kind, gen int64) func(a *hub.Agent) {
		return func(a *hub.Agent) { a.AnomalyGen[k] = gen }
	}
	u, r := anomaly.UnsignedPayload, anomaly.ReplayDetected
	runAgentSteps(t, s, newAgent("t-gen", "ag_gen"), []agentStep{
		{name: "fail/bump from a generation never reached", write: bump(u, 1), want: hub.ErrConflict},
		{name: "ok/bump from 0", write: bump(u, 0), apply: set(u, 1)},
		{name: "fail/bump from stale 0", write: bump(u, 0), want: hub.ErrConflict},
		{name: "ok/bump from 1", write: bump(u, 1), apply: set(u, 2)},
		{name: "ok/another kind has its own generation", write: bump(r, 0), apply: set(r, 1)},
		{name: "fail/bump from stale 1", write: bump(u, 1), want: hub.ErrConflict},
	})
}
