package hub_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
)

// TestRegisterTable walks SPEC 4.1's pin table and the refusals before it.
// "pinned" agents registered earlier with key K (and hold a pinned client
// certificate); the others have never registered.
func TestRegisterTable(t *testing.T) {
	type env = regEnv
	other := newSigningKey(t)
	tests := []struct {
		name       string
		pinned     bool
		req        func(e env) hub.RegisterRequest
		code       hub.Code
		wantPinned bool
		anomalies  []anom
		keyAfter   func(e env) []byte // the pin after the request; nil means none
	}{
		{name: "ok/no-pin-with-key-pins-it", wantPinned: true,
			req:      func(e env) hub.RegisterRequest { return e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), "")) },
			keyAfter: func(e env) []byte { return e.a.pub() }},
		{name: "ok/pinned-same-key-is-idempotent", pinned: true, wantPinned: true,
			req:      func(e env) hub.RegisterRequest { return e.req(e.a.cert, regBody("1.4.2", pubB64(e.a.key), "")) },
			keyAfter: func(e env) []byte { return e.a.pub() }},
		{name: "fail/pinned-other-key", pinned: true, code: hub.CodeSignatureInvalid,
			anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req:       func(e env) hub.RegisterRequest { return e.req(e.a.cert, regBody("1.4.2", pubB64(other), "")) },
			keyAfter:  func(e env) []byte { return e.a.pub() }},
		// A second host with the agent's token, after the first one enrolled
		// (the late loser of a race): another key is signature_invalid, with
		// or without a csr, before any certificate rule (SPEC 4.1).
		{name: "fail/pinned-other-key-enrollment-cert-with-csr", pinned: true, code: hub.CodeSignatureInvalid,
			anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req: func(e env) hub.RegisterRequest {
				return e.req(e.f.enroll, regBody("1.4.2", pubB64(other), csrPEM(t, p256(t))))
			},
			keyAfter: func(e env) []byte { return e.a.pub() }},
		{name: "fail/pinned-other-key-enrollment-cert-no-csr", pinned: true, code: hub.CodeSignatureInvalid,
			anomalies: []anom{{anomaly.SignatureInvalid, anomaly.Critical, 1}},
			req:       func(e env) hub.RegisterRequest { return e.req(e.f.enroll, regBody("1.4.2", pubB64(other), "")) },
			keyAfter:  func(e env) []byte { return e.a.pub() }},
		{name: "ok/no-pin-no-key-legacy",
			req: func(e env) hub.RegisterRequest { return e.req(e.f.enroll, regBody("1.0.0", "", "")) }},
		{name: "ok/pinned-no-key-keeps-pin", pinned: true,
			req:      func(e env) hub.RegisterRequest { return e.req(e.a.cert, regBody("1.4.2", "", "")) },
			keyAfter: func(e env) []byte { return e.a.pub() }},
		{name: "ok/null-key-is-no-key",
			req: func(e env) hub.RegisterRequest {
				return e.req(e.f.enroll, []byte(`{"hostname":"h","agent_version":"1.0.0","os":"linux","arch":"arm64","signing_pubkey":null}`))
			}},

		// Refusals before the table, in the order they are checked.
		{name: "fail/no-token", code: hub.CodeUnauthorized, req: func(e env) hub.RegisterRequest {
			r := e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), ""))
			r.Token = ""
			return r
		}},
		{name: "fail/admin-key-as-token", code: hub.CodeUnauthorized, req: func(e env) hub.RegisterRequest {
			r := e.req(e.f.operator, regBody("1.4.2", pubB64(e.a.key), ""))
			r.Token = e.f.adminKey
			return r
		}},
		{name: "fail/bad-token-and-other-key", pinned: true, code: hub.CodeUnauthorized, keyAfter: func(e env) []byte { return e.a.pub() },
			req: func(e env) hub.RegisterRequest {
				r := e.req(e.a.cert, regBody("1.4.2", pubB64(other), ""))
				r.Token = "ms_" + strings.Repeat("Z", 43)
				return r
			}},
		{name: "fail/no-cert", code: hub.CodeForbidden, req: func(e env) hub.RegisterRequest {
			return e.req("", regBody("1.4.2", pubB64(e.a.key), ""))
		}},
		{name: "fail/no-cert-and-bad-json", code: hub.CodeForbidden, req: func(e env) hub.RegisterRequest {
			return e.req("", []byte(`{`))
		}},
		{name: "fail/operator-cert", code: hub.CodeForbidden, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.operator, regBody("1.4.2", pubB64(e.a.key), ""))
		}},
		{name: "fail/untrusted-cert", code: hub.CodeForbidden, req: func(e env) hub.RegisterRequest {
			return e.req(untrusted(t, e.a.id), regBody("1.4.2", pubB64(e.a.key), ""))
		}},
		{name: "fail/other-tenants-enrollment-cert", code: hub.CodeCertPinMismatch,
			anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.RegisterRequest {
				return e.req(e.f.otherEnroll, regBody("1.4.2", pubB64(e.a.key), ""))
			}},
		{name: "fail/another-agents-cert", code: hub.CodeCertPinMismatch,
			anomalies: []anom{{anomaly.CertPinMismatch, anomaly.Critical, 1}},
			req: func(e env) hub.RegisterRequest {
				return e.req(e.f.issue(tenant, "ag_other"), regBody("1.4.2", pubB64(e.a.key), ""))
			}},
		{name: "fail/body-over-64KiB", code: hub.CodePayloadTooLarge, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"`+strings.Repeat("h", 64<<10)+`"}`))
		}},
		{name: "fail/text-plain", code: hub.CodeUnsupportedMedia, req: func(e env) hub.RegisterRequest {
			r := e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), ""))
			r.ContentType = "text/plain"
			return r
		}},
		{name: "fail/no-content-type", code: hub.CodeUnsupportedMedia, req: func(e env) hub.RegisterRequest {
			r := e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), ""))
			r.ContentType = ""
			return r
		}},
		{name: "fail/not-json", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`hostname=web-01`))
		}},
		{name: "fail/empty-body", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, nil)
		}},
		{name: "fail/array", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`[{"hostname":"x"}]`))
		}},
		{name: "fail/two-objects", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"x"} {"hostname":"y"}`))
		}},
		{name: "fail/wrong-field-type", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":7}`))
		}},
		{name: "fail/hostname-254-characters", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"`+strings.Repeat("h", 254)+`"}`))
		}},
		{name: "fail/agent-version-65-characters", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"agent_version":"`+strings.Repeat("1", 65)+`"}`))
		}},
		{name: "fail/control-character", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"web\n01"}`))
		}},
		{name: "fail/key-not-base64", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", "not base64", ""))
		}},
		{name: "fail/key-empty-string", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"h","signing_pubkey":""}`))
		}},
		{name: "fail/key-31-bytes", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", base64.StdEncoding.EncodeToString(e.a.pub()[:31]), ""))
		}},
		{name: "fail/key-unpadded", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", base64.RawStdEncoding.EncodeToString(e.a.pub()), ""))
		}},
		{name: "fail/csr-garbage", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
		}},
		{name: "fail/csr-ed25519-key", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key), ed25519CSR(t)))
		}},
		// SPEC 3 and 4.1: exactly standard padded base64 of a 32-byte key that
		// is a canonical point encoding and not of small order.
		{name: "fail/key-zero-bytes-small-order", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", pubB64Raw(make([]byte, 32)), ""))
		}},
		{name: "fail/key-identity", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", pubB64Raw(append([]byte{1}, make([]byte, 31)...)), ""))
		}},
		{name: "fail/key-order-8", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", "xxdqcD1N2E+6PAt2DRBnDyogU/osOczGTsf9d5KsA3o=", ""))
		}},
		{name: "fail/key-non-canonical-identity", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", "7v///////////////////////////////////////38=", ""))
		}},
		{name: "fail/key-with-line-break", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			k := pubB64(e.a.key)
			return e.req(e.f.enroll, regBody("1.4.2", k[:20]+"\n"+k[20:], ""))
		}},
		{name: "fail/key-with-trailing-crlf", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", pubB64(e.a.key)+"\r\n", ""))
		}},
		{name: "fail/key-with-space", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, regBody("1.4.2", " "+pubB64(e.a.key), ""))
		}},
		{name: "fail/pinned-then-small-order-key", pinned: true, code: hub.CodeInvalidRequest, keyAfter: func(e env) []byte { return e.a.pub() },
			req: func(e env) hub.RegisterRequest {
				return e.req(e.a.cert, regBody("1.4.2", pubB64Raw(make([]byte, 32)), ""))
			}},
		// Member names are matched exactly; a name twice is refused, also
		// when one of them is written with escapes.
		{name: "fail/member-name-other-case", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"h","agent_version":"1.4.2","Signing_PubKey":"`+pubB64(e.a.key)+`"}`))
		}},
		{name: "fail/member-name-upper-case", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"HOSTNAME":"h","agent_version":"1.4.2"}`))
		}},
		{name: "fail/member-name-kelvin-sign", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			// U+212A folds to k in Go's case-insensitive match.
			return e.req(e.f.enroll, []byte("{\"hostname\":\"h\",\"signing_pub\u212aey\":\""+pubB64(e.a.key)+"\"}"))
		}},
		{name: "fail/duplicate-member", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte("{\"hostname\":\"h\",\"signing_pub\u212aey\":\""+pubB64(e.a.key)+"\"}"))
		}},
		{name: "fail/duplicate-member-escaped", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"h","host\u006eame":"h2","signing_pubkey":"`+pubB64(e.a.key)+`"}`))
		}},
		{name: "fail/duplicate-member-null-first", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte(`{"hostname":"h","signing_pubkey":null,"signing_pubkey":"`+pubB64(e.a.key)+`"}`))
		}},
		{name: "fail/invalid-utf8", code: hub.CodeInvalidRequest, req: func(e env) hub.RegisterRequest {
			return e.req(e.f.enroll, []byte("{\"hostname\":\"h\xff\",\"signing_pubkey\":\""+pubB64(e.a.key)+"\"}"))
		}},
		{name: "ok/unknown-member-ignored", wantPinned: true, keyAfter: func(e env) []byte { return e.a.pub() },
			req: func(e env) hub.RegisterRequest {
				return e.req(e.f.enroll, []byte(`{"hostname":"h","agent_version":"1.4.2","features":{"x":[1,2]},"signing_pubkey":"`+pubB64(e.a.key)+`"}`))
			}},
		{name: "fail/pinned-other-key-and-bad-csr", pinned: true, code: hub.CodeInvalidRequest, keyAfter: func(e env) []byte { return e.a.pub() },
			req: func(e env) hub.RegisterRequest {
				return e.req(e.a.cert, regBody("1.4.2", pubB64(other), "garbage"))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFx(t)
			var e env
			if tt.pinned {
				e = env{f: f, a: f.enrolled()}
			} else {
				e = env{f: f, a: f.newAgent()}
			}
			before := f.agentState(e.a.id)
			f.clock.Advance(time.Minute)
			res, err := f.core.Register.Register(f.ctx, tt.req(e))
			wantCode(t, err, tt.code)
			after := f.agentState(e.a.id)
			if tt.code == "" {
				if res.AgentID != e.a.id || res.SigningPubKeyPinned != tt.wantPinned || res.ClientCert != "" {
					t.Fatalf("result = %+v", res)
				}
				switch {
				case tt.wantPinned && tt.pinned: // idempotent: set_at is the first pin's
					if res.SigningSetAt == nil || !res.SigningSetAt.Equal(t0) || !after.SigningSetAt.Equal(t0) {
						t.Fatalf("signing_set_at = %v (agent %v), want %v", res.SigningSetAt, after.SigningSetAt, t0)
					}
				case tt.wantPinned:
					if res.SigningSetAt == nil || !res.SigningSetAt.Equal(t0.Add(time.Minute)) || !after.SigningSetAt.Equal(t0.Add(time.Minute)) {
						t.Fatalf("signing_set_at = %v (agent %v)", res.SigningSetAt, after.SigningSetAt)
					}
				case res.SigningSetAt != nil:
					t.Fatalf("signing_set_at %v without a pin in the answer", res.SigningSetAt)
				}
				if !after.RegisteredAt.Equal(t0.Add(time.Minute)) {
					t.Fatalf("registration not recorded: %+v", after)
				}
			} else if !after.RegisteredAt.Equal(before.RegisteredAt) || after.Hostname != before.Hostname {
				t.Fatalf("a refused registration was recorded: %+v", after)
			}
			var want []byte
			if tt.keyAfter != nil {
				want = tt.keyAfter(e)
			}
			if !bytes.Equal(after.SigningPubKey, want) {
				t.Fatalf("signing pin = %x, want %x", after.SigningPubKey, want)
			}
			if (before.Cert == nil) != (after.Cert == nil) || before.Cert != nil && *before.Cert != *after.Cert {
				t.Fatalf("certificate pin changed: %+v -> %+v", before.Cert, after.Cert)
			}
			f.wantAnomalies(e.a.id, tt.anomalies...)
		})
	}
}

// regEnv is one case's fixture and agent.
type regEnv struct {
	f *fx
	a *agent
}

func (e regEnv) req(cert string, body []byte) hub.RegisterRequest {
	return hub.RegisterRequest{Token: e.a.token, ClientCertPEM: cert, ContentType: "application/json", Body: body}
}

func (a *agent) pub() []byte { return []byte(a.key.Public().(ed25519.PublicKey)) }

func ed25519CSR(t testing.TB) string {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestRegisterResultJSON pins the answer shapes of SPEC 4.1.
func TestRegisterResultJSON(t *testing.T) {
	f := newFx(t)
	a := f.newAgent()
	res, err := f.register(a.token, f.enroll, regBody("1.0.0", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if want := `{"agent_id":"` + a.id + `","signing_pubkey_pinned":false}`; string(b) != want {
		t.Fatalf("legacy answer %s, want %s", b, want)
	}
	res, err = f.register(a.token, f.enroll, regBody("1.0.0", pubB64(a.key), ""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(res)
	if want := `{"agent_id":"` + a.id + `","signing_pubkey_pinned":true,"signing_set_at":"2026-04-01T10:00:00Z"}`; string(b) != want {
		t.Fatalf("pin answer %s, want %s", b, want)
	}
}

// TestRegisterRotatedToken: a rotated-out token is refused at once.
func TestRegisterRotatedToken(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	if _, err := f.core.Agents.RotateToken(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	_, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
	wantCode(t, err, hub.CodeUnauthorized)
}

func parseCert(t testing.TB, p string) *x509.Certificate {
	t.Helper()
	c, err := ca.ParseCertPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fingerprint(t testing.TB, p string) string { return ca.Fingerprint(parseCert(t, p).Raw) }

// TestCertRules covers SPEC 5: enrollment, TOFU, issuance, renewal,
// retried issuance, and the certificates that are refused.
func TestCertRules(t *testing.T) {
	t.Run("ok/enrollment-without-csr-pins-nothing", func(t *testing.T) {
		f := newFx(t)
		a := f.newAgent()
		res, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), ""))
		if err != nil || res.ClientCert != "" {
			t.Fatalf("register: %+v, %v", res, err)
		}
		if st := f.agentState(a.id); st.Cert != nil {
			t.Fatalf("enrollment certificate pinned: %+v", st.Cert)
		}
	})

	t.Run("ok/tofu-pins-the-presented-cert", func(t *testing.T) {
		f := newFx(t)
		a := f.newAgent()
		a.cert = f.issue(tenant, a.id)
		res, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
		if err != nil || res.ClientCert != "" {
			t.Fatalf("register: %+v, %v", res, err)
		}
		st := f.agentState(a.id)
		if st.Cert == nil || st.Cert.Fingerprint != fingerprint(t, a.cert) || st.Cert.PEM != "" {
			t.Fatalf("pin = %+v", st.Cert)
		}
		f.mustIngest(a, "1.4.2", 1)
		r := a.req(a.next("1.4.2", 1))
		r.ClientCertPEM = f.issue(tenant, a.id)
		_, err = f.ingest(r)
		wantCode(t, err, hub.CodeCertPinMismatch)
		// The TOFU registration again is idempotent.
		if _, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), "")); err != nil {
			t.Fatal(err)
		}
		if st2 := f.agentState(a.id); *st2.Cert != *st.Cert {
			t.Fatalf("pin changed: %+v", st2.Cert)
		}
	})

	t.Run("ok/csr-issues-and-pins", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		c := parseCert(t, a.cert)
		if c.Subject.CommonName != a.id || strings.Join(c.Subject.Organization, ",") != tenant || strings.Join(c.Subject.OrganizationalUnit, ",") != "agent" {
			t.Fatalf("issued subject %s", c.Subject)
		}
		if !c.PublicKey.(*ecdsa.PublicKey).Equal(a.tlsKey.Public()) {
			t.Fatal("issued certificate is not for the CSR's key")
		}
		if c.NotAfter.Sub(t0) > 30*24*time.Hour+time.Minute {
			t.Fatalf("validity ends %v", c.NotAfter)
		}
		st := f.agentState(a.id)
		if st.Cert == nil || st.Cert.Fingerprint != ca.Fingerprint(c.Raw) || st.Cert.PEM != a.cert || st.Cert.Previous != "" {
			t.Fatalf("pin = %+v", st.Cert)
		}
		f.mustIngest(a, "1.4.2", 1)
		var actions []string
		for _, ev := range f.store.AuditLog(tenant) {
			if ev.AgentID == a.id {
				actions = append(actions, ev.Action)
			}
		}
		if j := strings.Join(actions, ","); !strings.Contains(j, "client_cert_issued") || !strings.Contains(j, "signing_key_pinned") {
			t.Fatalf("audit = %s", j)
		}
	})

	t.Run("ok/retried-issuance-returns-the-same-cert", func(t *testing.T) {
		f := newFx(t)
		a := f.newAgent()
		csr := csrPEM(t, a.tlsKey)
		first, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), csr))
		if err != nil {
			t.Fatal(err)
		}
		pin := *f.agentState(a.id).Cert
		f.clock.Advance(time.Minute)
		// The answer was lost; the agent still only has the enrollment certificate.
		again, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), csr))
		if err != nil || again.ClientCert != first.ClientCert {
			t.Fatalf("retry: %v; same certificate: %v", err, again.ClientCert == first.ClientCert)
		}
		// A new CSR with the same key is a retry too.
		again, err = f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), csrPEM(t, a.tlsKey)))
		if err != nil || again.ClientCert != first.ClientCert {
			t.Fatalf("retry with a fresh CSR for the same key: %v", err)
		}
		if *f.agentState(a.id).Cert != pin {
			t.Fatal("a retry re-pinned")
		}
		f.wantAnomalies(a.id)
	})

	t.Run("ok/renewal-with-pinned-cert-and-new-csr", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		f.mustIngest(a, "1.4.2", 1)
		oldCert, oldFP := a.cert, fingerprint(t, a.cert)
		newKey := p256(t)
		csr := csrPEM(t, newKey)
		res, err := f.register(a.token, oldCert, regBody("1.4.2", pubB64(a.key), csr))
		if err != nil || res.ClientCert == "" || res.ClientCert == oldCert {
			t.Fatalf("renewal: %+v, %v", res, err)
		}
		st := f.agentState(a.id)
		if st.Cert.Fingerprint != fingerprint(t, res.ClientCert) || st.Cert.Previous != oldFP {
			t.Fatalf("pin after renewal = %+v", st.Cert)
		}
		// The renewal's answer was lost: the old certificate with the same CSR gets the same new certificate.
		again, err := f.register(a.token, oldCert, regBody("1.4.2", pubB64(a.key), csr))
		if err != nil || again.ClientCert != res.ClientCert {
			t.Fatalf("renewal retry: %v", err)
		}
		// The old certificate is retired everywhere else.
		_, err = f.ingest(a.req(a.next("1.4.2", 1)))
		wantCode(t, err, hub.CodeCertPinMismatch)
		_, err = f.register(a.token, oldCert, regBody("1.4.2", pubB64(a.key), ""))
		wantCode(t, err, hub.CodeCertPinMismatch)
		_, err = f.register(a.token, oldCert, regBody("1.4.2", pubB64(a.key), csrPEM(t, p256(t))))
		wantCode(t, err, hub.CodeCertPinMismatch)
		f.wantAnomalies(a.id, anom{anomaly.CertPinMismatch, anomaly.Critical, 3})
		a.cert = res.ClientCert
		a.seq--
		f.mustIngest(a, "1.4.2", 1)
		if *f.agentState(a.id).Cert != *st.Cert {
			t.Fatal("refusals changed the pin")
		}
	})

	t.Run("fail/enrollment-cert-after-pinning", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		// The admin unpins the signing key; the agent's own certificate stays pinned.
		if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
			t.Fatal(err)
		}
		pin := *f.agentState(a.id).Cert
		thief := newSigningKey(t)
		for _, csr := range []string{"", csrPEM(t, p256(t))} {
			_, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(thief), csr))
			wantCode(t, err, hub.CodeCertPinMismatch)
			st := f.agentState(a.id)
			if len(st.SigningPubKey) != 0 {
				t.Fatalf("csr %v: a refused registration pinned signing key %x", csr != "", st.SigningPubKey)
			}
			if *st.Cert != pin {
				t.Fatalf("csr %v: certificate pin changed", csr != "")
			}
		}
		f.wantAnomalies(a.id, anom{anomaly.CertPinMismatch, anomaly.Critical, 2})
		// The agent's own certificate still registers its new key.
		if _, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), "")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fail/operator-cert-on-agent-endpoints", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		_, err := f.register(a.token, f.operator, regBody("1.4.2", pubB64(a.key), ""))
		wantCode(t, err, hub.CodeForbidden)
		r := a.req(a.next("1.4.2", 1))
		r.ClientCertPEM = f.operator
		_, err = f.ingest(r)
		wantCode(t, err, hub.CodeForbidden)
		f.wantAnomalies(a.id)
	})

	t.Run("fail/another-tenants-cert", func(t *testing.T) {
		f := newFx(t)
		a := f.newAgent()
		for _, c := range []string{f.otherEnroll, f.issue(otherTenant, a.id)} {
			_, err := f.register(a.token, c, regBody("1.4.2", pubB64(a.key), csrPEM(t, a.tlsKey)))
			wantCode(t, err, hub.CodeCertPinMismatch)
		}
		if st := f.agentState(a.id); st.Cert != nil || len(st.SigningPubKey) != 0 {
			t.Fatalf("pins set by refused registrations: %+v", st)
		}
		f.wantAnomalies(a.id, anom{anomaly.CertPinMismatch, anomaly.Critical, 2})
	})

	t.Run("fail/csr-with-a-cert-that-cannot-renew", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		// Another certificate for this agent id (not the pinned one) cannot renew.
		_, err := f.register(a.token, f.issue(tenant, a.id), regBody("1.4.2", pubB64(a.key), csrPEM(t, p256(t))))
		wantCode(t, err, hub.CodeCertPinMismatch)
	})

	t.Run("ok/rotate-client-cert-then-pin-again", func(t *testing.T) {
		f := newFx(t)
		a := f.enrolled()
		old := a.cert
		v, err := f.core.Agents.RotateClientCert(f.ctx, f.admin, a.id)
		if err != nil || v.ClientCertPinned {
			t.Fatalf("rotate-client-cert: %+v, %v", v, err)
		}
		if g, _ := f.core.Agents.Get(f.ctx, f.admin, a.id); g.ClientCertPinned || g.ClientCertFP != nil {
			t.Fatalf("still pinned: %+v", g)
		}
		a.tlsKey = p256(t)
		res, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), csrPEM(t, a.tlsKey)))
		if err != nil || res.ClientCert == "" || res.ClientCert == old {
			t.Fatalf("re-enrolment: %+v, %v", res, err)
		}
		a.cert = res.ClientCert
		f.mustIngest(a, "1.4.2", 1)
		r := a.req(a.next("1.4.2", 1))
		r.ClientCertPEM = old
		_, err = f.ingest(r)
		wantCode(t, err, hub.CodeCertPinMismatch)
	})

	t.Run("ok/insecure-no-client-cert", func(t *testing.T) {
		f := newFx(t)
		svc, err := app.Assemble(f.store.Stores(), f.auth, app.CoreConfig{InsecureNoClientCert: true}, hub.Env{Clock: f.clock})
		if err != nil {
			t.Fatal(err)
		}
		a := f.newAgent()
		if _, err := svc.Register.Register(f.ctx, hub.RegisterRequest{Token: a.token, ContentType: "application/json", Body: regBody("1.4.2", pubB64(a.key), "")}); err != nil {
			t.Fatal(err)
		}
		a.cert = ""
		body := a.next("1.4.2", 1)
		if _, err := svc.Ingest.Ingest(f.ctx, a.req(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AdminAuth.Authenticate(f.ctx, f.adminKey, ""); err != nil {
			t.Fatal(err)
		}
		// A presented certificate is still checked.
		r := a.req(a.next("1.4.2", 1))
		r.ClientCertPEM = f.operator
		_, err = svc.Ingest.Ingest(f.ctx, r)
		wantCode(t, err, hub.CodeForbidden)
	})
}
