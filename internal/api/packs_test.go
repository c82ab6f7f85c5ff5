package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
)

// The evidence-pack routes (SPEC 4, 7 and 8) driven with request-pack.json,
// get-pack.json and rotate-pack-key.json through a handler of the Packs
// group over the real use cases and the store kit: what the edge does with
// events, credentials, statuses and envelopes. The packs' and keys' own rules
// are tested at the use cases, in internal/hub.

// --- fixture

// packsFx is apiFx whose handler serves the Packs route group over the real
// use cases with the kit's in-memory ports and a clock the test moves.
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
	return newPacksFxCfg(t, hub.PackConfig{})
}

// newPacksFxCfg is newPacksFx with the packs configured by cfg.
func newPacksFxCfg(t *testing.T, cfg hub.PackConfig) *packsFx {
	t.Helper()
	cfg.TempDir = t.TempDir()
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

// putPack stores p as it is, as a finished build would have.
func (f *packsFx) putPack(p hub.Pack) {
	pending := p
	pending.Status = hub.PackPending
	f.must(f.store.CreatePack(f.ctx, pending))
	f.must(f.store.FinishPack(f.ctx, p))
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

func str(v any) string {
	s, _ := v.(string)
	return s
}

// --- POST /evidence-packs

// TestRequestPack: request-pack.json and its variants at the edge: the
// content type, the body's encoding and the credentials, then the use
// case's answer as a status and an envelope (the period's rules are
// internal/hub's TestRequestPack).
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
		{name: "ok/base64-body", status: 202, start: "2026-03-01T00:00:00Z", end: "2026-03-31T23:59:59Z",
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(ev.Body)), true
			}},

		{name: "fail/400/malformed-json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = `{"period_start":"2026-03-01T00:00:00Z",`
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

		{name: "fail/404/delete-method", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodDelete }},
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
					if a := f.store.Audited(tn, "pack_requested"); len(a) != 0 {
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
			a := f.store.Audited(tenant, "pack_requested")
			if len(a) != 1 || a[0].Actor != "admin" || !a[0].At.Equal(eventTime) || a[0].Detail["pack_id"] != id ||
				a[0].Detail["period_start"] != tt.start || a[0].Detail["period_end"] != tt.end {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

// TestRequestPackStartFails: a build that cannot be started is 503 with
// Retry-After and no internal text (the failed pack: internal/hub).
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
}

// --- GET /evidence-packs/{id}

// TestGetPackViews: the pending and failed views as the edge answers them
// (how a pack becomes either: internal/hub).
func TestGetPackViews(t *testing.T) {
	f := newPacksFx(t)
	id := f.request()
	f.clock.Advance(time.Minute)
	r := f.call(getPackEvent(t, id, "-"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantKeys(t, r.json, packViewKeys)
	wantJSON(t, r, pendingView(id))
	f.clock.Advance(18 * time.Minute) // the build never ran: the pack is failed
	r = f.call(getPackEvent(t, id, "-"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantJSON(t, r, failedView(id, "build: the build did not finish; request the pack again"))
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
	if a := f.store.Audited(tenant, "pack_link_issued"); len(a) != 1 || a[0].Detail["expires_at"] != "2026-04-01T11:00:00Z" {
		t.Fatalf("pack_link_issued %+v", a)
	}
}

// TestGetPackExpiresIn: ?expires_in= reaches the use case, and its refusal
// is 400 with no link (its rules: internal/hub's TestGetPackExpiresIn).
func TestGetPackExpiresIn(t *testing.T) {
	tests := []struct {
		name, value string
		ttl         time.Duration // 0: refused
	}{
		{"ok/go-duration", "90m", 90 * time.Minute},
		{"fail/word", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPacksFx(t)
			id := f.request()
			f.build(id)
			f.clock.Advance(time.Minute)
			r := f.call(getPackEvent(t, id, tt.value))
			links := f.objects.Links()
			if tt.ttl == 0 {
				if r.Status != 400 {
					t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
				}
				wantEnvelope(t, r, hub.CodeInvalidRequest)
				if len(links) != 0 {
					t.Fatalf("a refused request issued %d links", len(links))
				}
				return
			}
			if r.Status != 200 || len(links) != 1 || links[0].TTL != tt.ttl || r.json["download_url"] != links[0].URL {
				t.Fatalf("status %d, links %+v: %s", r.Status, links, r.Body)
			}
		})
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
				if a := f.store.Audited(tn, "pack_link_issued"); len(a) != 0 {
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

var keyIDShape = regexp.MustCompile(`^sk_[a-z2-7]{24}$`)

// TestRotatePackKey: rotate-pack-key.json answers the tenant's new key and
// lineage, as stored (the lineage's rules: internal/hub).
func TestRotatePackKey(t *testing.T) {
	f := newPacksFx(t)
	_, err := f.core.Keys.Ensure(f.ctx, tenant)
	f.must(err)
	f.clock.Advance(time.Hour)
	r := f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	wantKeys(t, r.json, "fingerprint,key_lineage,signing_key_id,tenant_id")
	l := lineageJSON(t, r)
	if len(l) != 2 || r.json["tenant_id"] != tenant || r.json["signing_key_id"] != l[1]["key_id"] || r.json["fingerprint"] != l[1]["fingerprint"] {
		t.Fatalf("body %s", r.Body)
	}
	stored, err := json.Marshal(f.lineage(tenant))
	f.must(err)
	var a, b any
	f.must(json.Unmarshal(stored, &a))
	f.must(json.Unmarshal([]byte(r.Body), &b))
	if !equalJSON(a, b.(map[string]any)["key_lineage"]) {
		t.Fatalf("stored lineage %s, answer %s", stored, r.Body)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestRotatePackKeySameSecond: a rotation that loses to the previous one
// (within its second) is 409 conflict with Retry-After (the rule:
// internal/hub).
func TestRotatePackKeySameSecond(t *testing.T) {
	f := newPacksFx(t)
	_, err := f.core.Keys.Ensure(f.ctx, tenant)
	f.must(err)
	f.clock.Advance(time.Minute)
	if r := f.call(event(t, "rotate-pack-key.json")); r.Status != 200 {
		t.Fatalf("first rotation: %d %s", r.Status, r.Body)
	}
	r := f.call(event(t, "rotate-pack-key.json"))
	if r.Status != 409 || r.Headers["Retry-After"] != "1" {
		t.Fatalf("status %d, Retry-After %q, want 409 and 1: %s", r.Status, r.Headers["Retry-After"], r.Body)
	}
	wantEnvelope(t, r, hub.CodeConflict)
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
			if e := f.store.Audited(tenant, "signing_key_rotated"); len(e) != 0 {
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
	if n := len(f.store.Audited(tenant, "pack_link_issued")); n != 2 || len(f.objects.Links()) != 2 {
		t.Fatalf("%d links issued, want 2", n)
	}
}
