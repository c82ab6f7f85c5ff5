package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/storetest"
	"github.com/monsys/hub/internal/verify"
)

// The evidence-pack routes (SPEC 4, 7 and 8; docs/packs.md and
// docs/signing-keys.md) driven with request-pack.json, get-pack.json and
// rotate-pack-key.json through a handler of the Packs group backed by a
// real hub.Packs over in-memory ports.

// --- in-memory ports of hub.Packs

// --- fixture

// packsFx is apiFx whose handler serves the Packs route group over a real
// hub.Packs with in-memory ports and a clock the test moves.
type packsFx struct {
	*apiFx
	clock   *clocktest.Clock
	packs   *hub.Packs
	vault   *storetest.Vault
	objects *storetest.Objects
	starter *storetest.Builds
}

func newPacksFx(t *testing.T) *packsFx {
	t.Helper()
	return newPacksFxWith(t, hub.PackConfig{TempDir: t.TempDir()})
}

// newPacksFxWith is newPacksFx with the packs' configuration.
func newPacksFxWith(t *testing.T, cfg hub.PackConfig) *packsFx {
	t.Helper()
	c := clocktest.At(eventTime)
	f := &packsFx{apiFx: newAPIFxClock(t, c), clock: c,
		vault: &storetest.Vault{}, objects: storetest.NewObjects(), starter: &storetest.Builds{}}
	f.must(f.core.AddPacks(app.PackPorts{Vault: f.vault, Objects: f.objects, Starter: f.starter}, cfg))
	f.packs = f.core.Packs
	h, err := api.New(f.core.Services(), slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), api.Packs)
	f.must(err)
	f.h = h
	// A presigned link is a bearer credential for the pack: never logged.
	t.Cleanup(func() {
		for _, l := range f.objects.Links() {
			f.secrets = append(f.secrets, l.URL)
		}
		if strings.Contains(f.logs.String(), "X-Amz-Signature") {
			t.Errorf("the log carries a presigned link:\n%s", f.logs.String())
		}
	})
	return f
}

// call sends ev and checks the headers every answer carries.
func (f *packsFx) call(ev events.APIGatewayProxyRequest) result {
	f.t.Helper()
	r := f.send(ev)
	if r.Headers["Content-Type"] != "application/json" || r.Headers["Cache-Control"] != "no-store" || r.Headers["X-Request-Id"] != requestID {
		f.t.Fatalf("headers %v", r.Headers)
	}
	return r
}

// packIDShape is a pack id as the hub makes them: "pk_" and 120 random bits.
var packIDShape = regexp.MustCompile(`^pk_[a-z2-7]{24}$`)

// request sends request-pack.json and returns the new pack's id.
func (f *packsFx) request() string {
	f.t.Helper()
	r := f.call(event(f.t, "request-pack.json"))
	if r.Status != http.StatusAccepted {
		f.t.Fatalf("request: %d %s", r.Status, r.Body)
	}
	id, _ := r.json["pack_id"].(string)
	if !packIDShape.MatchString(id) {
		f.t.Fatalf("pack_id %q", id)
	}
	return id
}

// build runs the one build the handler started and wants it to succeed.
func (f *packsFx) build(id string) {
	f.t.Helper()
	q := f.starter.Take()
	if len(q) != 1 || q[0] != [2]string{tenant, id} {
		f.t.Fatalf("started builds %v, want [[%s %s]]", q, tenant, id)
	}
	if err := f.packs.BuildPack(f.ctx, q[0][0], q[0][1]); err != nil {
		f.t.Fatalf("build: %v", err)
	}
}

// lineage returns the tenant's stored lineage (nil without a record).
func (f *packsFx) lineage(tenantID string) pack.Lineage {
	rec, err := f.store.GetKeys(f.ctx, tenantID)
	if errors.Is(err, hub.ErrNotFound) {
		return nil
	}
	f.must(err)
	return rec.Lineage
}

// packCount is the number of packs of both tenants.
func (f *packsFx) packCount() int {
	return len(f.store.StoredPacks(tenant)) + len(f.store.StoredPacks(otherTenant))
}

// object returns the only version stored under key and its bytes.
func (f *packsFx) object(key string) (string, []byte) {
	f.t.Helper()
	vs := f.objects.Versions(key)
	if len(vs) != 1 {
		f.t.Fatalf("%d versions under %s, want 1", len(vs), key)
	}
	b, _ := f.objects.Object(key, vs[0])
	return vs[0], b
}

// putPack stores p as it is, as a finished build would have.
func (f *packsFx) putPack(p hub.Pack) {
	pending := p
	pending.Status = hub.PackPending
	f.must(f.store.CreatePack(f.ctx, pending))
	f.must(f.store.FinishPack(f.ctx, p))
}

// audits returns the tenant's audit events of one action, oldest first.
func (f *packsFx) audits(tenantID, action string) []hub.AuditEvent {
	var out []hub.AuditEvent
	for _, e := range f.store.AuditLog(tenantID) {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// marchAudit puts an audit event of each tenant into March 2026, the period
// of request-pack.json: acme's must be in acme's pack, globex's must not.
func (f *packsFx) marchAudit() {
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	f.must(f.store.AppendAudit(f.ctx, hub.AuditEvent{TenantID: tenant, ID: "ev_acmemarch", At: at, Action: "agent_registered",
		AgentID: agentID, Actor: "agent", Detail: map[string]string{"hostname": "web-01"}}))
	f.must(f.store.AppendAudit(f.ctx, hub.AuditEvent{TenantID: otherTenant, ID: "ev_globexmarch", At: at, Action: "agent_registered",
		Actor: "agent", Detail: map[string]string{"hostname": "globex-01"}}))
}

// getPackEvent is get-pack.json asking about pack id; expiresIn "" drops
// the query string, "-" keeps the file's.
func getPackEvent(t *testing.T, id, expiresIn string) events.APIGatewayProxyRequest {
	t.Helper()
	ev := event(t, "get-pack.json")
	p := api.Prefix + "/evidence-packs/" + id
	ev.Path, ev.RequestContext.Path = p, p
	ev.PathParameters = map[string]string{"proxy": strings.TrimPrefix(p, "/")}
	switch expiresIn {
	case "-":
	case "":
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = nil, nil
	default:
		ev.QueryStringParameters = map[string]string{"expires_in": expiresIn}
		ev.MultiValueQueryStringParameters = map[string][]string{"expires_in": {expiresIn}}
	}
	return ev
}

// asOther makes ev come from globex's admin with globex's operator certificate.
func asOther(t *testing.T, ev *events.APIGatewayProxyRequest) {
	setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
	setCert(t, ev, "other-operator.pem")
}

// wantKeys checks the exact member names of a JSON object.
func wantKeys(t *testing.T, m map[string]any, want string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != want {
		t.Fatalf("members %s, want %s", strings.Join(got, ","), want)
	}
}

// packViewKeys are the members of every pack view (docs/packs.md).
const packViewKeys = "download_url,expires_at,file_name,generated_at,manifest_sha256,pack_id,period_end,period_start," +
	"previous_pack,reason,records,requested_at,signing_key_id,size,status"

// pendingView is the answer for a pack requested at eventTime with request-pack.json.
func pendingView(id string) string {
	return `{"pack_id":"` + id + `","status":"pending","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",` +
		`"requested_at":"2026-04-01T10:00:00Z","generated_at":null,"file_name":null,"size":null,"records":null,` +
		`"signing_key_id":null,"manifest_sha256":null,"previous_pack":null,"download_url":null,"expires_at":null,"reason":null}`
}

// failedView is the answer for a pack of request-pack.json that failed with reason.
func failedView(id, reason string) string {
	return `{"pack_id":"` + id + `","status":"failed","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",` +
		`"requested_at":"2026-04-01T10:00:00Z","generated_at":null,"file_name":null,"size":null,"records":null,` +
		`"signing_key_id":null,"manifest_sha256":null,"previous_pack":null,"download_url":null,"expires_at":null,"reason":` + jsonString(reason) + `}`
}

// members reads a pack archive into its regular files.
func members(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// --- POST /evidence-packs

func TestRequestPack(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, ev *events.APIGatewayProxyRequest)
		status int
		code   hub.Code
		// for a 202: the period the pack holds
		start, end string
	}{
		{name: "ok/whole-month", status: 202, start: "2026-03-01T00:00:00Z", end: "2026-03-31T23:59:59Z"},
		{name: "ok/content-type-with-charset", status: 202, start: "2026-03-01T00:00:00Z", end: "2026-03-31T23:59:59Z",
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "content-type", "application/json; charset=utf-8")
			}},
		{name: "ok/offsets-normalized-to-utc", status: 202, start: "2026-03-01T00:00:00Z", end: "2026-03-02T00:00:00Z",
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T02:00:00+02:00","period_end":"2026-03-01T19:00:00-05:00"}`
			}},
		{name: "ok/366-days", status: 202, start: "2025-01-01T00:00:00Z", end: "2026-01-02T00:00:00Z",
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2025-01-01T00:00:00Z","period_end":"2026-01-02T00:00:00Z"}`
			}},
		{name: "ok/base64-body", status: 202, start: "2026-03-01T00:00:00Z", end: "2026-03-31T23:59:59Z",
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(ev.Body)), true
			}},

		{name: "fail/400/malformed-json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T00:00:00Z",`
			}},
		{name: "fail/400/empty-body", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = "" }},
		{name: "fail/400/array", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = `[` + ev.Body + `]` }},
		{name: "fail/400/two-objects", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body += ev.Body }},
		{name: "fail/400/missing-period", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = `{}` }},
		{name: "fail/400/missing-period-end", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T00:00:00Z"}`
			}},
		{name: "fail/400/missing-period-start", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_end":"2026-03-31T23:59:59Z"}`
			}},
		{name: "fail/400/null-period-start", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":null,"period_end":"2026-03-31T23:59:59Z"}`
			}},
		{name: "fail/400/end-before-start", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-31T23:59:59Z","period_end":"2026-03-01T00:00:00Z"}`
			}},
		{name: "fail/400/end-equals-start", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-01T00:00:00Z"}`
			}},
		{name: "fail/400/span-over-366-days", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2025-01-01T00:00:00Z","period_end":"2026-01-02T00:00:01Z"}`
			}},
		{name: "fail/400/date-only", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01","period_end":"2026-03-31"}`
			}},
		{name: "fail/400/no-zone", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T00:00:00","period_end":"2026-03-31T23:59:59"}`
			}},
		{name: "fail/400/numbers", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":1772323200,"period_end":1774997999}`
			}},
		{name: "fail/400/over-4KiB", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = strings.TrimSuffix(ev.Body, "}") + `,"note":"` + strings.Repeat("x", 4<<10) + `"}`
			}},
		{name: "fail/400/bad-base64", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.IsBase64Encoded = true }},

		{name: "fail/415/text-plain", status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setHeader(ev, "Content-Type", "text/plain") }},
		{name: "fail/415/form", status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "content-type", "application/x-www-form-urlencoded")
			}},
		{name: "fail/415/no-content-type", status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Content-Type") }},

		{name: "fail/401/no-admin-key", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Authorization") }},
		{name: "fail/401/unknown-admin-key", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+leakedKey)
			}},
		{name: "fail/401/agent-token", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+agentToken)
			}},
		{name: "fail/401/before-body-checks", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				delHeader(ev, "Authorization")
				setHeader(ev, "Content-Type", "text/plain")
				ev.Body = "{"
			}},

		{name: "fail/403/other-tenants-operator-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "other-operator.pem") }},
		{name: "fail/403/other-tenants-key-with-our-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
			}},
		{name: "fail/403/agent-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "agent.pem") }},
		{name: "fail/403/enrollment-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "enrollment.pem") }},
		{name: "fail/403/no-client-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "") }},

		{name: "fail/404/get-method", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodGet }},
		{name: "fail/404/put-method", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodPut }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPacksFx(t)
			ev := event(t, "request-pack.json")
			if tt.mutate != nil {
				tt.mutate(t, &ev)
			}
			r := f.call(ev)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if r.Headers["Retry-After"] != "" {
				t.Fatalf("Retry-After %q", r.Headers["Retry-After"])
			}
			if tt.code != "" {
				wantEnvelope(t, r, tt.code)
				// Nothing was created, started or audited.
				if n, q := f.packCount(), f.starter.Take(); n != 0 || len(q) != 0 {
					t.Fatalf("a refused request created %d packs and started %v", n, q)
				}
				for _, tn := range []string{tenant, otherTenant} {
					if a := f.audits(tn, "pack_requested"); len(a) != 0 {
						t.Fatalf("a refused request was audited: %+v", a)
					}
				}
				return
			}
			id := str(r.json["pack_id"])
			if !packIDShape.MatchString(id) {
				t.Fatalf("pack_id %q", id)
			}
			wantKeys(t, r.json, packViewKeys)
			want := strings.NewReplacer("2026-03-01T00:00:00Z", tt.start, "2026-03-31T23:59:59Z", tt.end).Replace(pendingView(id))
			wantJSON(t, r, want)
			// The pack is stored pending under the admin's tenant, its
			// build is started, and the request is audited.
			p, err := f.store.GetPack(f.ctx, tenant, id)
			if err != nil || p.Status != hub.PackPending || pack.TimeString(p.PeriodStart) != tt.start || pack.TimeString(p.PeriodEnd) != tt.end {
				t.Fatalf("stored %+v, %v", p, err)
			}
			if q := f.starter.Take(); len(q) != 1 || q[0] != [2]string{tenant, id} {
				t.Fatalf("started %v", q)
			}
			a := f.audits(tenant, "pack_requested")
			if len(a) != 1 || a[0].Actor != "admin" || !a[0].At.Equal(eventTime) || a[0].Detail["pack_id"] != id ||
				a[0].Detail["period_start"] != tt.start || a[0].Detail["period_end"] != tt.end {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

// TestRequestPackTwice: every request is a new pack.
func TestRequestPackTwice(t *testing.T) {
	f := newPacksFx(t)
	a, b := f.request(), f.request()
	if a == b || f.packCount() != 2 || len(f.starter.Take()) != 2 {
		t.Fatalf("two requests gave %s and %s, %d packs", a, b, f.packCount())
	}
}

// TestRequestPackStartFails: a build that cannot be started is 503 with
// Retry-After, and the pack, whose id the admin never saw, is failed.
func TestRequestPackStartFails(t *testing.T) {
	f := newPacksFx(t)
	f.starter.Fail(fmt.Errorf("invoke monsys-pack: %w", errSecret))
	r := f.call(event(t, "request-pack.json"))
	if r.Status != 503 || r.Headers["Retry-After"] != "5" {
		t.Fatalf("status %d, Retry-After %q: %s", r.Status, r.Headers["Retry-After"], r.Body)
	}
	wantEnvelope(t, r, hub.CodeUnavailable)
	for _, s := range []string{leakedKey, leakedToken, "dynamodb", "invoke"} {
		if strings.Contains(r.Body, s) {
			t.Fatalf("503 body carries %q: %s", s, r.Body)
		}
	}
	failed := f.audits(tenant, "pack_failed")
	if len(failed) != 1 || failed[0].Detail["reason"] != "build: the build could not be started; request the pack again" {
		t.Fatalf("pack_failed audit %+v", failed)
	}
	p, err := f.store.GetPack(f.ctx, tenant, failed[0].Detail["pack_id"])
	if err != nil || p.Status != hub.PackFailed {
		t.Fatalf("stored %+v, %v", p, err)
	}
}

// --- GET /evidence-packs/{id}

func TestGetPackPending(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.clock.Advance(time.Minute)
	r := f.call(getPackEvent(t, id, "-"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantJSON(t, r, pendingView(id))
	if n := len(f.objects.Links()); n != 0 {
		t.Fatalf("%d links for a pending pack", n)
	}
	if a := f.audits(tenant, "pack_link_issued"); len(a) != 0 {
		t.Fatalf("link audited for a pending pack: %+v", a)
	}
}

// TestGetPackReady: request, build, then GET without expires_in: a ready
// pack with a fresh 15-minute link to the stored object version, audited.
func TestGetPackReady(t *testing.T) {
	f := newPacksFx(t)
	f.marchAudit()
	id := f.request()
	f.clock.Advance(2 * time.Minute) // the build runs at 10:02:00
	f.build(id)
	f.clock.Advance(3 * time.Minute) // the admin asks at 10:05:00
	r := f.call(getPackEvent(t, id, ""))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantKeys(t, r.json, packViewKeys)

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
	if records != 2 || !bytes.Contains(m["data/audit_log/audit_log.ndjson"], []byte("ev_acmemarch")) {
		t.Fatalf("%d records; audit log %s", records, m["data/audit_log/audit_log.ndjson"])
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
	want := fmt.Sprintf(`{"pack_id":%q,"status":"ready","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",`+
		`"requested_at":"2026-04-01T10:00:00Z","generated_at":"2026-04-01T10:02:00Z","file_name":%q,"size":%d,"records":%d,`+
		`"signing_key_id":%q,"manifest_sha256":%q,"previous_pack":null,"download_url":%s,"expires_at":"2026-04-01T10:20:00Z","reason":null}`,
		id, name, len(obj), records, keyID, hex.EncodeToString(sum[:]), jsonString(l.URL))
	wantJSON(t, r, want)

	a := f.audits(tenant, "pack_link_issued")
	if len(a) != 1 || a[0].Actor != "admin" || !a[0].At.Equal(eventTime.Add(5*time.Minute)) || a[0].Detail["pack_id"] != id ||
		a[0].Detail["expires_at"] != "2026-04-01T10:20:00Z" || !strings.HasPrefix(a[0].Detail["link_id"], "ln_") {
		t.Fatalf("pack_link_issued %+v", a)
	}
	if b := f.audits(tenant, "pack_built"); len(b) != 1 || b[0].Detail["pack_id"] != id || b[0].Detail["manifest_sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("pack_built %+v", b)
	}
}

// TestGetPackQuarantine: a stored batch the pack cannot hold (stored before
// check 7 refused it, or damaged) does not fail the pack: it is ready, the
// batch has its quarantine line and no record of it is packed, and the
// verifier passes the pack with a warning (SPEC 9).
func TestGetPackQuarantine(t *testing.T) {
	f := newPacksFx(t)
	body := []byte(`[{"type":"metric","ts":"2026-03-10T00:00:00Z","v":1e400}]`)
	sha := pack.SHA256Hex(body)
	f.must(f.store.PutBatch(f.ctx, hub.StoredBatch{TenantID: tenant, AgentID: agentID, Key: "u#" + sha, SHA: sha, Body: body, Records: 1,
		MinTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), MaxTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), Days: []string{"2026-03-10"},
		ReceivedAt: eventTime.Add(-time.Hour)}))
	id := f.request()
	f.build(id)
	if r := f.call(getPackEvent(t, id, "")); r.Status != 200 || r.json["status"] != "ready" {
		t.Fatalf("pack: %d %s", r.Status, r.Body)
	}
	_, obj := f.object("packs/acme/" + id + "/evidence_acme_march-2026.tar.gz")
	m := members(t, obj)
	want := `{"batch_key":"u#` + sha + `","body_sha256":"` + sha + `",` +
		`"quarantined":"record 0: number 1e400 is outside the IEEE 754 double range at byte 50",` +
		`"received_at":"2026-04-01T09:00:00Z","records":1,"records_in_period":0,"seq":null,"signature":null,"signed":false,"type":"batch"}` + "\n"
	if got := string(m["data/agents/"+agentID+"/batch.ndjson"]); got != want {
		t.Fatalf("batch.ndjson\n%s\nwant\n%s", got, want)
	}
	if b, ok := m["data/agents/"+agentID+"/metric.ndjson"]; ok {
		t.Fatalf("a quarantined record is packed: %s", b)
	}
	if !bytes.Contains(m["data/agents.ndjson"], []byte(agentID)) {
		t.Fatalf("agents.ndjson does not name the agent: %s", m["data/agents.ndjson"])
	}
	rep, err := verify.VerifyReader(bytes.NewReader(obj), verify.Options{})
	if err != nil || !rep.OK || !strings.Contains(rep.Text(), "⚠ Quarantined batch (records not packed): agent "+agentID+", batch u#"+sha+": record 0: number 1e400") {
		t.Fatalf("verify: %v\n%s", err, rep.Text())
	}
}

// TestGetPackFile sends get-pack.json as it is (expires_in=3600) for a
// ready pack stored under the file's id.
func TestGetPackFile(t *testing.T) {
	f := newPacksFx(t)
	const name = "evidence_acme_march-2026.tar.gz"
	key := "packs/acme/" + packID + "/" + name
	version := f.objects.Put(key, []byte("a pack"))
	gen := eventTime.Add(-time.Hour)
	f.putPack(hub.Pack{TenantID: tenant, PackID: packID, Status: hub.PackReady,
		PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC),
		RequestedAt: gen.Add(-time.Minute), GeneratedAt: gen, FinishedAt: gen, ObjectKey: key, ObjectVersion: version, FileName: name,
		Size: 6, Records: 12, ManifestSHA256: strings.Repeat("ab", 32), SigningKeyID: "sk_apitestkey",
		Previous: &pack.PackRef{PackID: "pk_apitestprevious", ManifestSHA256: strings.Repeat("cd", 32)}})
	r := f.call(event(t, "get-pack.json"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	links := f.objects.Links()
	if len(links) != 1 || links[0].Key != key || links[0].Version != version || links[0].TTL != time.Hour {
		t.Fatalf("presigned %+v", links)
	}
	wantJSON(t, r, `{"pack_id":"`+packID+`","status":"ready","period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z",`+
		`"requested_at":"2026-04-01T08:59:00Z","generated_at":"2026-04-01T09:00:00Z","file_name":"`+name+`","size":6,"records":12,`+
		`"signing_key_id":"sk_apitestkey","manifest_sha256":"`+strings.Repeat("ab", 32)+`",`+
		`"previous_pack":{"pack_id":"pk_apitestprevious","manifest_sha256":"`+strings.Repeat("cd", 32)+`"},`+
		`"download_url":`+jsonString(links[0].URL)+`,"expires_at":"2026-04-01T11:00:00Z","reason":null}`)
	if a := f.audits(tenant, "pack_link_issued"); len(a) != 1 || a[0].Detail["expires_at"] != "2026-04-01T11:00:00Z" {
		t.Fatalf("pack_link_issued %+v", a)
	}
}

// TestGetPackExpiresIn: expires_in is seconds (or a Go duration) from 1 s
// to 7 days (SPEC 8); anything else is 400 and issues no link.
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
			f := newPacksFx(t)
			id := f.request()
			f.build(id)
			f.clock.Advance(time.Minute)
			r := f.call(getPackEvent(t, id, tt.value))
			links, audited := f.objects.Links(), f.audits(tenant, "pack_link_issued")
			if tt.ttl == 0 {
				if r.Status != 400 {
					t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
				}
				wantEnvelope(t, r, hub.CodeInvalidRequest)
				if len(links) != 0 || len(audited) != 0 {
					t.Fatalf("a refused request issued %d links, audited %d", len(links), len(audited))
				}
				return
			}
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			exp := pack.TimeString(eventTime.Add(time.Minute + tt.ttl))
			if len(links) != 1 || links[0].TTL != tt.ttl || r.json["download_url"] != links[0].URL || r.json["expires_at"] != exp {
				t.Fatalf("links %+v; body %s; want expires_at %s", links, r.Body, exp)
			}
			if len(audited) != 1 || audited[0].Detail["expires_at"] != exp {
				t.Fatalf("pack_link_issued %+v", audited)
			}
		})
	}
}

// TestGetPackEveryLinkAudited: each GET presigns a new link, and each link
// issued is its own audit event with the answer's expires_at.
func TestGetPackEveryLinkAudited(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.build(id)
	var answers []result
	for _, ttl := range []string{"", "60", "3600"} {
		f.clock.Advance(time.Minute)
		r := f.call(getPackEvent(t, id, ttl))
		if r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		answers = append(answers, r)
	}
	links, audited := f.objects.Links(), f.audits(tenant, "pack_link_issued")
	if len(links) != 3 || len(audited) != 3 {
		t.Fatalf("%d links, %d audit events, want 3 and 3", len(links), len(audited))
	}
	wantExp := []string{"2026-04-01T10:16:00Z", "2026-04-01T10:03:00Z", "2026-04-01T11:03:00Z"}
	ids := map[string]bool{}
	for i, r := range answers {
		if r.json["download_url"] != links[i].URL || r.json["expires_at"] != wantExp[i] {
			t.Fatalf("answer %d: %s, want link %s expiring %s", i, r.Body, links[i].URL, wantExp[i])
		}
		e := audited[i]
		if e.Detail["pack_id"] != id || e.Detail["expires_at"] != wantExp[i] || !e.At.Equal(eventTime.Add(time.Duration(i+1)*time.Minute)) {
			t.Fatalf("audit %d: %+v", i, e)
		}
		ids[e.Detail["link_id"]] = true
		ids[e.ID] = true
	}
	if len(ids) != 6 || links[0].URL == links[1].URL || links[1].URL == links[2].URL {
		t.Fatalf("links or their audit events repeat: %v %+v", ids, links)
	}
}

// TestGetPackRefused: who may not see a ready pack, and what unknown ids get.
// Another tenant's admin gets the answer of an id that does not exist.
func TestGetPackRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, ev *events.APIGatewayProxyRequest, id string)
		status int
		code   hub.Code
	}{
		{name: "fail/404/unknown-id", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { *ev = getPackEvent(t, packID, "-") }},
		{name: "fail/404/malformed-id", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				*ev = getPackEvent(t, "not-a-pack", "-")
			}},
		{name: "fail/404/upper-case-id", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				*ev = getPackEvent(t, strings.ToUpper(id), "-")
			}},
		{name: "fail/404/head-item", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { *ev = getPackEvent(t, "_head", "-") }},
		{name: "fail/404/other-tenants-admin", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { asOther(t, ev) }},
		{name: "fail/404/empty-id", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { *ev = getPackEvent(t, "", "-") }},
		{name: "fail/404/post-method", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { ev.HTTPMethod = http.MethodPost }},
		{name: "fail/401/no-admin-key", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { delHeader(ev, "Authorization") }},
		{name: "fail/401/unknown-admin-key", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				setHeader(ev, "Authorization", "Bearer "+leakedKey)
			}},
		{name: "fail/401/agent-token", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				setHeader(ev, "Authorization", "Bearer "+agentToken)
			}},
		{name: "fail/401/key-without-bearer", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				setHeader(ev, "Authorization", adminKey)
			}},
		{name: "fail/403/other-tenants-operator-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { setCert(t, ev, "other-operator.pem") }},
		{name: "fail/403/other-tenants-key-with-our-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) {
				setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
			}},
		{name: "fail/403/agent-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { setCert(t, ev, "agent.pem") }},
		{name: "fail/403/no-client-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest, id string) { setCert(t, ev, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPacksFx(t)
			id := f.request()
			f.build(id)
			ev := getPackEvent(t, id, "-")
			tt.mutate(t, &ev, id)
			r := f.call(ev)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			wantEnvelope(t, r, tt.code)
			if n := len(f.objects.Links()); n != 0 {
				t.Fatalf("a refused request presigned %d links", n)
			}
			for _, tn := range []string{tenant, otherTenant} {
				if a := f.audits(tn, "pack_link_issued"); len(a) != 0 {
					t.Fatalf("a refused request issued a link: %+v", a)
				}
			}
			if strings.Contains(r.Body, "X-Amz") || strings.Contains(r.Body, "manifest") || strings.Contains(r.Body, "evidence_") {
				t.Fatalf("the refusal tells about the pack: %s", r.Body)
			}
		})
	}
}

// TestGetPackOtherTenantSameAsUnknown: SPEC 4, an admin of tenant B asking
// about tenant A's pack gets exactly the answer for an id that does not exist.
func TestGetPackOtherTenantSameAsUnknown(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.build(id)
	ev := getPackEvent(t, id, "-")
	asOther(t, &ev)
	theirs := f.call(ev)
	// globex's own id space: an id nobody has.
	ev = getPackEvent(t, packID, "-")
	asOther(t, &ev)
	unknown := f.call(ev)
	if theirs.Status != 404 || unknown.Status != 404 || strings.ReplaceAll(theirs.Body, id, "ID") != strings.ReplaceAll(unknown.Body, packID, "ID") {
		t.Fatalf("another tenant's pack: %d %s\nan unknown pack: %d %s", theirs.Status, theirs.Body, unknown.Status, unknown.Body)
	}
	// And the pack is still acme's and fine.
	if r := f.call(getPackEvent(t, id, "-")); r.Status != 200 || r.json["status"] != "ready" {
		t.Fatalf("owner: %d %s", r.Status, r.Body)
	}
}

// TestGetPackFailed: a build that fails shows "failed" with a reason that
// names the cause (backend, kms, s3 or build) and nothing of the error
// itself, and no link; the tenant's next pack builds.
func TestGetPackFailed(t *testing.T) {
	tests := []struct {
		name   string
		fault  func(f *packsFx)
		reason string
	}{
		{"fail/upload", func(f *packsFx) { f.objects.FailUploads(fmt.Errorf("s3: UploadPart: %w", errSecret)) },
			"s3: storing the pack failed; request the pack again"},
		{"fail/signing-key", func(f *packsFx) { f.vault.Fail(fmt.Errorf("kms: GetPublicKey: %w", errSecret)) },
			"kms: the tenant's signing key is unavailable; request the pack again"},
		{"fail/signature", func(f *packsFx) { f.vault.FailSigning(fmt.Errorf("kms: Sign: %w", errSecret)) },
			"kms: the tenant's signing key could not sign the pack; request the pack again"},
		{"fail/read-period", func(f *packsFx) { f.store.FailNext("PeriodBatches", fmt.Errorf("dynamodb: Query: %w", errSecret)) },
			"backend: the tenant's data could not be read; request the pack again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPacksFx(t)
			id := f.request()
			tt.fault(f)
			q := f.starter.Take()
			if len(q) != 1 {
				t.Fatalf("started %v", q)
			}
			if err := f.packs.BuildPack(f.ctx, q[0][0], q[0][1]); !errors.Is(err, hub.ErrPackFailed) {
				t.Fatalf("build: %v, want ErrPackFailed", err)
			}
			r := f.call(getPackEvent(t, id, "-"))
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			wantJSON(t, r, failedView(id, tt.reason))
			if f.objects.Count() != 0 || len(f.objects.Links()) != 0 || len(f.audits(tenant, "pack_link_issued")) != 0 {
				t.Fatalf("a failed pack left %d objects, %d links", f.objects.Count(), len(f.objects.Links()))
			}
			if a := f.audits(tenant, "pack_failed"); len(a) != 1 || a[0].Detail["pack_id"] != id || a[0].Detail["reason"] != tt.reason {
				t.Fatalf("pack_failed %+v", a)
			}
			// The failure released the tenant's build lease.
			f.objects.FailUploads(nil)
			f.vault.Fail(nil)
			f.vault.FailSigning(nil)
			f.clock.Advance(time.Second)
			next := f.request()
			f.build(next)
			if r := f.call(getPackEvent(t, next, "-")); r.Status != 200 || r.json["status"] != "ready" {
				t.Fatalf("next pack: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestGetPackStale: a pack still pending long after its build should have
// ended (lease 15 m + wait 2 m + 1 m) is reported, and kept, as failed.
func TestGetPackStale(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.starter.Take() // the build never runs
	f.clock.Advance(18 * time.Minute)
	if r := f.call(getPackEvent(t, id, "-")); r.Status != 200 || r.json["status"] != "pending" {
		t.Fatalf("at 18 minutes: %d %s", r.Status, r.Body)
	}
	f.clock.Advance(time.Second)
	r := f.call(getPackEvent(t, id, "-"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	const reason = "build: the build did not finish; request the pack again"
	wantJSON(t, r, failedView(id, reason))
	if p, _ := f.store.GetPack(f.ctx, tenant, id); p.Status != hub.PackFailed || p.Reason != reason {
		t.Fatalf("stored %+v", p)
	}
	// A late build leaves the failed pack alone.
	if err := f.packs.BuildPack(f.ctx, tenant, id); err != nil || f.objects.Count() != 0 {
		t.Fatalf("late build: %v, %d objects", err, f.objects.Count())
	}
}

// TestGetPackChain: the second pack of a tenant names the first one.
func TestGetPackChain(t *testing.T) {
	f := newPacksFx(t)
	first := f.request()
	f.build(first)
	r1 := f.call(getPackEvent(t, first, "-"))
	f.clock.Advance(time.Hour)
	second := f.request()
	f.build(second)
	r2 := f.call(getPackEvent(t, second, "-"))
	prev, _ := r2.json["previous_pack"].(map[string]any)
	if r1.json["previous_pack"] != nil || len(prev) != 2 || prev["pack_id"] != first || prev["manifest_sha256"] != r1.json["manifest_sha256"] {
		t.Fatalf("first %s\nsecond %s", r1.Body, r2.Body)
	}
}

// --- POST /signing-keys/rotate

// lineageJSON decodes the key_lineage of a rotation answer.
func lineageJSON(t *testing.T, r result) []map[string]any {
	t.Helper()
	raw, _ := r.json["key_lineage"].([]any)
	var out []map[string]any
	for _, e := range raw {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("lineage entry %v", e)
		}
		wantKeys(t, m, "active_from,active_until,endorsement,fingerprint,key_id,public_key")
		out = append(out, m)
	}
	return out
}

// fingerprint is SPEC 7's, computed here from the base64 public key.
func fingerprint(t *testing.T, b64 string) string {
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
func wantEndorsed(t *testing.T, prev, entry map[string]any) {
	t.Helper()
	end, _ := entry["endorsement"].(map[string]any)
	if len(end) != 2 || end["by_key_id"] != prev["key_id"] {
		t.Fatalf("endorsement %v, want one by %v", entry["endorsement"], prev["key_id"])
	}
	// Flat members, plain ASCII strings and null: encoding/json with sorted
	// keys is RFC 8785 here.
	msg, err := json.Marshal(map[string]any{"active_from": entry["active_from"], "active_until": nil,
		"fingerprint": entry["fingerprint"], "key_id": entry["key_id"], "public_key": entry["public_key"]})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	sig, err := hex.DecodeString(str(end["signature"]))
	pub, _ := base64.StdEncoding.DecodeString(str(prev["public_key"]))
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, digest[:], sig) {
		t.Fatalf("endorsement of %v by %v does not verify over %s", entry["key_id"], prev["key_id"], msg)
	}
}

var keyIDShape = regexp.MustCompile(`^sk_[a-z2-7]{24}$`)

func TestRotatePackKey(t *testing.T) {
	f := newPacksFx(t)
	// acme's first key, made by its first pack at 10:00:00.
	old := f.request()
	f.build(old)
	first := f.lineage(tenant)[0]
	f.clock.Advance(time.Hour)

	r := f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantKeys(t, r.json, "fingerprint,key_lineage,signing_key_id,tenant_id")
	l := lineageJSON(t, r)
	if len(l) != 2 {
		t.Fatalf("lineage of %d entries: %s", len(l), r.Body)
	}
	out, in := l[0], l[1]
	newID := str(in["key_id"])
	if r.json["tenant_id"] != tenant || r.json["signing_key_id"] != newID || !keyIDShape.MatchString(newID) || newID == first.KeyID ||
		r.json["fingerprint"] != in["fingerprint"] || in["fingerprint"] != fingerprint(t, str(in["public_key"])) {
		t.Fatalf("body %s", r.Body)
	}
	// The outgoing entry is the first key, closed now, unendorsed.
	if out["key_id"] != first.KeyID || out["public_key"] != first.PublicKey || out["fingerprint"] != fingerprint(t, first.PublicKey) ||
		out["active_from"] != "2026-04-01T10:00:00Z" || out["active_until"] != "2026-04-01T11:00:00Z" || out["endorsement"] != nil {
		t.Fatalf("outgoing entry %v", out)
	}
	// The incoming entry is active from now, open, endorsed by the outgoing key.
	if in["active_from"] != "2026-04-01T11:00:00Z" || in["active_until"] != nil {
		t.Fatalf("incoming entry %v", in)
	}
	wantEndorsed(t, out, in)
	// The key is the vault's key of that id, and the stored lineage is the answer's.
	if want := base64.StdEncoding.EncodeToString(storetest.VaultKey(tenant, newID).Public().(ed25519.PublicKey)); in["public_key"] != want {
		t.Fatalf("public_key %v, want the vault's %s", in["public_key"], want)
	}
	stored, err := json.Marshal(f.lineage(tenant))
	f.must(err)
	var a, b any
	f.must(json.Unmarshal(stored, &a))
	f.must(json.Unmarshal([]byte(r.Body), &b))
	if !equalJSON(a, b.(map[string]any)["key_lineage"]) {
		t.Fatalf("stored lineage %s, answer %s", stored, r.Body)
	}
	if e := f.audits(tenant, "signing_key_rotated"); len(e) != 1 || e[0].Actor != "admin" || e[0].Detail["key_id"] != newID ||
		e[0].Detail["previous_key_id"] != first.KeyID || e[0].Detail["fingerprint"] != in["fingerprint"] {
		t.Fatalf("signing_key_rotated %+v", e)
	}

	// The next pack is signed with the new key; the old pack keeps its own.
	f.clock.Advance(time.Minute)
	next := f.request()
	f.build(next)
	if r := f.call(getPackEvent(t, next, "-")); r.json["signing_key_id"] != newID {
		t.Fatalf("next pack: %s", r.Body)
	}
	if r := f.call(getPackEvent(t, old, "-")); r.json["signing_key_id"] != first.KeyID {
		t.Fatalf("old pack: %s", r.Body)
	}

	// A second rotation chains on: the second key endorses the third.
	f.clock.Advance(24 * time.Hour)
	r = f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 200 {
		t.Fatalf("second rotation: %d %s", r.Status, r.Body)
	}
	l = lineageJSON(t, r)
	if len(l) != 3 || l[0]["active_until"] != "2026-04-01T11:00:00Z" || l[1]["key_id"] != newID ||
		l[1]["active_until"] != "2026-04-02T11:01:00Z" || l[2]["active_from"] != "2026-04-02T11:01:00Z" || l[2]["active_until"] != nil ||
		r.json["signing_key_id"] != l[2]["key_id"] {
		t.Fatalf("second rotation %s", r.Body)
	}
	wantEndorsed(t, l[0], l[1])
	wantEndorsed(t, l[1], l[2])
	if n := f.lineage(otherTenant); n != nil {
		t.Fatalf("globex got a lineage: %+v", n)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestRotatePackKeySameSecond: windows are whole seconds, so a second
// rotation within the second of the previous one is refused with 409
// conflict (SPEC 4: a concurrent change of the same thing won; retry) and the
// lineage stays as it was.
func TestRotatePackKeySameSecond(t *testing.T) {
	f := newPacksFx(t)
	_, err := f.core.Keys.Ensure(f.ctx, tenant)
	f.must(err)
	f.clock.Advance(time.Minute)
	if r := f.call(event(t, "rotate-pack-key.json")); r.Status != 200 {
		t.Fatalf("first rotation: %d %s", r.Status, r.Body)
	}
	before := f.lineage(tenant)
	r := f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 409 {
		t.Fatalf("status %d, want 409: %s", r.Status, r.Body)
	}
	wantEnvelope(t, r, hub.CodeConflict)
	if r.Headers["Retry-After"] != "1" { // says when to retry
		t.Fatalf("Retry-After %q", r.Headers["Retry-After"])
	}
	if after := f.lineage(tenant); !equalJSON(before, after) || len(after) != 2 {
		t.Fatalf("lineage changed: %+v", after)
	}
	f.clock.Advance(time.Second)
	if r := f.call(event(t, "rotate-pack-key.json")); r.Status != 200 || len(lineageJSON(t, r)) != 3 {
		t.Fatalf("rotation a second later: %d %s", r.Status, r.Body)
	}
}

// TestRotatePackKeyClaims: a new key is made in the vault only by the
// request that claimed the tenant's pending slot (docs/signing-keys.md). A
// live claim of another request is 409 conflict and makes no key; a claim
// older than hub.KeyClaimLease is taken over; a failed vault call frees its
// claim at once; a key a crashed rotation made and recorded is reused.
func TestRotatePackKeyClaims(t *testing.T) {
	setup := func(t *testing.T) (*packsFx, hub.KeyRecord) {
		f := newPacksFx(t)
		rec, err := f.core.Keys.Ensure(f.ctx, tenant)
		f.must(err)
		f.clock.Advance(time.Minute)
		return f, rec
	}
	rotate := func(f *packsFx) result { return f.call(event(f.t, "rotate-pack-key.json")) }
	claim := func(f *packsFx, rec hub.KeyRecord, p hub.PendingKey) {
		rec.Version++
		rec.Pending = &p
		f.must(f.store.PutKeys(f.ctx, rec))
	}

	t.Run("fail/live-claim-is-conflict", func(t *testing.T) {
		f, rec := setup(t)
		claim(f, rec, hub.PendingKey{KeyID: "sk_claimed", At: f.clock.Now().Add(-time.Second)})
		made := len(f.vault.Made())
		r := rotate(f)
		if r.Status != 409 || r.Headers["Retry-After"] != "1" {
			t.Fatalf("status %d, Retry-After %q: %s", r.Status, r.Headers["Retry-After"], r.Body)
		}
		wantEnvelope(t, r, hub.CodeConflict)
		if len(f.vault.Made()) != made || len(f.lineage(tenant)) != 1 {
			t.Fatalf("a key was made (%d, was %d) or the lineage changed", len(f.vault.Made()), made)
		}
	})
	t.Run("ok/stale-claim-is-taken-over", func(t *testing.T) {
		f, rec := setup(t)
		claim(f, rec, hub.PendingKey{KeyID: "sk_claimed", At: f.clock.Now()})
		f.clock.Advance(hub.KeyClaimLease)
		if r := rotate(f); r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if l := f.lineage(tenant); len(l) != 2 || l[1].KeyID == "sk_claimed" {
			t.Fatalf("lineage %+v", l)
		}
	})
	t.Run("ok/vault-failure-frees-the-claim", func(t *testing.T) {
		f, _ := setup(t)
		f.vault.Fail(errors.New("kms: unavailable"))
		if r := rotate(f); r.Status != 500 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		f.vault.Fail(nil)
		if rec, err := f.store.GetKeys(f.ctx, tenant); err != nil || rec.Pending != nil {
			t.Fatalf("claim left after the failure: %+v, %v", rec.Pending, err)
		}
		if r := rotate(f); r.Status != 200 { // at once, not after the lease
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("ok/recorded-pending-key-is-reused", func(t *testing.T) {
		f, rec := setup(t)
		ref, _, err := f.vault.NewKey(f.ctx, tenant, "sk_pending")
		f.must(err)
		claim(f, rec, hub.PendingKey{KeyID: "sk_pending", Ref: ref, At: f.clock.Now().Add(-time.Hour)})
		made := len(f.vault.Made())
		if r := rotate(f); r.Status != 200 || r.json["signing_key_id"] != "sk_pending" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if len(f.vault.Made()) != made {
			t.Fatal("a second key was made")
		}
	})
}

// TestRotatePackKeyFirstKey: a tenant with no key yet gets its first key
// from a rotation (200, one unendorsed entry, signing_key_created audited),
// and the next rotation a second later endorses a second key with it.
func TestRotatePackKeyFirstKey(t *testing.T) {
	f := newPacksFx(t)
	if n := f.lineage(tenant); len(n) != 0 {
		t.Fatalf("tenant starts with keys: %+v", n)
	}
	r := f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	l := lineageJSON(t, r)
	stored := f.lineage(tenant)
	if len(l) != 1 || len(stored) != 1 || r.json["signing_key_id"] != stored[0].KeyID ||
		r.json["fingerprint"] != stored[0].Fingerprint || stored[0].Endorsement != nil || stored[0].ActiveUntil != nil {
		t.Fatalf("first key: answer %s, stored %+v", r.Body, stored)
	}
	f.clock.Advance(time.Second)
	r = f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 200 || len(lineageJSON(t, r)) != 2 {
		t.Fatalf("rotation a second later: %d %s", r.Status, r.Body)
	}
	if after := f.lineage(tenant); len(after) != 2 || after[1].Endorsement == nil || after[1].Endorsement.ByKeyID != stored[0].KeyID {
		t.Fatalf("second key not endorsed by the first: %+v", after)
	}
}

// TestRotatePackKeyTenants: each admin rotates only its own tenant's key.
func TestRotatePackKeyTenants(t *testing.T) {
	f := newPacksFx(t)
	for _, tn := range []string{tenant, otherTenant} {
		_, err := f.core.Keys.Ensure(f.ctx, tn)
		f.must(err)
	}
	acme := f.lineage(tenant)
	f.clock.Advance(time.Minute)
	ev := event(t, "rotate-pack-key.json")
	asOther(t, &ev)
	r := f.call(ev)
	if r.Status != 200 || r.json["tenant_id"] != otherTenant || len(lineageJSON(t, r)) != 2 {
		t.Fatalf("globex rotation: %d %s", r.Status, r.Body)
	}
	if after := f.lineage(tenant); !equalJSON(acme, after) {
		t.Fatalf("acme's lineage changed: %+v", after)
	}
	if strings.Contains(r.Body, acme[0].KeyID) || strings.Contains(r.Body, acme[0].PublicKey) {
		t.Fatalf("globex sees acme's key: %s", r.Body)
	}
}

// TestRotatePackKeyRefused: without the right credentials nothing rotates
// and no key is made.
func TestRotatePackKeyRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, ev *events.APIGatewayProxyRequest)
		status int
		code   hub.Code
	}{
		{"fail/401/no-admin-key", func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Authorization") }, 401, hub.CodeUnauthorized},
		{"fail/401/unknown-admin-key", func(t *testing.T, ev *events.APIGatewayProxyRequest) {
			setHeader(ev, "Authorization", "Bearer "+leakedKey)
		}, 401, hub.CodeUnauthorized},
		{"fail/401/agent-token", func(t *testing.T, ev *events.APIGatewayProxyRequest) {
			setHeader(ev, "Authorization", "Bearer "+agentToken)
		}, 401, hub.CodeUnauthorized},
		{"fail/403/other-tenants-operator-cert", func(t *testing.T, ev *events.APIGatewayProxyRequest) {
			setCert(t, ev, "other-operator.pem")
		}, 403, hub.CodeForbidden},
		{"fail/403/other-tenants-key-with-our-cert", func(t *testing.T, ev *events.APIGatewayProxyRequest) {
			setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
		}, 403, hub.CodeForbidden},
		{"fail/403/enrollment-cert", func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "enrollment.pem") }, 403, hub.CodeForbidden},
		{"fail/403/no-client-cert", func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "") }, 403, hub.CodeForbidden},
		{"fail/404/get-method", func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodGet }, 404, hub.CodeNotFound},
		{"fail/404/key-id-in-path", func(t *testing.T, ev *events.APIGatewayProxyRequest) {
			ev.Path = api.Prefix + "/signing-keys/sk_apitestkey/rotate"
		}, 404, hub.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPacksFx(t)
			_, err := f.core.Keys.Ensure(f.ctx, tenant)
			f.must(err)
			before := f.lineage(tenant)
			f.clock.Advance(time.Minute)
			ev := event(t, "rotate-pack-key.json")
			tt.mutate(t, &ev)
			r := f.call(ev)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			wantEnvelope(t, r, tt.code)
			if after := f.lineage(tenant); !equalJSON(before, after) || f.lineage(otherTenant) != nil || len(f.vault.Made()) != 1 {
				t.Fatalf("a refused rotation changed keys: %+v; vault %v", after, f.vault.Made())
			}
			if e := f.audits(tenant, "signing_key_rotated"); len(e) != 0 {
				t.Fatalf("a refused rotation was audited: %+v", e)
			}
		})
	}
}

// --- routing and logs

// TestPackRoutes: the pack routes exist only in the Packs group and only
// once the handler has its pack service.
func TestPackRoutes(t *testing.T) {
	f := newPacksFx(t)
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	noService, err := api.New(api.Services{AdminAuth: f.core.AdminAuth}, log, api.Packs)
	f.must(err)
	admin, err := api.New(f.core.Services(), log, api.All&^api.Packs)
	f.must(err)
	for _, h := range []struct {
		name string
		h    *api.Handler
	}{{"no-pack-service", noService}, {"admin-group", admin}} {
		f.h = h.h
		for _, file := range []string{"request-pack.json", "get-pack.json", "rotate-pack-key.json"} {
			r := f.call(event(t, file))
			if r.Status != 404 {
				t.Fatalf("%s, %s: status %d, want 404: %s", h.name, file, r.Status, r.Body)
			}
			wantEnvelope(t, r, hub.CodeNotFound)
		}
	}
	if f.packCount() != 0 || f.lineage(tenant) != nil || len(f.objects.Links()) != 0 {
		t.Fatal("a handler without the route did something")
	}
	// And the Packs group serves no admin route of another group.
	t.Run("fail/packs-group/get-agent", func(t *testing.T) {
		g := newPacksFx(t)
		if r := g.call(event(t, "get-agent.json")); r.Status != 404 {
			t.Fatalf("status %d, want 404: %s", r.Status, r.Body)
		}
	})
}

// TestPackLogs sends the pack events in failing and succeeding variants; the
// fixture's cleanup checks that no log line carries a credential or a link.
func TestPackLogs(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.build(id)
	variants := []func(ev *events.APIGatewayProxyRequest){
		func(ev *events.APIGatewayProxyRequest) {},
		func(ev *events.APIGatewayProxyRequest) { setHeader(ev, "Authorization", "Bearer "+leakedKey) },
		func(ev *events.APIGatewayProxyRequest) { setCert(t, ev, "other-operator.pem") },
		func(ev *events.APIGatewayProxyRequest) { asOther(t, ev) },
		func(ev *events.APIGatewayProxyRequest) { ev.Body = `{"period_start":"` + leakedToken + `"}` },
		func(ev *events.APIGatewayProxyRequest) { ev.Path = api.Prefix + "/evidence-packs/" + leakedKey },
	}
	for _, file := range []string{"request-pack.json", "get-pack.json", "rotate-pack-key.json"} {
		for _, v := range variants {
			f.clock.Advance(time.Second)
			ev := event(t, file)
			if file == "get-pack.json" {
				ev = getPackEvent(t, id, "-")
			}
			v(&ev)
			f.send(ev)
		}
	}
	// Links from the unchanged event and the one with a (ignored) body.
	if n := len(f.audits(tenant, "pack_link_issued")); n != 2 || len(f.objects.Links()) != 2 {
		t.Fatalf("%d links issued, want 2", n)
	}
}
