package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/storetest"
)

// secret is what a backend error might drag along: credentials that must
// never reach a response or a log line.
const (
	leakedToken = "ms_U0VDUkVULWxlYWtlZC1pbi1hbi1lcnJvci1tZXNzYWdlLQ"
	leakedKey   = "msa_U0VDUkVULWxlYWtlZC1hZG1pbi1rZXktaW4tYW4tZXJyb3I"
)

var errSecret = fmt.Errorf("dynamodb: GetItem token=%s key=%s: %w", leakedToken, leakedKey,
	errors.New("operation error DynamoDB: GetItem, Authorization: Bearer "+leakedToken))

// apiFx is a handler for all route groups over a seeded in-memory store:
// tenants acme and globex with their admin keys, and agent ag_apitest1 of
// acme with the token of the event files and no pins.
type apiFx struct {
	t     *testing.T
	ctx   context.Context
	store *storetest.Faulty
	core  *app.Core
	h     *api.Handler
	logs  *logtest.Buffer
	// secrets are strings no log line may contain; tests add issued tokens.
	secrets []string
}

func newAPIFx(t *testing.T) *apiFx {
	t.Helper()
	return newAPIFxClock(t, clocktest.At(eventTime))
}

// newAPIFxClock is newAPIFx with clk as the clock of the core and the CA.
func newAPIFxClock(t *testing.T, clk clock.Clock) *apiFx {
	t.Helper()
	root, err := ca.ParseCertPEM(string(readFile(t, "pki", "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(readFile(t, "pki", "ca-TEST-ONLY.key"))
	if blk == nil {
		t.Fatal("no PEM block in the CA key file")
	}
	pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := pk.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("CA key is %T", pk)
	}
	auth := &ca.Authority{Cert: root, Signer: k, Now: clk.Now}
	store := storetest.NewFaulty(storetest.NewMemory())
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	core, err := app.Assemble(store.Stores(), auth, app.CoreConfig{PendingLease: time.Minute},
		hub.Env{Clock: clk, Log: log, Rand: mrand.NewChaCha8([32]byte{7})})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(core.Services(), log, api.All)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFx{t: t, ctx: context.Background(), store: store, core: core, h: h, logs: logs,
		secrets: []string{agentToken, adminKey, otherAdminKey, leakedToken, leakedKey, "Bearer "}}
	for _, tn := range []struct{ id, key string }{{tenant, adminKey}, {otherTenant, otherAdminKey}} {
		f.must(store.PutTenant(f.ctx, hub.Tenant{TenantID: tn.id, CreatedAt: eventTime}))
		f.must(store.PutCredential(f.ctx, hub.Credential{Hash: cred.Hash(tn.key), Kind: cred.KindAdmin, TenantID: tn.id}))
	}
	f.must(store.PutCredential(f.ctx, hub.Credential{Hash: cred.Hash(agentToken), Kind: cred.KindAgent, TenantID: tenant, AgentID: agentID}))
	f.must(store.CreateAgent(f.ctx, hub.Agent{TenantID: tenant, AgentID: agentID, TokenHash: cred.Hash(agentToken), Hostname: "web-01", CreatedAt: eventTime}))
	t.Cleanup(f.checkLogs)
	return f
}

func (f *apiFx) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// pin gives the agent both pins, as after registering with agent.pem.
func (f *apiFx) pin() {
	f.t.Helper()
	f.must(f.store.PinSigningKey(f.ctx, agentID, signingKey().Public().(ed25519.PublicKey), eventTime))
	c, err := ca.ParseCertPEM(string(readFile(f.t, "pki", "agent.pem")))
	f.must(err)
	f.must(f.store.PinCert(f.ctx, agentID, hub.CertPin{Fingerprint: ca.Fingerprint(c.Raw), NotAfter: c.NotAfter, SetAt: eventTime}, ""))
}

// checkLogs: every line is JSON and none carries a credential.
func (f *apiFx) checkLogs() {
	out := f.logs.String()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		if !json.Valid([]byte(line)) {
			f.t.Errorf("log line is not JSON: %s", line)
		}
	}
	for _, s := range f.secrets {
		if s != "" && strings.Contains(out, s) {
			f.t.Errorf("the log contains %q:\n%s", s, out)
		}
	}
	if m := credentialShape.FindString(out); m != "" {
		f.t.Errorf("the log contains the credential-shaped %q:\n%s", m, out)
	}
}

// credentialShape is any agent token or admin key, issued or not.
var credentialShape = regexp.MustCompile(`msa?_[A-Za-z0-9_-]{16,}`)

func event(t testing.TB, name string) events.APIGatewayProxyRequest {
	t.Helper()
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(readFile(t, "events", name), &ev); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return ev
}

// result is a response as it leaves the function: through JSON.
type result struct {
	Status  int               `json:"statusCode"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	B64     bool              `json:"isBase64Encoded"`
	json    map[string]any
}

// send runs ev through the handler across the JSON boundary, as the Lambda
// runtime does: event bytes in, response bytes out.
func (f *apiFx) send(ev events.APIGatewayProxyRequest) result {
	f.t.Helper()
	in, err := json.Marshal(ev)
	f.must(err)
	var decoded events.APIGatewayProxyRequest
	f.must(json.Unmarshal(in, &decoded))
	resp, err := f.h.Handle(f.ctx, decoded)
	if err != nil {
		f.t.Fatalf("Handle returned an error: %v", err)
	}
	out, err := json.Marshal(resp)
	f.must(err)
	var r result
	f.must(json.Unmarshal(out, &r))
	if r.B64 {
		f.t.Fatal("response body is base64")
	}
	dec := json.NewDecoder(strings.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&r.json); err != nil {
		f.t.Fatalf("response body is not a JSON object: %q", r.Body)
	}
	return r
}

func (f *apiFx) sendFile(name string) result {
	f.t.Helper()
	return f.send(event(f.t, name))
}

// setHeader replaces a header in both maps, whatever its case in the file.
func setHeader(ev *events.APIGatewayProxyRequest, name, value string) {
	delHeader(ev, name)
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	if ev.MultiValueHeaders == nil {
		ev.MultiValueHeaders = map[string][]string{}
	}
	ev.Headers[name] = value
	ev.MultiValueHeaders[name] = []string{value}
}

func delHeader(ev *events.APIGatewayProxyRequest, name string) {
	for k := range ev.Headers {
		if strings.EqualFold(k, name) {
			delete(ev.Headers, k)
		}
	}
	for k := range ev.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			delete(ev.MultiValueHeaders, k)
		}
	}
}

func setCert(t testing.TB, ev *events.APIGatewayProxyRequest, file string) {
	t.Helper()
	if file == "" {
		ev.RequestContext.Identity.ClientCert = nil
		return
	}
	c := *ev.RequestContext.Identity.ClientCert
	c.ClientCertPem = string(readFile(t, "pki", file))
	ev.RequestContext.Identity.ClientCert = &c
}

// resign replaces the body of a signed ingest event, signed by the agent's key.
func resign(ev *events.APIGatewayProxyRequest, body string) {
	ev.Body, ev.IsBase64Encoded = body, false
	setHeader(ev, sig.Header, sig.Sign(signingKey(), []byte(body)))
}

func batchOf(seq int64, extra string) string {
	return fmt.Sprintf(`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":%d,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-04-01T10:00:00Z","x":%q}]`, seq, extra)
}

func TestHandle(t *testing.T) {
	pinned := func(f *apiFx) { f.pin() }
	tests := []struct {
		name       string
		event      string
		setup      func(f *apiFx)
		mutate     func(t *testing.T, ev *events.APIGatewayProxyRequest)
		status     int
		code       hub.Code
		retryAfter string
		check      func(t *testing.T, f *apiFx, r result)
	}{
		// Successes, one per route.
		{name: "ok/register-tofu", event: "register.json", status: 200, check: func(t *testing.T, f *apiFx, r result) {
			wantJSON(t, r, `{"agent_id":"ag_apitest1","signing_pubkey_pinned":true,"signing_set_at":"2026-04-01T10:00:00Z"}`)
			a, _ := f.store.GetAgent(f.ctx, agentID)
			if a.Cert == nil || len(a.SigningPubKey) != 32 {
				t.Fatalf("pins after registration: %+v", a)
			}
		}},
		{name: "ok/register-csr", event: "register-csr.json", status: 200, check: func(t *testing.T, f *apiFx, r result) {
			c, err := ca.ParseCertPEM(fmt.Sprint(r.json["client_cert"]))
			if err != nil || c.Subject.CommonName != agentID {
				t.Fatalf("client_cert: %v %v", c, err)
			}
		}},
		{name: "ok/ingest", event: "ingest.json", setup: pinned, status: 202, check: func(t *testing.T, f *apiFx, r result) {
			wantJSON(t, r, `{"accepted":2}`)
		}},
		{name: "ok/ingest-base64-lowercase-headers", event: "ingest-base64.json", setup: pinned, status: 202, check: func(t *testing.T, f *apiFx, r result) {
			wantJSON(t, r, `{"accepted":2}`)
			bs := f.store.Batches(agentID)
			if len(bs) != 1 || !strings.HasPrefix(string(bs[0].Body), `[{"type":"batch"`) {
				t.Fatalf("stored %d batches", len(bs))
			}
		}},
		{name: "ok/ingest-multi-value-headers-only", event: "ingest.json", setup: pinned, status: 202,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Headers = nil }},
		{name: "ok/ingest-single-value-headers-only", event: "ingest.json", setup: pinned, status: 202,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.MultiValueHeaders = nil }},
		{name: "ok/ingest-header-names-upper-case", event: "ingest.json", setup: pinned, status: 202,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				for _, h := range []string{"Authorization", "Content-Type", sig.Header} {
					v := ev.Headers[h]
					delHeader(ev, h)
					setHeader(ev, strings.ToUpper(h), v)
				}
				setHeader(ev, "AUTHORIZATION", "bEaReR "+agentToken)
			}},
		{name: "ok/ingest-idempotent-retry", event: "ingest.json", status: 200,
			setup: func(f *apiFx) { f.pin(); f.sendFile("ingest.json") },
			check: func(t *testing.T, f *apiFx, r result) { wantJSON(t, r, `{"accepted":0,"duplicate":true}`) }},
		{name: "ok/create-agent", event: "create-agent.json", status: 201, check: func(t *testing.T, f *apiFx, r result) {
			tok := fmt.Sprint(r.json["token"])
			if !strings.HasPrefix(tok, "ms_") || !strings.HasPrefix(fmt.Sprint(r.json["agent_id"]), "ag_") || len(r.json) != 2 {
				t.Fatalf("body %s", r.Body)
			}
			f.secrets = append(f.secrets, tok)
		}},
		{name: "ok/create-agent-without-body", event: "create-agent.json", status: 201,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = "" },
			check:  func(t *testing.T, f *apiFx, r result) { f.secrets = append(f.secrets, fmt.Sprint(r.json["token"])) }},
		{name: "ok/get-agent", event: "get-agent.json", setup: pinned, status: 200, check: func(t *testing.T, f *apiFx, r result) {
			if r.json["agent_id"] != agentID || r.json["tenant_id"] != tenant || r.json["signing_pubkey_pinned"] != true ||
				r.json["client_cert_pinned"] != true || r.json["signing_set_at"] != "2026-04-01T10:00:00Z" {
				t.Fatalf("body %s", r.Body)
			}
		}},
		{name: "ok/rotate-token", event: "rotate-token.json", setup: pinned, status: 200, check: func(t *testing.T, f *apiFx, r result) {
			tok := fmt.Sprint(r.json["token"])
			f.secrets = append(f.secrets, tok)
			if r.json["agent_id"] != agentID || !strings.HasPrefix(tok, "ms_") || tok == agentToken {
				t.Fatalf("body %s", r.Body)
			}
			// The old token is refused at once; the new one works.
			if old := f.sendFile("ingest.json"); old.Status != 401 {
				t.Fatalf("old token: %d %s", old.Status, old.Body)
			}
			ev := event(t, "ingest.json")
			setHeader(&ev, "Authorization", "Bearer "+tok)
			if r := f.send(ev); r.Status != 202 {
				t.Fatalf("new token: %d %s", r.Status, r.Body)
			}
		}},
		{name: "ok/rotate-signing-key", event: "rotate-signing-key.json", setup: pinned, status: 200, check: func(t *testing.T, f *apiFx, r result) {
			if r.json["signing_pubkey_pinned"] != false || r.json["signing_pubkey"] != nil {
				t.Fatalf("body %s", r.Body)
			}
		}},
		{name: "ok/rotate-client-cert", event: "rotate-client-cert.json", setup: pinned, status: 200, check: func(t *testing.T, f *apiFx, r result) {
			if r.json["client_cert_pinned"] != false || r.json["client_cert_fingerprint"] != nil {
				t.Fatalf("body %s", r.Body)
			}
		}},
		{name: "ok/list-anomalies-empty", event: "list-anomalies.json", status: 200, check: func(t *testing.T, f *apiFx, r result) {
			wantJSON(t, r, `{"anomalies":[],"next_cursor":null}`)
		}},
		{name: "ok/list-anomalies", event: "list-anomalies.json", status: 200,
			setup: func(f *apiFx) {
				f.pin()
				ev := event(f.t, "ingest.json")
				delHeader(&ev, sig.Header)
				f.send(ev) // unsigned_payload
			},
			check: func(t *testing.T, f *apiFx, r result) {
				list, _ := r.json["anomalies"].([]any)
				if len(list) != 1 || r.json["next_cursor"] != nil {
					t.Fatalf("body %s", r.Body)
				}
				an := list[0].(map[string]any)
				var keys []string
				for k := range an {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				want := "agent_id,anomaly_id,closed_at,closed_reason,count,detail,first_seen,kind,last_seen,severity,status,tenant_id"
				if strings.Join(keys, ",") != want || an["kind"] != "unsigned_payload" || an["severity"] != "high" || an["status"] != "open" {
					t.Fatalf("anomaly %s", r.Body)
				}
			}},

		// 400 invalid_request.
		{name: "fail/400/register-not-json", event: "register.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = "{" }},
		{name: "fail/400/create-agent-array", event: "create-agent.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = `[1]` }},
		{name: "fail/400/ingest-not-a-batch", event: "ingest.json", setup: pinned, status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { resign(ev, `[]`) }},
		{name: "fail/400/bad-base64-body", event: "ingest-base64.json", setup: pinned, status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Body = "%%% not base64 %%%" }},
		{name: "fail/400/limit-zero", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["limit"] = "0" }},
		{name: "fail/400/limit-501", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["limit"] = "501" }},
		{name: "fail/400/limit-word", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["limit"] = "ten" }},
		{name: "fail/400/bad-cursor", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["cursor"] = "%%%" }},
		{name: "fail/400/bad-status", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["status"] = "pending" }},
		{name: "fail/400/bad-kind", event: "list-anomalies.json", status: 400, code: hub.CodeInvalidRequest,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.QueryStringParameters["kind"] = "meteor" }},

		// 401 unauthorized.
		{name: "fail/401/ingest-no-authorization", event: "ingest.json", setup: pinned, status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Authorization") }},
		{name: "fail/401/ingest-basic-auth", event: "ingest.json", setup: pinned, status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("agent:"+agentToken)))
			}},
		{name: "fail/401/ingest-token-without-scheme", event: "ingest.json", setup: pinned, status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setHeader(ev, "Authorization", agentToken) }},
		{name: "fail/401/ingest-admin-key", event: "ingest.json", setup: pinned, status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+adminKey)
			}},
		{name: "fail/401/register-admin-key", event: "register.json", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+adminKey)
			}},
		{name: "fail/401/admin-agent-token", event: "get-agent.json", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+agentToken)
			}},
		{name: "fail/401/admin-no-authorization", event: "create-agent.json", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Authorization") }},

		// 403 forbidden and the signature and pin codes.
		{name: "fail/403/ingest-operator-cert", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "operator.pem") }},
		{name: "fail/403/ingest-no-client-cert", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "") }},
		{name: "fail/403/ingest-ca-cert", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "ca.pem") }},
		{name: "fail/403/admin-enrollment-cert", event: "get-agent.json", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "enrollment.pem") }},
		{name: "fail/403/admin-agent-cert", event: "create-agent.json", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "agent.pem") }},
		{name: "fail/403/admin-other-tenants-operator-cert", event: "list-anomalies.json", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "other-operator.pem") }},
		{name: "fail/403/signature-missing", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeSignatureMissing,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, sig.Header) }},
		{name: "fail/403/signature-invalid", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeSignatureInvalid,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, sig.Header, sig.Sign(signingKey(), []byte("another body")))
			}},
		{name: "fail/403/signature-not-base64", event: "ingest-base64.json", setup: pinned, status: 403, code: hub.CodeSignatureInvalid,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setHeader(ev, "x-monsys-signature", "***") }},
		{name: "fail/403/cert-pin-mismatch", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeCertPinMismatch,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "other-agent.pem") }},
		{name: "fail/403/enrollment-cert-on-ingest", event: "ingest.json", setup: pinned, status: 403, code: hub.CodeCertPinMismatch,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "enrollment.pem") }},

		// 404 not_found.
		{name: "fail/404/unknown-path", event: "unknown-path.json", status: 404, code: hub.CodeNotFound},
		{name: "fail/404/outside-prefix", event: "unknown-path.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Path = "/ingest" }},
		{name: "fail/404/other-version", event: "ingest.json", setup: pinned, status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Path = "/api/v2/ingest" }},
		{name: "fail/404/local-integrity-run", event: "list-anomalies.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				// The local hub's own route (SPEC 1.1): no function serves it,
				// not even to an admin.
				*ev = withPath(*ev, "/api/v1/anomalies", "/local/run/integrity")
				ev.HTTPMethod, ev.QueryStringParameters, ev.MultiValueQueryStringParameters = http.MethodPost, nil, nil
			}},
		{name: "fail/404/wrong-method", event: "ingest.json", setup: pinned, status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodGet }},
		{name: "fail/404/delete-agent", event: "get-agent.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodDelete }},
		{name: "fail/404/empty-id", event: "get-agent.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Path = "/api/v1/agents//rotate-token" }},
		{name: "fail/404/no-such-agent", event: "get-agent.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.Path = "/api/v1/agents/ag_nobody" }},
		{name: "fail/404/other-tenants-agent", event: "get-agent.json", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
				setCert(t, ev, "other-operator.pem")
			}},
		{name: "fail/404/other-tenants-rotate-token", event: "rotate-token.json", setup: pinned, status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "Authorization", "Bearer "+otherAdminKey)
				setCert(t, ev, "other-operator.pem")
			},
			check: func(t *testing.T, f *apiFx, r result) {
				if r := f.sendFile("ingest.json"); r.Status != 202 {
					t.Fatalf("the token changed: %d %s", r.Status, r.Body)
				}
			}},

		// 409 replay_rejected, with last_seq.
		{name: "fail/409/replay", event: "ingest.json", status: 409, code: hub.CodeReplayRejected,
			setup: func(f *apiFx) { f.pin(); f.sendFile("ingest-base64.json") },
			check: func(t *testing.T, f *apiFx, r result) {
				if r.json["last_seq"] != json.Number(fmt.Sprint(firstSeq+1)) {
					t.Fatalf("last_seq = %v, want %d", r.json["last_seq"], firstSeq+1)
				}
			}},

		// 413, 415.
		{name: "fail/413/ingest-over-256KiB", event: "ingest.json", setup: pinned, status: 413, code: hub.CodePayloadTooLarge,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				resign(ev, batchOf(firstSeq, strings.Repeat("x", 256<<10)))
			}},
		{name: "fail/413/ingest-over-256KiB-base64", event: "ingest-base64.json", setup: pinned, status: 413, code: hub.CodePayloadTooLarge,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				ev.Body = base64.StdEncoding.EncodeToString([]byte(batchOf(firstSeq, strings.Repeat("x", 256<<10))))
			}},
		{name: "fail/415/ingest-text-plain", event: "ingest.json", setup: pinned, status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setHeader(ev, "Content-Type", "text/plain") }},
		{name: "fail/415/register-form", event: "register.json", status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) {
				setHeader(ev, "content-type", "application/x-www-form-urlencoded")
			}},
		{name: "fail/415/create-agent-no-content-type", event: "create-agent.json", status: 415, code: hub.CodeUnsupportedMedia,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Content-Type") }},

		// 429 / 503 with Retry-After; nothing stored.
		{name: "fail/429/throttled", event: "ingest.json", status: 429, code: hub.CodeThrottled, retryAfter: "2",
			setup: func(f *apiFx) { f.pin(); f.store.FailNext("PutBatch", fmt.Errorf("put: %w", hub.ErrThrottled)) }},
		{name: "fail/503/unavailable", event: "ingest.json", status: 503, code: hub.CodeUnavailable, retryAfter: "5",
			setup: func(f *apiFx) { f.pin(); f.store.FailNext("GetCredential", fmt.Errorf("get: %w", hub.ErrUnavailable)) }},
		{name: "fail/503/admin-unavailable", event: "list-anomalies.json", status: 503, code: hub.CodeUnavailable, retryAfter: "5",
			setup: func(f *apiFx) { f.store.FailNext("GetCredential", fmt.Errorf("get: %w", hub.ErrUnavailable)) }},

		// 500: no internal text anywhere.
		{name: "fail/500/internal-ingest", event: "ingest.json", status: 500, code: hub.CodeInternal,
			setup: func(f *apiFx) { f.pin(); f.store.FailNext("GetCredential", errSecret) },
			check: func(t *testing.T, f *apiFx, r result) { wantInternal(t, f, r) }},
		{name: "fail/500/internal-store", event: "ingest.json", status: 500, code: hub.CodeInternal,
			setup: func(f *apiFx) { f.pin(); f.store.FailNext("PutBatch", errSecret) },
			check: func(t *testing.T, f *apiFx, r result) { wantInternal(t, f, r) }},
		{name: "fail/500/internal-admin", event: "create-agent.json", status: 500, code: hub.CodeInternal,
			setup: func(f *apiFx) { f.store.FailNext("GetCredential", errSecret) },
			check: func(t *testing.T, f *apiFx, r result) { wantInternal(t, f, r) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFx(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			before := len(f.store.Batches(agentID))
			ev := event(t, tt.event)
			if tt.mutate != nil {
				tt.mutate(t, &ev)
			}
			r := f.send(ev)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if r.Headers["Content-Type"] != "application/json" || r.Headers["X-Request-Id"] != requestID || r.Headers["Cache-Control"] != "no-store" {
				t.Fatalf("headers %v", r.Headers)
			}
			if got := r.Headers["Retry-After"]; got != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if tt.code != "" {
				wantEnvelope(t, r, tt.code)
				if api.Status(tt.code) != tt.status {
					t.Fatalf("Status(%s) = %d", tt.code, api.Status(tt.code))
				}
				if n := len(f.store.Batches(agentID)); n != before {
					t.Fatalf("a refused request stored %d batches", n-before)
				}
			} else if _, ok := r.json["error"]; ok {
				t.Fatalf("error body on success: %s", r.Body)
			}
			if tt.check != nil {
				tt.check(t, f, r)
			}
		})
	}
}

// wantEnvelope checks the SPEC 4 error body: {"error":{"code","message"},
// "request_id"}, plus last_seq on a 409 only.
func wantEnvelope(t *testing.T, r result, code hub.Code) {
	t.Helper()
	keys := []string{"error", "request_id"}
	if code == hub.CodeReplayRejected {
		keys = []string{"error", "last_seq", "request_id"}
	}
	var got []string
	for k := range r.json {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, keys) {
		t.Fatalf("envelope keys %v, want %v: %s", got, keys, r.Body)
	}
	e, ok := r.json["error"].(map[string]any)
	if !ok || len(e) != 2 || e["code"] != string(code) {
		t.Fatalf("error = %v, want code %s", r.json["error"], code)
	}
	if m, _ := e["message"].(string); m == "" {
		t.Fatalf("empty message: %s", r.Body)
	}
	if r.json["request_id"] != requestID {
		t.Fatalf("request_id %v, want %s", r.json["request_id"], requestID)
	}
}

func wantInternal(t *testing.T, f *apiFx, r result) {
	t.Helper()
	if msg := r.json["error"].(map[string]any)["message"]; msg != "internal error" {
		t.Fatalf("500 message %q", msg)
	}
	for _, s := range []string{leakedToken, leakedKey, "dynamodb", "GetItem", "Bearer"} {
		if strings.Contains(r.Body, s) {
			t.Fatalf("500 body carries %q: %s", s, r.Body)
		}
	}
	// The log line keeps the cause for operators, with the credentials masked.
	logs := f.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "dynamodb: GetItem") && !strings.Contains(logs, "store batch") {
		t.Fatalf("the 500 is not logged with its cause:\n%s", logs)
	}
}

func wantJSON(t *testing.T, r result, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal([]byte(r.Body), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("body %s, want %s", r.Body, want)
	}
}

// TestStatus maps every SPEC 4 code to its status.
func TestStatus(t *testing.T) {
	tests := []struct {
		code hub.Code
		want int
	}{
		{hub.CodeInvalidRequest, 400},
		{hub.CodeUnauthorized, 401},
		{hub.CodeForbidden, 403},
		{hub.CodeSignatureMissing, 403},
		{hub.CodeSignatureInvalid, 403},
		{hub.CodeCertPinMismatch, 403},
		{hub.CodeNotFound, 404},
		{hub.CodeReplayRejected, 409},
		{hub.CodeConflict, 409},
		{hub.CodePayloadTooLarge, 413},
		{hub.CodeUnsupportedMedia, 415},
		{hub.CodeThrottled, 429},
		{hub.CodeUnavailable, 503},
		{hub.CodeInternal, 500},
		{"something_new", 500},
	}
	for _, tt := range tests {
		t.Run("ok/"+string(tt.code), func(t *testing.T) {
			if got := api.Status(tt.code); got != tt.want {
				t.Fatalf("Status(%s) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

// withPath rewrites every place of a proxy event that carries the path.
func withPath(ev events.APIGatewayProxyRequest, old, new string) events.APIGatewayProxyRequest {
	ev.Path = strings.Replace(ev.Path, old, new, 1)
	ev.RequestContext.Path = strings.Replace(ev.RequestContext.Path, old, new, 1)
	ev.PathParameters = map[string]string{"proxy": strings.Replace(ev.PathParameters["proxy"], old, new, 1)}
	return ev
}

// TestBadIdentifiers: SPEC 4, an id in the path that cannot be valid (wrong
// shape, too long) is 404 not_found, as for one that does not exist, and a
// query value or cursor that cannot be valid is 400 invalid_request; all are
// refused at the edge, so the store is never asked about them (DynamoDB
// would fail on keys over its limits). The events are the real API Gateway
// event files with the id or query replaced.
func TestBadIdentifiers(t *testing.T) {
	badAgentIDs := []struct{ name, id string }{
		{"too-long", "ag_" + strings.Repeat("a", 3000)},
		{"65-characters", "ag_" + strings.Repeat("a", 62)},
		{"upper-case", strings.ToUpper(agentID)},
		{"no-prefix", strings.TrimPrefix(agentID, "ag_")},
		{"prefix-only", "ag_"},
		{"non-ascii", "ag_apitest\u00e9"},
		{"nul", "ag_apitest1\x00"},
		{"invalid-utf8", "ag_\xff\xfe"},
	}
	for _, file := range []string{"get-agent.json", "rotate-token.json", "rotate-signing-key.json", "rotate-client-cert.json"} {
		for _, b := range badAgentIDs {
			t.Run("fail/404/"+strings.TrimSuffix(file, ".json")+"/"+b.name, func(t *testing.T) {
				f := newAPIFx(t)
				r := f.send(withPath(event(t, file), agentID, b.id))
				if r.Status != 404 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				wantEnvelope(t, r, hub.CodeNotFound)
				if f.store.Asked(b.id) {
					t.Fatal("the store was asked about an id that cannot be valid")
				}
			})
		}
	}
	query := func(q map[string]string) events.APIGatewayProxyRequest {
		ev := event(t, "list-anomalies.json")
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		for k, v := range q {
			ev.QueryStringParameters[k], ev.MultiValueQueryStringParameters[k] = v, []string{v}
		}
		return ev
	}
	cursorOf := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	badQueries := []struct {
		name  string
		q     map[string]string
		asked string
	}{
		{"agent-id-too-long", map[string]string{"agent_id": "ag_" + strings.Repeat("a", 3000)}, "ag_" + strings.Repeat("a", 3000)},
		{"agent-id-malformed", map[string]string{"agent_id": "ag_\xff"}, "ag_\xff"},
		{"cursor-too-long", map[string]string{"cursor": cursorOf("v1:an_" + strings.Repeat("x", 3000))}, cursorOf("v1:an_" + strings.Repeat("x", 3000))},
		{"cursor-not-base64url", map[string]string{"cursor": "not base64!"}, "not base64!"},
		{"cursor-padded", map[string]string{"cursor": base64.URLEncoding.EncodeToString([]byte("v1:an_x"))}, base64.URLEncoding.EncodeToString([]byte("v1:an_x"))},
		{"limit-too-long", map[string]string{"limit": strings.Repeat("9", 3000)}, ""},
		{"status-too-long", map[string]string{"status": strings.Repeat("o", 3000)}, ""},
		{"kind-too-long", map[string]string{"kind": strings.Repeat("k", 3000)}, ""},
	}
	for _, b := range badQueries {
		t.Run("fail/400/list-anomalies/"+b.name, func(t *testing.T) {
			f := newAPIFx(t)
			r := f.send(query(b.q))
			if r.Status != 400 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			wantEnvelope(t, r, hub.CodeInvalidRequest)
			if b.asked != "" && f.store.Asked(b.asked) {
				t.Fatal("the store was asked about a value that cannot be valid")
			}
		})
	}
	t.Run("ok/valid-ids-still-answer", func(t *testing.T) {
		f := newAPIFx(t)
		if r := f.sendFile("get-agent.json"); r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if r := f.send(query(map[string]string{"agent_id": agentID, "cursor": cursorOf("v1:an_" + agentID + ".x")})); r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
}

// TestRequestIDGenerated: without a requestContext.requestId the handler
// makes one and uses it in the header and the envelope alike.
func TestRequestIDGenerated(t *testing.T) {
	f := newAPIFx(t)
	ev := event(t, "unknown-path.json")
	ev.RequestContext.RequestID = ""
	r := f.send(ev)
	id := r.Headers["X-Request-Id"]
	if len(id) != 24 || r.json["request_id"] != id {
		t.Fatalf("request id %q, envelope %v", id, r.json["request_id"])
	}
}

// TestRouteGroups: a function serves only its own routes; the others are 404.
func TestRouteGroups(t *testing.T) {
	f := newAPIFx(t)
	f.pin()
	ingestOnly, err := api.New(f.core.Services(), slog.New(slog.NewJSONHandler(f.logs, nil)), api.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file string
		want       int
	}{
		{"ok/ingest", "ingest.json", 202},
		{"fail/register", "register.json", 404},
		{"fail/admin", "get-agent.json", 404},
		{"fail/rotate", "rotate-token.json", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := ingestOnly.Handle(f.ctx, event(t, tt.file))
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, resp.Body)
			}
		})
	}
}

// TestNew refuses missing dependencies.
func TestNew(t *testing.T) {
	if _, err := api.New(api.Services{}, slog.Default(), api.All); err == nil {
		t.Fatal("admin routes without the admin-key check accepted")
	}
	f := newAPIFx(t)
	if _, err := api.New(f.core.Services(), nil, api.All); err == nil {
		t.Fatal("nil logger accepted")
	}
}

// TestLogsNeverCarryCredentials sends every event file, in many failing
// variants, and checks the captured log (the cleanup of each fixture does).
func TestLogsNeverCarryCredentials(t *testing.T) {
	for _, file := range eventFiles {
		t.Run("ok/"+strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			f := newAPIFx(t)
			f.pin()
			variants := []func(ev *events.APIGatewayProxyRequest){
				func(ev *events.APIGatewayProxyRequest) {},
				func(ev *events.APIGatewayProxyRequest) { ev.Path += "/x" },
				func(ev *events.APIGatewayProxyRequest) { setCert(t, ev, "other-operator.pem") },
				func(ev *events.APIGatewayProxyRequest) { setHeader(ev, "Authorization", "Bearer "+leakedToken) },
				func(ev *events.APIGatewayProxyRequest) { setHeader(ev, "Authorization", "Bearer "+leakedKey) },
				func(ev *events.APIGatewayProxyRequest) { ev.Path = "/api/v1/agents/" + leakedToken },
				func(ev *events.APIGatewayProxyRequest) { ev.Body = `{"hostname":"` + leakedToken + `"` },
			}
			for _, v := range variants {
				ev := event(t, file)
				v(&ev)
				f.store.FailNext("GetCredential", errSecret)
				f.send(ev)
				f.send(ev)
			}
			if !strings.Contains(f.logs.String(), `"msg":"request"`) {
				t.Fatal("nothing was logged")
			}
		})
	}
}

// TestHandleAdmin: an operation outside the route table (the local hub's
// integrity run) is checked and answered as the admin routes are: the
// method, then the admin key with its tenant's operator certificate, then
// the operation, whose failure is a 500 that keeps its cause out of the body.
func TestHandleAdmin(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(t *testing.T, ev *events.APIGatewayProxyRequest)
		opErr  error
		status int
		code   hub.Code
	}{
		{name: "ok/admin", status: 200},
		{name: "fail/404/method", status: 404, code: hub.CodeNotFound,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = http.MethodGet }},
		{name: "fail/401/no-admin-key", status: 401, code: hub.CodeUnauthorized,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { delHeader(ev, "Authorization") }},
		{name: "fail/403/agent-cert", status: 403, code: hub.CodeForbidden,
			mutate: func(t *testing.T, ev *events.APIGatewayProxyRequest) { setCert(t, ev, "agent.pem") }},
		{name: "fail/500/operation", status: 500, code: hub.CodeInternal, opErr: errors.New("dynamodb: GetItem failed")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFx(t)
			ev := withPath(event(t, "list-anomalies.json"), "/api/v1/anomalies", "/local/run/integrity")
			ev.HTTPMethod = http.MethodPost
			if tt.mutate != nil {
				tt.mutate(t, &ev)
			}
			ran := false
			resp := f.h.HandleAdmin(f.ctx, ev, http.MethodPost, func(_ context.Context, ad hub.Admin) (int, any, error) {
				ran = true
				if ad.TenantID != tenant {
					t.Errorf("operation ran for tenant %q, want %q", ad.TenantID, tenant)
				}
				return http.StatusOK, map[string]int{"checked": 3}, tt.opErr
			})
			if resp.StatusCode != tt.status || resp.Headers["X-Request-Id"] != requestID {
				t.Fatalf("HandleAdmin = %d, X-Request-Id %q; want %d, %s: %s", resp.StatusCode, resp.Headers["X-Request-Id"], tt.status, requestID, resp.Body)
			}
			if ran != (tt.status == 200 || tt.opErr != nil) {
				t.Fatalf("the operation ran: %v", ran)
			}
			r := result{Status: resp.StatusCode, Body: resp.Body}
			if err := json.Unmarshal([]byte(resp.Body), &r.json); err != nil {
				t.Fatalf("body is not JSON: %q", resp.Body)
			}
			switch {
			case tt.status == 200:
				wantJSON(t, r, `{"checked":3}`)
			case tt.status == 500:
				wantEnvelope(t, r, tt.code)
				wantInternal(t, f, r)
			default:
				wantEnvelope(t, r, tt.code)
			}
		})
	}
}
