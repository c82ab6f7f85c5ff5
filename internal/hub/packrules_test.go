package hub_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/storetest"
	"github.com/monsys/hub/internal/verify"
)

// The evidence-pack rules (SPEC 7 and 8; docs/packs.md and
// docs/signing-keys.md) at the use cases, over the kit's stores and the
// fixture's clock: requests, builds and their failures, the build lease,
// the chain, links and their audit, and the signing-key lineage. What the
// HTTP edge adds (event files, statuses, envelopes) is in internal/api.

var errKMS = errors.New("kms: the key is disabled")

// get is GetPack as acme's admin, which must succeed.
func (f *packFx) get(id, expiresIn string) hub.PackView {
	f.t.Helper()
	v, err := f.packs.GetPack(f.ctx, f.admin, id, expiresIn)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return v
}

// lineage returns the tenant's stored lineage (nil without a record).
func (f *packFx) lineage(tenantID string) pack.Lineage {
	f.t.Helper()
	rec, err := f.store.GetKeys(f.ctx, tenantID)
	if errors.Is(err, hub.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return rec.Lineage
}

// object returns the only version stored under key and its bytes.
func (f *packFx) object(key string) (string, []byte) {
	f.t.Helper()
	vs := f.objects.Versions(key)
	if len(vs) != 1 {
		f.t.Fatalf("%d versions under %s, want 1", len(vs), key)
	}
	b, _ := f.objects.Object(key, vs[0])
	return vs[0], b
}

// viewJSON is v as the endpoints answer it.
func viewJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func failedJSON(id, reason string) string {
	r, _ := json.Marshal(reason)
	return `{"pack_id":"` + id + `","status":"failed","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",` +
		`"requested_at":"2026-04-01T10:00:00Z","generated_at":null,"file_name":null,"size":null,"records":null,` +
		`"signing_key_id":null,"manifest_sha256":null,"previous_pack":null,"download_url":null,"expires_at":null,"reason":` + string(r) + `}`
}

// members reads a pack archive into its regular files.
func members(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	return packtest.Contents(t, tgz)
}

// TestRequestPack: a request whose period is valid is one pending pack of
// the admin's tenant, its build started and the request audited; any other
// is invalid_request and creates, starts and audits nothing.
func TestRequestPack(t *testing.T) {
	tests := []struct {
		name, body string
		start, end string // "" for a refusal
	}{
		{"ok/whole-month", march, "2026-03-01T00:00:00Z", "2026-03-31T23:59:59Z"},
		{"ok/offsets-normalized-to-utc", `{"period_start":"2026-03-01T02:00:00+02:00","period_end":"2026-03-01T19:00:00-05:00"}`,
			"2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"},
		{"ok/366-days", `{"period_start":"2025-01-01T00:00:00Z","period_end":"2026-01-02T00:00:00Z"}`, "2025-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"fail/malformed-json", `{"period_start":"2026-03-01T00:00:00Z",`, "", ""},
		{"fail/empty-body", ``, "", ""},
		{"fail/array", `[` + march + `]`, "", ""},
		{"fail/two-objects", march + march, "", ""},
		{"fail/missing-period", `{}`, "", ""},
		{"fail/missing-period-end", `{"period_start":"2026-03-01T00:00:00Z"}`, "", ""},
		{"fail/missing-period-start", `{"period_end":"2026-03-31T23:59:59Z"}`, "", ""},
		{"fail/null-period-start", `{"period_start":null,"period_end":"2026-03-31T23:59:59Z"}`, "", ""},
		{"fail/end-before-start", `{"period_start":"2026-03-31T23:59:59Z","period_end":"2026-03-01T00:00:00Z"}`, "", ""},
		{"fail/end-equals-start", `{"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-01T00:00:00Z"}`, "", ""},
		{"fail/span-over-366-days", `{"period_start":"2025-01-01T00:00:00Z","period_end":"2026-01-02T00:00:01Z"}`, "", ""},
		{"fail/date-only", `{"period_start":"2026-03-01","period_end":"2026-03-31"}`, "", ""},
		{"fail/no-zone", `{"period_start":"2026-03-01T00:00:00","period_end":"2026-03-31T23:59:59"}`, "", ""},
		{"fail/numbers", `{"period_start":1772323200,"period_end":1774997999}`, "", ""},
		{"fail/over-4KiB", strings.TrimSuffix(march, "}") + `,"note":"` + strings.Repeat("x", 4<<10) + `"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPackFx(t, hub.PackConfig{})
			v, err := f.packs.RequestPack(f.ctx, f.admin, []byte(tt.body))
			if tt.start == "" {
				wantCode(t, err, hub.CodeInvalidRequest)
				if n, q := len(f.store.StoredPacks(tenant)), f.builds.Take(); n != 0 || len(q) != 0 {
					t.Fatalf("a refused request created %d packs and started %v", n, q)
				}
				if a := f.store.Audited(tenant, "pack_requested"); len(a) != 0 {
					t.Fatalf("a refused request was audited: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := `{"pack_id":"` + v.PackID + `","status":"pending","period_start":"` + tt.start + `","period_end":"` + tt.end + `",` +
				`"requested_at":"2026-04-01T10:00:00Z","generated_at":null,"file_name":null,"size":null,"records":null,` +
				`"signing_key_id":null,"manifest_sha256":null,"previous_pack":null,"download_url":null,"expires_at":null,"reason":null}`
			if got := viewJSON(t, v); got != want {
				t.Fatalf("view\n%s\nwant\n%s", got, want)
			}
			p := f.stored(v.PackID)
			if p.Status != hub.PackPending || pack.TimeString(p.PeriodStart) != tt.start || pack.TimeString(p.PeriodEnd) != tt.end {
				t.Fatalf("stored %+v", p)
			}
			if q := f.builds.Take(); len(q) != 1 || q[0] != [2]string{tenant, v.PackID} {
				t.Fatalf("started %v", q)
			}
			a := f.store.Audited(tenant, "pack_requested")
			if len(a) != 1 || a[0].Actor != "admin" || !a[0].At.Equal(t0) || a[0].Detail["pack_id"] != v.PackID ||
				a[0].Detail["period_start"] != tt.start || a[0].Detail["period_end"] != tt.end {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

// TestRequestPackTwice: every request is a new pack.
func TestRequestPackTwice(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	a, b := f.request(), f.request()
	if a == b || len(f.store.StoredPacks(tenant)) != 2 {
		t.Fatalf("two requests gave %s and %s, %d packs", a, b, len(f.store.StoredPacks(tenant)))
	}
}

// TestRequestPackStartFails: a build that cannot be started is unavailable
// with Retry-After, and the pack, whose id the admin never saw, is failed.
func TestRequestPackStartFails(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	f.builds.Fail(errors.New("invoke monsys-pack: throttled"))
	_, err := f.packs.RequestPack(f.ctx, f.admin, []byte(march))
	if he := wantCode(t, err, hub.CodeUnavailable); he.RetryAfter <= 0 {
		t.Fatalf("no Retry-After: %+v", he)
	}
	failed := f.store.Audited(tenant, "pack_failed")
	if len(failed) != 1 || failed[0].Detail["reason"] != "build: the build could not be started; request the pack again" {
		t.Fatalf("pack_failed audit %+v", failed)
	}
	if p := f.stored(failed[0].Detail["pack_id"]); p.Status != hub.PackFailed {
		t.Fatalf("stored %+v", p)
	}
}

// TestGetPackPending: a pending pack has no link, and nothing is audited.
func TestGetPackPending(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	id := f.request()
	f.clock.Advance(time.Minute)
	if v := f.get(id, "3600"); v.Status != hub.PackPending || v.DownloadURL != nil || v.ExpiresAt != nil {
		t.Fatalf("view %s", viewJSON(t, v))
	}
	if n := len(f.objects.Links()); n != 0 {
		t.Fatalf("%d links for a pending pack", n)
	}
	if a := f.store.Audited(tenant, "pack_link_issued"); len(a) != 0 {
		t.Fatalf("link audited for a pending pack: %+v", a)
	}
}

// marchAudit puts an audit event of each tenant into March 2026, the period
// of the requests: acme's must be in acme's pack, globex's must not.
func (f *packFx) marchAudit(agentID string) {
	f.t.Helper()
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for _, e := range []hub.AuditEvent{
		{TenantID: tenant, ID: "ev_acmemarch", At: at, Action: "agent_registered", AgentID: agentID, Actor: "agent",
			Detail: map[string]string{"hostname": "web-01"}},
		{TenantID: otherTenant, ID: "ev_globexmarch", At: at, Action: "agent_registered", Actor: "agent",
			Detail: map[string]string{"hostname": "globex-01"}},
	} {
		if err := f.store.AppendAudit(f.ctx, e); err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestGetPackReady: request, build, then get without expires_in: a ready
// pack with a fresh 15-minute link to the stored object version, audited.
func TestGetPackReady(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	a := f.newAgent()
	f.marchAudit(a.id)
	id := f.request()
	f.clock.Advance(2 * time.Minute) // the build runs at 10:02:00
	f.mustBuild(id)
	f.clock.Advance(3 * time.Minute) // the admin asks at 10:05:00
	v := f.get(id, "")

	const name = "evidence_acme_march-2026.tar.gz"
	key := "packs/acme/" + id + "/" + name
	version, obj := f.object(key)
	m := members(t, obj)
	var man struct {
		PackID       string `json:"pack_id"`
		TenantID     string `json:"tenant_id"`
		PeriodStart  string `json:"period_start"`
		PeriodEnd    string `json:"period_end"`
		GeneratedAt  string `json:"generated_at"`
		SigningKeyID string `json:"signing_key_id"`
		Files        []struct {
			RecordCount int64 `json:"record_count"`
		} `json:"files"`
	}
	if err := json.Unmarshal(m["manifest.json"], &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	sum := sha256.Sum256(m["manifest.json"])
	lineage := f.lineage(tenant)
	if len(lineage) != 1 {
		t.Fatalf("lineage %+v", lineage)
	}
	keyID := lineage[0].KeyID
	if man.PackID != id || man.TenantID != tenant || man.PeriodStart != "2026-03-01T00:00:00Z" || man.PeriodEnd != "2026-03-31T23:59:59Z" ||
		man.GeneratedAt != "2026-04-01T10:02:00Z" || man.SigningKeyID != keyID {
		t.Fatalf("manifest %s", m["manifest.json"])
	}
	var records int64
	for _, fe := range man.Files {
		records += fe.RecordCount
	}
	// acme's March audit event and the agent it names; nothing of globex.
	audit, agents := m["data/audit_log/audit_log.ndjson"], m["data/agents.ndjson"]
	if bytes.Count(audit, []byte("\n")) != 1 || !bytes.Contains(audit, []byte("ev_acmemarch")) ||
		bytes.Count(agents, []byte("\n")) != 1 || !bytes.Contains(agents, []byte(a.id)) {
		t.Fatalf("audit log %s; agents %s", audit, agents)
	}
	for n, b := range m {
		if bytes.Contains(b, []byte("globex")) {
			t.Fatalf("acme's pack carries globex data in %s: %s", n, b)
		}
	}
	links := f.objects.Links()
	if len(links) != 1 {
		t.Fatalf("%d links, want 1", len(links))
	}
	l := links[0]
	if l.Key != key || l.Version != version || l.FileName != name || l.TTL != 15*time.Minute {
		t.Fatalf("presigned %+v, want %s version %s for 15m", l, key, version)
	}
	u, _ := json.Marshal(l.URL)
	want := fmt.Sprintf(`{"pack_id":%q,"status":"ready","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",`+
		`"requested_at":"2026-04-01T10:00:00Z","generated_at":"2026-04-01T10:02:00Z","file_name":%q,"size":%d,"records":%d,`+
		`"signing_key_id":%q,"manifest_sha256":%q,"previous_pack":null,"download_url":%s,"expires_at":"2026-04-01T10:20:00Z","reason":null}`,
		id, name, len(obj), records, keyID, hex.EncodeToString(sum[:]), u)
	if got := viewJSON(t, v); got != want {
		t.Fatalf("view\n%s\nwant\n%s", got, want)
	}
	au := f.store.Audited(tenant, "pack_link_issued")
	if len(au) != 1 || au[0].Actor != "admin" || !au[0].At.Equal(t0.Add(5*time.Minute)) || au[0].Detail["pack_id"] != id ||
		au[0].Detail["expires_at"] != "2026-04-01T10:20:00Z" || !strings.HasPrefix(au[0].Detail["link_id"], "ln_") {
		t.Fatalf("pack_link_issued %+v", au)
	}
	if b := f.store.Audited(tenant, "pack_built"); len(b) != 1 || b[0].Detail["pack_id"] != id || b[0].Detail["manifest_sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("pack_built %+v", b)
	}
}

// TestGetPackQuarantine: a stored batch the pack cannot hold (stored before
// check 7 refused it, or damaged) does not fail the pack: it is ready, the
// batch has its quarantine line and no record of it is packed, and the
// verifier passes the pack with a warning (SPEC 9).
func TestGetPackQuarantine(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	a := f.newAgent()
	body := []byte(`[{"type":"metric","ts":"2026-03-10T00:00:00Z","v":1e400}]`)
	sha := pack.SHA256Hex(body)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if err := f.store.PutBatch(f.ctx, hub.StoredBatch{TenantID: tenant, AgentID: a.id, Key: "u#" + sha, SHA: sha, Body: body, Records: 1,
		MinTS: day, MaxTS: day, Days: []string{"2026-03-10"}, ReceivedAt: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	id := f.request()
	if p := f.mustBuild(id); p.Status != hub.PackReady {
		t.Fatalf("pack %+v", p)
	}
	_, obj := f.object("packs/acme/" + id + "/evidence_acme_march-2026.tar.gz")
	m := members(t, obj)
	// The line itself, byte for byte, is internal/pack's (testdata/period).
	var line pack.BatchLine
	if err := json.Unmarshal(m["data/agents/"+a.id+"/batch.ndjson"], &line); err != nil || line.BatchKey != "u#"+sha ||
		line.Quarantined != "record 0: number 1e400 is outside the IEEE 754 double range at byte 50" || line.InPeriod != 0 {
		t.Fatalf("batch.ndjson (%v)\n%s", err, m["data/agents/"+a.id+"/batch.ndjson"])
	}
	if b, ok := m["data/agents/"+a.id+"/metric.ndjson"]; ok {
		t.Fatalf("a quarantined record is packed: %s", b)
	}
	if !bytes.Contains(m["data/agents.ndjson"], []byte(a.id)) {
		t.Fatalf("agents.ndjson does not name the agent: %s", m["data/agents.ndjson"])
	}
	rep, err := verify.VerifyReader(bytes.NewReader(obj), verify.Options{})
	if err != nil || !rep.OK || !strings.Contains(rep.Text(), "⚠ Quarantined batch (records not packed): agent "+a.id+", batch u#"+sha+": record 0: number 1e400") {
		t.Fatalf("verify: %v\n%s", err, rep.Text())
	}
}

// TestGetPackExpiresIn: expires_in is seconds (or a Go duration) from 1 s
// to 7 days (SPEC 8); anything else is invalid_request and issues no link.
func TestGetPackExpiresIn(t *testing.T) {
	tests := []struct {
		name, value string
		ttl         time.Duration // 0: refused
	}{
		{"ok/3600-seconds", "3600", time.Hour},
		{"ok/1-second", "1", time.Second},
		{"ok/7-days-exactly", "604800", 7 * 24 * time.Hour},
		{"ok/go-duration", "90m", 90 * time.Minute},
		{"fail/7-days-and-1-second", "604801", 0},
		{"fail/8-days-as-duration", "192h", 0},
		{"fail/31-days", "2678400", 0},
		{"fail/zero", "0", 0},
		{"fail/negative", "-60", 0},
		{"fail/under-a-second", "500ms", 0},
		{"fail/word", "soon", 0},
		{"fail/fraction", "1.5", 0},
		{"fail/exponent", "1e3", 0},
		{"fail/huge", "99999999999999999999999", 0},
		{"fail/blank", " ", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPackFx(t, hub.PackConfig{})
			id := f.request()
			f.mustBuild(id)
			f.clock.Advance(time.Minute)
			v, err := f.packs.GetPack(f.ctx, f.admin, id, tt.value)
			links, audited := f.objects.Links(), f.store.Audited(tenant, "pack_link_issued")
			if tt.ttl == 0 {
				wantCode(t, err, hub.CodeInvalidRequest)
				if len(links) != 0 || len(audited) != 0 {
					t.Fatalf("a refused request issued %d links, audited %d", len(links), len(audited))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exp := t0.Add(time.Minute + tt.ttl)
			if len(links) != 1 || links[0].TTL != tt.ttl || *v.DownloadURL != links[0].URL || !v.ExpiresAt.Equal(exp) {
				t.Fatalf("links %+v; view %s; want expires_at %s", links, viewJSON(t, v), exp)
			}
			if len(audited) != 1 || audited[0].Detail["expires_at"] != pack.TimeString(exp) {
				t.Fatalf("pack_link_issued %+v", audited)
			}
		})
	}
}

// TestGetPackLinkCap: with a LinkCap (the life of the credentials links are
// signed with, in AWS under an hour), a longer expires_in or default is
// shortened to it, and expires_at and the audit event tell the link's real end.
func TestGetPackLinkCap(t *testing.T) {
	for _, tc := range []struct {
		name, expiresIn string
		ttl             time.Duration
		expiresAt       string
	}{
		{"ok/shorter-than-cap", "600", 10 * time.Minute, "2026-04-01T10:15:00Z"},
		{"ok/seven-days-capped", "604800", 55 * time.Minute, "2026-04-01T11:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPackFx(t, hub.PackConfig{LinkCap: 55 * time.Minute})
			id := f.request()
			f.mustBuild(id)
			f.clock.Advance(5 * time.Minute)
			if v := f.get(id, tc.expiresIn); pack.TimeString(*v.ExpiresAt) != tc.expiresAt {
				t.Errorf("expires_at %v, want %s", v.ExpiresAt, tc.expiresAt)
			}
			if links := f.objects.Links(); len(links) != 1 || links[0].TTL != tc.ttl {
				t.Fatalf("links %+v, want one of %s", links, tc.ttl)
			}
			if a := f.store.Audited(tenant, "pack_link_issued"); len(a) != 1 || a[0].Detail["expires_at"] != tc.expiresAt {
				t.Errorf("pack_link_issued %+v", a)
			}
		})
	}
}

// TestGetPackEveryLinkAudited: each get presigns a new link, and each link
// issued is its own audit event with the answer's expires_at.
func TestGetPackEveryLinkAudited(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	id := f.request()
	f.mustBuild(id)
	var views []hub.PackView
	for _, ttl := range []string{"", "60", "3600"} {
		f.clock.Advance(time.Minute)
		views = append(views, f.get(id, ttl))
	}
	links, audited := f.objects.Links(), f.store.Audited(tenant, "pack_link_issued")
	if len(links) != 3 || len(audited) != 3 {
		t.Fatalf("%d links, %d audit events, want 3 and 3", len(links), len(audited))
	}
	wantExp := []string{"2026-04-01T10:16:00Z", "2026-04-01T10:03:00Z", "2026-04-01T11:03:00Z"}
	ids := map[string]bool{}
	for i, v := range views {
		if *v.DownloadURL != links[i].URL || pack.TimeString(*v.ExpiresAt) != wantExp[i] {
			t.Fatalf("view %d: %s, want link %s expiring %s", i, viewJSON(t, v), links[i].URL, wantExp[i])
		}
		e := audited[i]
		if e.Detail["pack_id"] != id || e.Detail["expires_at"] != wantExp[i] || !e.At.Equal(t0.Add(time.Duration(i+1)*time.Minute)) {
			t.Fatalf("audit %d: %+v", i, e)
		}
		ids[e.Detail["link_id"]] = true
		ids[e.ID] = true
	}
	if len(ids) != 6 || links[0].URL == links[1].URL || links[1].URL == links[2].URL {
		t.Fatalf("links or their audit events repeat: %v %+v", ids, links)
	}
}

// TestGetPackOtherTenant: another tenant's pack is not_found, as an unknown
// id is, and issues no link.
func TestGetPackOtherTenant(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	id := f.request()
	f.mustBuild(id)
	for _, tc := range []struct{ name, id string }{{"fail/other-tenants-pack", id}, {"fail/unknown-id", "pk_unknown"}, {"fail/head-item", "_head"}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.packs.GetPack(f.ctx, f.otherAdmin, tc.id, "")
			wantCode(t, err, hub.CodeNotFound)
		})
	}
	if n := len(f.objects.Links()); n != 0 {
		t.Fatalf("%d links issued", n)
	}
}

// TestGetPackFailed: a build that fails leaves the pack failed with a reason
// that names the cause (backend, kms, s3 or build) and nothing of the error
// itself, no object and no link, and the tenant's lease free: its next pack
// builds (after a failed move of the chain, once the lease has ended).
func TestGetPackFailed(t *testing.T) {
	tests := []struct {
		name   string
		fault  func(f *packFx)
		reason string
	}{
		{"fail/upload", func(f *packFx) { f.objects.FailUploads(errors.New("s3: UploadPart: slow down")) },
			"s3: storing the pack failed; request the pack again"},
		{"fail/signing-key", func(f *packFx) { f.vault.Fail(fmt.Errorf("kms: GetPublicKey: %w", errKMS)) },
			"kms: the tenant's signing key is unavailable; request the pack again"},
		{"fail/signature", func(f *packFx) { f.vault.FailSigning(fmt.Errorf("kms: Sign: %w", errKMS)) },
			"kms: the tenant's signing key could not sign the pack; request the pack again"},
		{"fail/read-period", func(f *packFx) {
			f.store.FailNext("PeriodBatches", fmt.Errorf("dynamodb: Query: %w", hub.ErrUnavailable))
		},
			"backend: the tenant's data could not be read; request the pack again"},
		{"fail/take-the-lease", func(f *packFx) {
			f.store.FailNext("AcquireBuild", fmt.Errorf("dynamodb: UpdateItem: %w", hub.ErrUnavailable))
		},
			"backend: the tenant's build lease could not be taken; request the pack again"},
		{"fail/move-the-chain", func(f *packFx) {
			f.store.FailNext("ReleaseBuild", fmt.Errorf("dynamodb: UpdateItem: %w", hub.ErrUnavailable))
		},
			"backend: the pack chain could not be updated; request the pack again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPackFx(t, hub.PackConfig{})
			id := f.request()
			tt.fault(f)
			if err, _ := f.build(id); !errors.Is(err, hub.ErrPackFailed) {
				t.Fatalf("build: %v, want ErrPackFailed", err)
			}
			if got := viewJSON(t, f.get(id, "")); got != failedJSON(id, tt.reason) {
				t.Fatalf("view\n%s\nwant\n%s", got, failedJSON(id, tt.reason))
			}
			if tt.name != "fail/move-the-chain" && f.objects.Count() != 0 {
				t.Fatalf("a failed pack left %d objects", f.objects.Count())
			}
			if len(f.objects.Links()) != 0 || len(f.store.Audited(tenant, "pack_link_issued")) != 0 {
				t.Fatalf("a failed pack has %d links", len(f.objects.Links()))
			}
			if a := f.store.Audited(tenant, "pack_failed"); len(a) != 1 || a[0].Detail["pack_id"] != id || a[0].Detail["reason"] != tt.reason {
				t.Fatalf("pack_failed %+v", a)
			}
			f.objects.FailUploads(nil)
			f.vault.Fail(nil)
			f.vault.FailSigning(nil)
			f.clock.Advance(time.Second)
			if tt.name == "fail/move-the-chain" {
				f.clock.Advance(15 * time.Minute) // the lease it could not give up
			}
			next := f.request()
			if p := f.mustBuild(next); p.Status != hub.PackReady || p.Previous != nil {
				t.Fatalf("next pack %+v, want ready and first of the chain", p)
			}
		})
	}
}

// TestGetPackStale: a pack still pending long after its build should have
// ended (lease 15 m + wait 2 m + 1 m) is reported, and kept, as failed.
func TestGetPackStale(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	id := f.request() // the build never runs
	f.clock.Advance(18 * time.Minute)
	if v := f.get(id, ""); v.Status != hub.PackPending {
		t.Fatalf("at 18 minutes: %s", viewJSON(t, v))
	}
	f.clock.Advance(time.Second)
	const reason = "build: the build did not finish; request the pack again"
	if got := viewJSON(t, f.get(id, "")); got != failedJSON(id, reason) {
		t.Fatalf("view\n%s\nwant\n%s", got, failedJSON(id, reason))
	}
	if p := f.stored(id); p.Status != hub.PackFailed || p.Reason != reason {
		t.Fatalf("stored %+v", p)
	}
	// A late build leaves the failed pack alone.
	if err, _ := f.build(id); err != nil || f.objects.Count() != 0 {
		t.Fatalf("late build: %v, %d objects", err, f.objects.Count())
	}
}

// TestGetPackChain: the second pack of a tenant names the first one.
func TestGetPackChain(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	first := f.mustBuild(f.request())
	f.clock.Advance(time.Hour)
	second := f.mustBuild(f.request())
	if first.Previous != nil || second.Previous == nil ||
		*second.Previous != (pack.PackRef{PackID: first.PackID, ManifestSHA256: first.ManifestSHA256}) {
		t.Fatalf("first %+v\nsecond %+v", first, second)
	}
	if v := f.get(second.PackID, ""); v.PreviousPack == nil || v.PreviousPack.PackID != first.PackID {
		t.Fatalf("view %s", viewJSON(t, v))
	}
}

// fingerprint is SPEC 7's, computed here from the base64 public key.
func fingerprint7(t *testing.T, b64 string) string {
	t.Helper()
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public_key %q", b64)
	}
	sum := sha256.Sum256(pub)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = hex.EncodeToString([]byte{b})
	}
	return strings.Join(pairs, ":")
}

// wantEndorsed checks SPEC 7: entry's endorsement is by prev's key over
// SHA-256 of the canonical JSON of entry without its endorsement (and with
// active_until null, as when it became active).
func wantEndorsed(t *testing.T, prev, entry pack.LineageEntry) {
	t.Helper()
	if entry.Endorsement == nil || entry.Endorsement.ByKeyID != prev.KeyID {
		t.Fatalf("endorsement %+v, want one by %s", entry.Endorsement, prev.KeyID)
	}
	// Flat members, plain ASCII strings and null: encoding/json with sorted
	// keys is RFC 8785 here.
	msg, err := json.Marshal(map[string]any{"active_from": entry.ActiveFrom, "active_until": nil,
		"fingerprint": entry.Fingerprint, "key_id": entry.KeyID, "public_key": entry.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	sig, err := hex.DecodeString(entry.Endorsement.Signature)
	pub, _ := base64.StdEncoding.DecodeString(prev.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, digest[:], sig) {
		t.Fatalf("endorsement of %s by %s does not verify over %s", entry.KeyID, prev.KeyID, msg)
	}
}

func TestRotatePackKey(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	// acme's first key, made by its first pack at 10:00:00.
	old := f.mustBuild(f.request())
	first := f.lineage(tenant)[0]
	f.clock.Advance(time.Hour)

	v, err := f.keys.Rotate(f.ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Lineage) != 2 {
		t.Fatalf("lineage of %d entries: %+v", len(v.Lineage), v)
	}
	out, in := v.Lineage[0], v.Lineage[1]
	if v.TenantID != tenant || v.SigningKeyID != in.KeyID || !strings.HasPrefix(in.KeyID, "sk_") || in.KeyID == first.KeyID ||
		v.Fingerprint != in.Fingerprint || in.Fingerprint != fingerprint7(t, in.PublicKey) {
		t.Fatalf("answer %+v", v)
	}
	// The outgoing entry is the first key, closed now, unendorsed.
	if out.KeyID != first.KeyID || out.PublicKey != first.PublicKey || out.Fingerprint != fingerprint7(t, first.PublicKey) ||
		out.ActiveFrom != "2026-04-01T10:00:00Z" || out.ActiveUntil == nil || *out.ActiveUntil != "2026-04-01T11:00:00Z" || out.Endorsement != nil {
		t.Fatalf("outgoing entry %+v", out)
	}
	// The incoming entry is active from now, open, endorsed by the outgoing key.
	if in.ActiveFrom != "2026-04-01T11:00:00Z" || in.ActiveUntil != nil {
		t.Fatalf("incoming entry %+v", in)
	}
	wantEndorsed(t, out, in)
	// The key is the vault's key of that id, and the stored lineage is the answer's.
	if want := base64.StdEncoding.EncodeToString(storetest.VaultKey(tenant, in.KeyID).Public().(ed25519.PublicKey)); in.PublicKey != want {
		t.Fatalf("public_key %v, want the vault's %s", in.PublicKey, want)
	}
	if viewJSON(t, f.lineage(tenant)) != viewJSON(t, v.Lineage) {
		t.Fatalf("stored lineage %+v, answer %+v", f.lineage(tenant), v.Lineage)
	}
	if e := f.store.Audited(tenant, "signing_key_rotated"); len(e) != 1 || e[0].Actor != "admin" || e[0].Detail["key_id"] != in.KeyID ||
		e[0].Detail["previous_key_id"] != first.KeyID || e[0].Detail["fingerprint"] != in.Fingerprint {
		t.Fatalf("signing_key_rotated %+v", e)
	}

	// The next pack is signed with the new key; the old pack keeps its own.
	f.clock.Advance(time.Minute)
	if next := f.mustBuild(f.request()); next.SigningKeyID != in.KeyID {
		t.Fatalf("next pack %+v", next)
	}
	if p := f.stored(old.PackID); p.SigningKeyID != first.KeyID {
		t.Fatalf("old pack %+v", p)
	}

	// A second rotation chains on: the second key endorses the third.
	f.clock.Advance(24 * time.Hour)
	v, err = f.keys.Rotate(f.ctx, f.admin)
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	l := v.Lineage
	if len(l) != 3 || *l[0].ActiveUntil != "2026-04-01T11:00:00Z" || l[1].KeyID != in.KeyID ||
		*l[1].ActiveUntil != "2026-04-02T11:01:00Z" || l[2].ActiveFrom != "2026-04-02T11:01:00Z" || l[2].ActiveUntil != nil ||
		v.SigningKeyID != l[2].KeyID {
		t.Fatalf("second rotation %+v", v)
	}
	wantEndorsed(t, l[0], l[1])
	wantEndorsed(t, l[1], l[2])
	if n := f.lineage(otherTenant); n != nil {
		t.Fatalf("globex got a lineage: %+v", n)
	}
}

// TestRotatePackKeySameSecond: windows are whole seconds, so a second
// rotation within the second of the previous one is conflict (SPEC 4: a
// concurrent change of the same thing won; retry) with Retry-After, and the
// lineage stays as it was.
func TestRotatePackKeySameSecond(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	if _, err := f.keys.Ensure(f.ctx, tenant); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.keys.Rotate(f.ctx, f.admin); err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	before := f.lineage(tenant)
	_, err := f.keys.Rotate(f.ctx, f.admin)
	if he := wantCode(t, err, hub.CodeConflict); he.RetryAfter != time.Second {
		t.Fatalf("Retry-After %v", he.RetryAfter)
	}
	if after := f.lineage(tenant); viewJSON(t, before) != viewJSON(t, after) || len(after) != 2 {
		t.Fatalf("lineage changed: %+v", after)
	}
	f.clock.Advance(time.Second)
	if v, err := f.keys.Rotate(f.ctx, f.admin); err != nil || len(v.Lineage) != 3 {
		t.Fatalf("rotation a second later: %+v, %v", v, err)
	}
}

// TestRotatePackKeyClaims: a new key is made in the vault only by the
// request that claimed the tenant's pending slot (docs/signing-keys.md). A
// live claim of another request is conflict and makes no key; a claim
// older than hub.KeyClaimLease is taken over; a failed vault call frees its
// claim at once; a key a crashed rotation made and recorded is reused.
func TestRotatePackKeyClaims(t *testing.T) {
	setup := func(t *testing.T) (*packFx, hub.KeyRecord) {
		f := newPackFx(t, hub.PackConfig{})
		rec, err := f.keys.Ensure(f.ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		return f, rec
	}
	claim := func(f *packFx, rec hub.KeyRecord, p hub.PendingKey) {
		rec.Version++
		rec.Pending = &p
		if err := f.store.PutKeys(f.ctx, rec); err != nil {
			f.t.Fatal(err)
		}
	}
	t.Run("fail/live-claim-is-conflict", func(t *testing.T) {
		f, rec := setup(t)
		claim(f, rec, hub.PendingKey{KeyID: "sk_claimed", At: f.clock.Now().Add(-time.Second)})
		made := len(f.vault.Made())
		_, err := f.keys.Rotate(f.ctx, f.admin)
		if he := wantCode(t, err, hub.CodeConflict); he.RetryAfter != time.Second {
			t.Fatalf("Retry-After %v", he.RetryAfter)
		}
		if len(f.vault.Made()) != made || len(f.lineage(tenant)) != 1 {
			t.Fatalf("a key was made (%d, was %d) or the lineage changed", len(f.vault.Made()), made)
		}
	})
	t.Run("ok/stale-claim-is-taken-over", func(t *testing.T) {
		f, rec := setup(t)
		claim(f, rec, hub.PendingKey{KeyID: "sk_claimed", At: f.clock.Now()})
		f.clock.Advance(hub.KeyClaimLease)
		if _, err := f.keys.Rotate(f.ctx, f.admin); err != nil {
			t.Fatal(err)
		}
		if l := f.lineage(tenant); len(l) != 2 || l[1].KeyID == "sk_claimed" {
			t.Fatalf("lineage %+v", l)
		}
	})
	t.Run("ok/vault-failure-frees-the-claim", func(t *testing.T) {
		f, _ := setup(t)
		f.vault.Fail(errKMS)
		_, err := f.keys.Rotate(f.ctx, f.admin)
		wantCode(t, err, hub.CodeInternal)
		f.vault.Fail(nil)
		if rec, err := f.store.GetKeys(f.ctx, tenant); err != nil || rec.Pending != nil {
			t.Fatalf("claim left after the failure: %+v, %v", rec.Pending, err)
		}
		if _, err := f.keys.Rotate(f.ctx, f.admin); err != nil { // at once, not after the lease
			t.Fatal(err)
		}
	})
	t.Run("ok/recorded-pending-key-is-reused", func(t *testing.T) {
		f, rec := setup(t)
		ref, _, err := f.vault.NewKey(f.ctx, tenant, "sk_pending")
		if err != nil {
			t.Fatal(err)
		}
		claim(f, rec, hub.PendingKey{KeyID: "sk_pending", Ref: ref, At: f.clock.Now().Add(-time.Hour)})
		made := len(f.vault.Made())
		if v, err := f.keys.Rotate(f.ctx, f.admin); err != nil || v.SigningKeyID != "sk_pending" {
			t.Fatalf("rotation: %+v, %v", v, err)
		}
		if len(f.vault.Made()) != made {
			t.Fatal("a second key was made")
		}
	})
}

// TestRotatePackKeyFirstKey: a tenant with no key yet gets its first key
// from a rotation (one unendorsed entry, signing_key_created audited), and
// the next rotation a second later endorses a second key with it.
func TestRotatePackKeyFirstKey(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	if n := f.lineage(tenant); len(n) != 0 {
		t.Fatalf("tenant starts with keys: %+v", n)
	}
	v, err := f.keys.Rotate(f.ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	stored := f.lineage(tenant)
	if len(v.Lineage) != 1 || len(stored) != 1 || v.SigningKeyID != stored[0].KeyID ||
		v.Fingerprint != stored[0].Fingerprint || stored[0].Endorsement != nil || stored[0].ActiveUntil != nil {
		t.Fatalf("first key: answer %+v, stored %+v", v, stored)
	}
	if e := f.store.Audited(tenant, "signing_key_created"); len(e) != 1 || e[0].Detail["key_id"] != stored[0].KeyID {
		t.Fatalf("signing_key_created %+v", e)
	}
	f.clock.Advance(time.Second)
	if v, err := f.keys.Rotate(f.ctx, f.admin); err != nil || len(v.Lineage) != 2 {
		t.Fatalf("rotation a second later: %+v, %v", v, err)
	}
	if after := f.lineage(tenant); len(after) != 2 || after[1].Endorsement == nil || after[1].Endorsement.ByKeyID != stored[0].KeyID {
		t.Fatalf("second key not endorsed by the first: %+v", after)
	}
}

// TestRotatePackKeyTenants: each admin rotates only its own tenant's key.
func TestRotatePackKeyTenants(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	for _, tn := range []string{tenant, otherTenant} {
		if _, err := f.keys.Ensure(f.ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	acme := f.lineage(tenant)
	f.clock.Advance(time.Minute)
	v, err := f.keys.Rotate(f.ctx, f.otherAdmin)
	if err != nil || v.TenantID != otherTenant || len(v.Lineage) != 2 {
		t.Fatalf("globex rotation: %+v, %v", v, err)
	}
	if after := f.lineage(tenant); viewJSON(t, acme) != viewJSON(t, after) {
		t.Fatalf("acme's lineage changed: %+v", after)
	}
	if s := viewJSON(t, v); strings.Contains(s, acme[0].KeyID) || strings.Contains(s, acme[0].PublicKey) {
		t.Fatalf("globex sees acme's key: %s", s)
	}
}
