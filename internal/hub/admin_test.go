package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
)

func TestAuthAdmin(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	tests := []struct {
		name string
		key  string
		cert string
		code hub.Code
	}{
		{"ok/admin-key-and-operator-cert", f.adminKey, f.operator, ""},
		{"fail/no-key", "", f.operator, hub.CodeUnauthorized},
		{"fail/agent-token", a.token, f.operator, hub.CodeUnauthorized},
		{"fail/unknown-admin-key", "msa_" + strings.Repeat("Q", 43), f.operator, hub.CodeUnauthorized},
		{"fail/malformed-key", "letmein", f.operator, hub.CodeUnauthorized},
		{"fail/bearer-prefix-kept", "Bearer " + f.adminKey, f.operator, hub.CodeUnauthorized},
		{"fail/unknown-key-and-agent-cert", "msa_" + strings.Repeat("Q", 43), a.cert, hub.CodeUnauthorized},
		{"fail/enrollment-cert", f.adminKey, f.enroll, hub.CodeForbidden},
		{"fail/agent-cert", f.adminKey, a.cert, hub.CodeForbidden},
		{"fail/other-tenants-operator-cert", f.adminKey, f.otherOper, hub.CodeForbidden},
		{"fail/no-cert", f.adminKey, "", hub.CodeForbidden},
		{"fail/untrusted-cert", f.adminKey, untrusted(t, "op"), hub.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad, err := f.core.AdminAuth.Authenticate(f.ctx, tt.key, tt.cert)
			he := wantCode(t, err, tt.code)
			if tt.code == "" && ad.TenantID != tenant {
				t.Fatalf("admin = %+v", ad)
			}
			if he != nil && strings.Contains(he.Error(), f.adminKey) {
				t.Fatal("the error quotes the admin key")
			}
		})
	}
}

// TestAgentEndpointsRefuseAdminKey: an admin key is never an agent token.
func TestAgentEndpointsRefuseAdminKey(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	_, err := f.register(f.adminKey, a.cert, regBody("1.4.2", pubB64(a.key), ""))
	wantCode(t, err, hub.CodeUnauthorized)
	r := a.req(a.next("1.4.2", 1))
	r.Token = f.adminKey
	_, err = f.ingest(r)
	wantCode(t, err, hub.CodeUnauthorized)
}

func TestCreateAgent(t *testing.T) {
	f := newFx(t)
	tests := []struct {
		name     string
		hostname string
		code     hub.Code
	}{
		{"ok/hostname", "web-01", ""},
		{"ok/no-hostname", "", ""},
		{"ok/253-characters", strings.Repeat("h", 253), ""},
		{"fail/254-characters", strings.Repeat("h", 254), hub.CodeInvalidRequest},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, err := f.core.Agents.Create(f.ctx, f.admin, tt.hostname)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if !strings.HasPrefix(na.AgentID, "ag_") || !strings.HasPrefix(na.Token, "ms_") || len(na.Token) < 3+43 {
				t.Fatalf("new agent = %+v", na)
			}
			if seen[na.AgentID] || seen[na.Token] {
				t.Fatal("id or token repeated")
			}
			seen[na.AgentID], seen[na.Token] = true, true
			v, err := f.core.Agents.Get(f.ctx, f.admin, na.AgentID)
			if err != nil || v.Hostname != tt.hostname || v.TenantID != tenant || v.SigningPubKeyPinned || v.ClientCertPinned || !v.CreatedAt.Equal(t0) {
				t.Fatalf("view = %+v, %v", v, err)
			}
			// Only the token's hash is stored.
			st := f.agentState(na.AgentID)
			if st.TokenHash == na.Token || strings.Contains(st.TokenHash, na.Token[3:]) {
				t.Fatal("the token is stored in clear")
			}
		})
	}
}

func TestGetAgentView(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.clock.Advance(time.Hour)
	f.mustIngest(a, "1.5.0", 3)
	v, err := f.core.Agents.Get(f.ctx, f.admin, a.id)
	if err != nil {
		t.Fatal(err)
	}
	if !v.SigningPubKeyPinned || v.SigningPubKey == nil || *v.SigningPubKey != pubB64(a.key) || v.SigningSetAt == nil || !v.SigningSetAt.Equal(t0) ||
		v.SigningKeyFP == nil || len(*v.SigningKeyFP) != 95 || !v.ClientCertPinned || v.ClientCertFP == nil || *v.ClientCertFP != fingerprint(t, a.cert) ||
		v.AgentVersion != "1.5.0" || v.MaxAgentVersion != "1.5.0" || v.LastSeq != a.seq || v.LastSeen == nil || !v.LastSeen.Equal(t0.Add(time.Hour)) ||
		v.SendsUnsigned || v.Hostname != "web-01" || v.OS != "linux" || v.Arch != "amd64" {
		t.Fatalf("view = %+v", v)
	}
}

// TestAdminCrossTenant: another tenant's agent is not_found, exactly like a
// missing one, and nothing changes.
func TestAdminCrossTenant(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	before := f.agentState(a.id)
	ops := []struct {
		name string
		do   func(ad hub.Admin, id string) error
	}{
		{"get", func(ad hub.Admin, id string) error { _, err := f.core.Agents.Get(f.ctx, ad, id); return err }},
		{"rotate-signing-key", func(ad hub.Admin, id string) error {
			_, err := f.core.Agents.RotateSigningKey(f.ctx, ad, id)
			return err
		}},
		{"rotate-token", func(ad hub.Admin, id string) error { _, err := f.core.Agents.RotateToken(f.ctx, ad, id); return err }},
		{"rotate-client-cert", func(ad hub.Admin, id string) error {
			_, err := f.core.Agents.RotateClientCert(f.ctx, ad, id)
			return err
		}},
	}
	for _, op := range ops {
		t.Run("fail/"+op.name, func(t *testing.T) {
			cross := wantCode(t, op.do(f.otherAdmin, a.id), hub.CodeNotFound)
			missing := wantCode(t, op.do(f.admin, "ag_doesnotexist"), hub.CodeNotFound)
			if strings.ReplaceAll(cross.Message, a.id, "ID") != strings.ReplaceAll(missing.Message, "ag_doesnotexist", "ID") {
				t.Fatalf("cross-tenant %q and missing %q answers differ", cross.Message, missing.Message)
			}
		})
	}
	after := f.agentState(a.id)
	if after.TokenHash != before.TokenHash || after.Cert == nil || len(after.SigningPubKey) == 0 {
		t.Fatal("a cross-tenant call changed the agent")
	}
	f.mustIngest(a, "1.4.2", 1)
}

func TestRotateToken(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	old := a.token
	na, err := f.core.Agents.RotateToken(f.ctx, f.admin, a.id)
	if err != nil || na.AgentID != a.id || na.Token == old || !strings.HasPrefix(na.Token, "ms_") {
		t.Fatalf("rotate-token: %+v, %v", na, err)
	}
	// The old token stops working at once, everywhere.
	_, err = f.ingest(a.req(a.next("1.4.2", 1)))
	wantCode(t, err, hub.CodeUnauthorized)
	_, err = f.register(old, a.cert, regBody("1.4.2", pubB64(a.key), ""))
	wantCode(t, err, hub.CodeUnauthorized)
	// The new one works.
	a.token = na.Token
	f.mustIngest(a, "1.4.2", 1)
	if _, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), "")); err != nil {
		t.Fatal(err)
	}
	// Rotating again retires the second token too.
	na2, err := f.core.Agents.RotateToken(f.ctx, f.admin, a.id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ingest(a.req(a.next("1.4.2", 1)))
	wantCode(t, err, hub.CodeUnauthorized)
	a.token = na2.Token
	f.mustIngest(a, "1.4.2", 1)
	f.wantAnomalies(a.id)
}

// TestRotateTokenLingeringCredential: even if deleting the old credential
// failed, the old token is refused because the agent holds the new hash.
func TestRotateTokenLingeringCredential(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	old := f.agentState(a.id).TokenHash
	if _, err := f.core.Agents.RotateToken(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	c, _ := f.store.Memory.GetCredential(f.ctx, f.agentState(a.id).TokenHash)
	c.Hash = old // put the old credential back, as if its delete had failed
	if err := f.store.PutCredential(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	_, err := f.ingest(a.req(a.next("1.4.2", 1)))
	wantCode(t, err, hub.CodeUnauthorized)
}

func TestRotateSigningKey(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	f.clock.Advance(time.Hour)
	v, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id)
	if err != nil || v.SigningPubKeyPinned || v.SigningPubKey != nil {
		t.Fatalf("rotate-signing-key: %+v, %v", v, err)
	}
	if st := f.agentState(a.id); len(st.SigningPubKey) != 0 || !st.SigningSetAt.IsZero() {
		t.Fatalf("pin left: %+v", st)
	}
	// Re-register with a new key: pinned again, with a new signing_set_at.
	oldKey := a.key
	a.key = newSigningKey(t)
	res, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
	if err != nil || !res.SigningPubKeyPinned || !res.SigningSetAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("re-register: %+v, %v", res, err)
	}
	f.mustIngest(a, "1.4.2", 1)
	// The old key no longer signs for this agent.
	r := a.req(a.next("1.4.2", 1))
	r.Signature = sig.Sign(oldKey, r.Body)
	_, err = f.ingest(r)
	wantCode(t, err, hub.CodeSignatureInvalid)
	f.wantAnomalies(a.id, anom{anomaly.SignatureInvalid, anomaly.Critical, 1})
	// Re-registering the old key is refused: the new one is pinned.
	_, err = f.register(a.token, a.cert, regBody("1.4.2", pubB64(oldKey), ""))
	wantCode(t, err, hub.CodeSignatureInvalid)
	f.wantAnomalies(a.id, anom{anomaly.SignatureInvalid, anomaly.Critical, 2})
}

// TestRotateSigningKeyInterimLegacy: between the unpin and the next
// registration the agent is a legacy agent (SPEC 4.2 check 4).
func TestRotateSigningKeyInterimLegacy(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	r := a.req(a.next("1.4.2", 1))
	r.Signature = ""
	res, err := f.ingest(r)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("unsigned batch while unpinned: %+v, %v", res, err)
	}
	if st := f.agentState(a.id); st.LastUnsignedAt.IsZero() {
		t.Fatal("agent not marked as sending unsigned data")
	}
}

// seedAnomalies raises anomalies on two acme agents and one globex agent and
// returns the ids of acme's.
func seedAnomalies(t *testing.T, f *fx) (a, b *agent, ids []string) {
	t.Helper()
	a, b = f.enrolled(), f.enrolled()
	f.mustIngest(a, "1.4.2", 1)
	f.mustIngest(b, "1.4.2", 1)
	_, _ = f.ingest(a.req(batchBody(1, "1.4.2", 1, ""))) // replay_detected
	r := a.req(a.next("1.4.2", 1))
	r.Signature = ""
	_, _ = f.ingest(r) // unsigned_payload
	r = b.req(b.next("1.4.2", 1))
	r.ClientCertPEM = f.enroll
	_, _ = f.ingest(r) // cert_pin_mismatch
	r = b.req(b.next("1.4.2", 1))
	r.Signature = sig.Sign(newSigningKey(t), r.Body)
	_, _ = f.ingest(r)          // signature_invalid
	f.mustIngest(b, "1.0.0", 1) // version_downgrade
	r = a.req(a.next("1.4.2", 1))
	r.Signature = "bad"
	_, _ = f.ingest(r) // signature_invalid
	p, err := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{}, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, an := range p.Anomalies {
		ids = append(ids, an.ID)
	}
	if len(ids) != 6 {
		t.Fatalf("seeded %d anomalies: %v", len(ids), ids)
	}
	// And one of globex's, which acme's admin must never see.
	g, err := f.core.Agents.Create(f.ctx, f.otherAdmin, "g")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.register(g.Token, f.otherEnroll, regBody("1", pubB64(newSigningKey(t)), ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.register(g.Token, f.otherEnroll, regBody("1", pubB64(newSigningKey(t)), ""))
	wantCode(t, err, hub.CodeSignatureInvalid)
	return a, b, ids
}

func TestListAnomalies(t *testing.T) {
	f := newFx(t)
	a, b, all := seedAnomalies(t, f)
	tests := []struct {
		name   string
		filter anomaly.Filter
		cursor string
		want   int
		code   hub.Code
	}{
		{name: "ok/all", want: 6},
		{name: "ok/open", filter: anomaly.Filter{Status: anomaly.Open}, want: 6},
		{name: "ok/closed", filter: anomaly.Filter{Status: anomaly.Closed}, want: 0},
		{name: "ok/kind", filter: anomaly.Filter{Kind: anomaly.SignatureInvalid}, want: 2},
		{name: "ok/agent", filter: anomaly.Filter{AgentID: a.id}, want: 3},
		{name: "ok/other-agent", filter: anomaly.Filter{AgentID: b.id}, want: 3},
		{name: "ok/agent-and-kind", filter: anomaly.Filter{AgentID: b.id, Kind: anomaly.VersionDowngrade}, want: 1},
		{name: "ok/unknown-agent", filter: anomaly.Filter{AgentID: "ag_nobody"}, want: 0},
		{name: "ok/stale-agent-kind", filter: anomaly.Filter{Kind: anomaly.StaleAgent}, want: 0},
		{name: "fail/status", filter: anomaly.Filter{Status: "pending"}, code: hub.CodeInvalidRequest},
		{name: "fail/status-case", filter: anomaly.Filter{Status: "OPEN"}, code: hub.CodeInvalidRequest},
		{name: "fail/kind", filter: anomaly.Filter{Kind: "meteor"}, code: hub.CodeInvalidRequest},
		{name: "fail/cursor-not-base64", cursor: "!!not a cursor!!", code: hub.CodeInvalidRequest},
		{name: "fail/cursor-padded-base64", cursor: "YQ==", code: hub.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.core.Anomalies.List(f.ctx, f.admin, tt.filter, tt.cursor, 0)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if p.Anomalies == nil || len(p.Anomalies) != tt.want || p.NextCursor != "" {
				t.Fatalf("got %d anomalies (nil %v), cursor %q; want %d", len(p.Anomalies), p.Anomalies == nil, p.NextCursor, tt.want)
			}
			for _, an := range p.Anomalies {
				if an.TenantID != tenant || !tt.filter.Match(an) {
					t.Fatalf("anomaly %+v does not belong", an)
				}
			}
		})
	}
	// Every page size walks the same list, in order, without repeats.
	for _, limit := range []int{1, 2, 4, 5, 6, 7} {
		t.Run(fmt.Sprintf("ok/pages-of-%d", limit), func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				p, err := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{}, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Anomalies) > limit {
					t.Fatalf("page of %d, limit %d", len(p.Anomalies), limit)
				}
				for _, an := range p.Anomalies {
					got = append(got, an.ID)
				}
				pages++
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
				if pages > 10 {
					t.Fatal("cursor never ends")
				}
			}
			if !slices.Equal(got, all) {
				t.Fatalf("pages gave %v, want %v", got, all)
			}
		})
	}
	// The other tenant sees only its own.
	p, err := f.core.Anomalies.List(f.ctx, f.otherAdmin, anomaly.Filter{}, "", 0)
	if err != nil || len(p.Anomalies) != 1 || p.Anomalies[0].TenantID != otherTenant {
		t.Fatalf("globex list = %+v, %v", p, err)
	}
	// A cursor of one tenant is no key to another's anomalies.
	p1, _ := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{}, "", 1)
	p, err = f.core.Anomalies.List(f.ctx, f.otherAdmin, anomaly.Filter{}, p1.NextCursor, 0)
	if err == nil {
		for _, an := range p.Anomalies {
			if an.TenantID != otherTenant {
				t.Fatalf("acme's anomaly through globex's listing: %+v", an)
			}
		}
	}
}

// closer is the optional storetest.Memory method the integrity cycle uses.
type closer interface {
	CloseAnomaly(ctx context.Context, tenant, id string, t time.Time, reason string) error
}

func TestListAnomaliesClosed(t *testing.T) {
	f := newFx(t)
	_, _, all := seedAnomalies(t, f)
	c, ok := any(f.store.Memory).(closer)
	if !ok {
		t.Skip("the store cannot close anomalies")
	}
	if err := c.CloseAnomaly(f.ctx, tenant, all[0], t0.Add(time.Hour), "agent_signing"); err != nil {
		t.Fatal(err)
	}
	closed, err := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{Status: anomaly.Closed}, "", 0)
	if err != nil || len(closed.Anomalies) != 1 || closed.Anomalies[0].ID != all[0] || *closed.Anomalies[0].ClosedReason != "agent_signing" {
		t.Fatalf("closed = %+v, %v", closed, err)
	}
	open, err := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{Status: anomaly.Open}, "", 0)
	if err != nil || len(open.Anomalies) != 5 {
		t.Fatalf("open = %d, %v", len(open.Anomalies), err)
	}
}

func TestListAnomaliesBackend(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		code  hub.Code
		retry time.Duration
	}{
		{"fail/throttled", fmt.Errorf("query: %w", hub.ErrThrottled), hub.CodeThrottled, 2 * time.Second},
		{"fail/unavailable", fmt.Errorf("query: %w", hub.ErrUnavailable), hub.CodeUnavailable, 5 * time.Second},
		{"fail/other", errors.New("query: boom"), hub.CodeInternal, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			f.store.FailNext("ListAnomalies", tt.err)
			_, err := f.core.Anomalies.List(f.ctx, f.admin, anomaly.Filter{}, "", 0)
			he := wantCode(t, err, tt.code)
			if he.RetryAfter != tt.retry || !errors.Is(err, tt.err) {
				t.Fatalf("retry after %v (want %v), cause %v", he.RetryAfter, tt.retry, he.Cause)
			}
			if strings.Contains(he.Message, "boom") || strings.Contains(he.Message, "query") {
				t.Fatalf("message %q carries internal text", he.Message)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	f := newFx(t)
	tests := []struct {
		name, tenant string
		ok           bool
	}{
		{"ok/new-tenant", "initech", true},
		{"ok/existing-tenant-gets-another-key", tenant, true},
		{"fail/uppercase", "Acme", false},
		{"fail/empty", "", false},
		{"fail/leading-dash", "-acme", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := f.core.Tenants.Bootstrap(f.ctx, tt.tenant)
			if !tt.ok {
				if err == nil {
					t.Fatal("Bootstrap accepted a bad tenant id")
				}
				return
			}
			if err != nil || !strings.HasPrefix(key, "msa_") {
				t.Fatalf("Bootstrap = %q, %v", key, err)
			}
			if ok, err := f.core.Tenants.AdminKeyValid(f.ctx, tt.tenant, key); !ok || err != nil {
				t.Fatalf("AdminKeyValid = %v, %v", ok, err)
			}
			if ok, _ := f.core.Tenants.AdminKeyValid(f.ctx, "someone-else", key); ok {
				t.Fatal("a key is valid for another tenant")
			}
		})
	}
	// The first key still works after another was made.
	if _, err := f.core.AdminAuth.Authenticate(f.ctx, f.adminKey, f.operator); err != nil {
		t.Fatal(err)
	}
}
