package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"testing"
)

// TestRegisterPinTable walks every row of SPEC 4.1's table in order on one agent.
func TestRegisterPinTable(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	a := e.newAgent()
	key := a.pub()

	// no pin + a key: pinned, signing_set_at set.
	r := a.register(a.enrollC, a.regBody(&key, ""))
	expect(t, r, http.StatusOK, "")
	if r.Body["agent_id"] != a.id || r.Body["signing_pubkey_pinned"] != true || r.Body["signing_set_at"] == nil {
		t.Fatalf("first registration: %s", r)
	}
	setAt := r.Body["signing_set_at"]

	// pinned + the same key: 200, nothing changes.
	r = a.register(a.enrollC, a.regBody(&key, ""))
	expect(t, r, http.StatusOK, "")
	if r.Body["signing_set_at"] != setAt {
		t.Fatalf("idempotent registration changed signing_set_at: %v -> %v", setAt, r.Body["signing_set_at"])
	}

	// pinned + another key: 403 signature_invalid, the pin stays, a critical anomaly.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherKey := base64.StdEncoding.EncodeToString(other.Public().(ed25519.PublicKey))
	r = a.register(a.enrollC, a.regBody(&otherKey, ""))
	expect(t, r, http.StatusForbidden, "signature_invalid")
	v := ad.agent(a.id)
	if v["signing_pubkey"] != key || v["signing_set_at"] != setAt {
		t.Fatalf("pin moved: %v", v)
	}
	an := ad.anomaly(a.id, "signature_invalid")
	if an["severity"] != "critical" || an["count"] != float64(1) {
		t.Fatalf("anomaly: %v", an)
	}

	// any + no key: 200 {"signing_pubkey_pinned": false}.
	r = a.register(a.enrollC, a.regBody(nil, ""))
	expect(t, r, http.StatusOK, "")
	if r.Body["signing_pubkey_pinned"] != false {
		t.Fatalf("legacy registration: %s", r)
	}
	// A repeat of the refused key raises the count of the same open anomaly.
	expect(t, a.register(a.enrollC, a.regBody(&otherKey, "")), http.StatusForbidden, "signature_invalid")
	if an := ad.anomaly(a.id, "signature_invalid"); an["count"] != float64(2) {
		t.Fatalf("repeat did not raise the count: %v", an)
	}
}

func TestRegisterLegacyAgent(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent()
	r := a.register(a.enrollC, a.regBody(nil, a.csr()))
	expect(t, r, http.StatusOK, "")
	if r.Body["signing_pubkey_pinned"] != false || r.Body["client_cert"] == nil {
		t.Fatalf("legacy registration with CSR: %s", r)
	}
	if v := e.admin().agent(a.id); v["signing_pubkey_pinned"] != false || v["client_cert_pinned"] != true {
		t.Fatalf("agent view: %v", v)
	}
}

func TestRegisterBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent()
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32)) // small order (4)
	identity := base64.StdEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))
	good := a.pub()
	broken := good[:20] + "\n" + good[20:]
	cases := []struct {
		name   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"fail/malformed-json", []byte(`{"hostname":`), nil, 400, "invalid_request"},
		{"fail/array", []byte(`[]`), nil, 400, "invalid_request"},
		{"fail/short-key", a.regBody(&short, ""), nil, 400, "invalid_request"},
		{"fail/small-order-key-zero-bytes", a.regBody(&zero, ""), nil, 400, "invalid_request"},
		{"fail/small-order-key-identity", a.regBody(&identity, a.csr()), nil, 400, "invalid_request"},
		{"fail/key-with-line-break", a.regBody(&broken, ""), nil, 400, "invalid_request"},
		{"fail/member-name-case", []byte(`{"hostname":"h","Signing_PubKey":"` + good + `"}`), nil, 400, "invalid_request"},
		{"fail/duplicate-member", []byte(`{"hostname":"h","signing_pubkey":"` + good + `","signing_pubkey":"` + good + `"}`), nil, 400, "invalid_request"},
		{"fail/bad-csr", []byte(`{"hostname":"h","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}`), nil, 400, "invalid_request"},
		{"fail/content-type", []byte(`{}`), map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, a.enrollC, "POST", e.info.URL+"/api/v1/agents/register", a.token, c.body, c.hdr)
			expect(t, r, c.status, c.code)
		})
	}
	if v := e.admin().agent(a.id); v["signing_pubkey_pinned"] != false || v["client_cert_pinned"] != false {
		t.Fatalf("a refused registration pinned something: %v", v)
	}
}

// TestRegisterCertificates covers SPEC 5: issuance, TOFU, renewal, retries and unpinning.
func TestRegisterCertificates(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()

	t.Run("ok/issue-and-pin", func(t *testing.T) {
		a := e.enrolledAgent()
		v := ad.agent(a.id)
		if v["client_cert_pinned"] != true {
			t.Fatalf("not pinned: %v", v)
		}
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	})
	t.Run("ok/retried-issuance-returns-same-certificate", func(t *testing.T) {
		a := e.newAgent()
		p, csr := a.pub(), a.csr()
		r1 := a.register(a.enrollC, a.regBody(&p, csr))
		r2 := a.register(a.enrollC, a.regBody(&p, csr))
		expect(t, r2, http.StatusOK, "")
		if r1.Body["client_cert"] != r2.Body["client_cert"] {
			t.Fatal("a retried issuance got another certificate")
		}
	})
	t.Run("fail/enrollment-after-pin-with-new-key", func(t *testing.T) {
		a := e.enrolledAgent()
		b := e.newAgent() // a different TLS key
		a.tlsKey = b.tlsKey
		p := a.pub()
		expect(t, a.register(a.enrollC, a.regBody(&p, a.csr())), http.StatusForbidden, "cert_pin_mismatch")
		ad.anomaly(a.id, "cert_pin_mismatch")
	})
	t.Run("ok/renewal", func(t *testing.T) {
		a := e.enrolledAgent()
		old := a.c
		oldFP := ad.agent(a.id)["client_cert_fingerprint"]
		b := e.newAgent()
		a.tlsKey = b.tlsKey
		p := a.pub()
		r := a.register(old, a.regBody(&p, a.csr()))
		expect(t, r, http.StatusOK, "")
		a.useCert(r.Body["client_cert"].(string))
		if fp := ad.agent(a.id)["client_cert_fingerprint"]; fp == oldFP {
			t.Fatal("renewal did not re-pin")
		}
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
		// The old certificate no longer works for ingest.
		body := a.body(metric("cpu", 2))
		expect(t, a.ingestWith(old, body, signOf(a, body), nil), http.StatusForbidden, "cert_pin_mismatch")
	})
	t.Run("ok/tofu-without-csr", func(t *testing.T) {
		// An agent certificate issued to this agent earlier (e.g. by a previous
		// hub) is pinned as presented when no CSR is sent.
		a := e.enrolledAgent()
		expect(t, ad.do("POST", "/agents/"+a.id+"/rotate-client-cert", nil), http.StatusOK, "")
		p := a.pub()
		expect(t, a.register(a.c, a.regBody(&p, "")), http.StatusOK, "")
		if ad.agent(a.id)["client_cert_pinned"] != true {
			t.Fatal("TOFU did not pin the presented certificate")
		}
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	})
	t.Run("fail/enrollment-cert-on-ingest", func(t *testing.T) {
		a := e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		expect(t, a.ingestWith(a.enrollC, body, signOf(a, body), nil), http.StatusForbidden, "cert_pin_mismatch")
	})
	t.Run("fail/operator-cert-as-agent", func(t *testing.T) {
		a := e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		expect(t, a.ingestWith(ad.c, body, signOf(a, body), nil), http.StatusForbidden, "forbidden")
	})
	t.Run("ok/rotate-client-cert-then-pin-again", func(t *testing.T) {
		a := e.enrolledAgent()
		old := a.c
		expect(t, ad.do("POST", "/agents/"+a.id+"/rotate-client-cert", nil), http.StatusOK, "")
		if ad.agent(a.id)["client_cert_pinned"] != false {
			t.Fatal("still pinned")
		}
		a.tlsKey = e.newAgent().tlsKey
		p := a.pub()
		r := a.register(a.enrollC, a.regBody(&p, a.csr()))
		expect(t, r, http.StatusOK, "")
		a.useCert(r.Body["client_cert"].(string))
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
		body := a.body(metric("cpu", 2))
		expect(t, a.ingestWith(old, body, signOf(a, body), nil), http.StatusForbidden, "cert_pin_mismatch")
	})
}
