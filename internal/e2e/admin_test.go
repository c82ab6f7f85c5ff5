package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/sig"
)

// TestCrossTenant: an admin of another tenant gets 404 for everything of this
// tenant, exactly as for something that does not exist.
func TestCrossTenant(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	expect(t, a.ingestWith(a.c, a.body(metric("cpu", 1)), "", nil), http.StatusForbidden, "signature_missing")

	otherInfo, err := e.hub.AddTenant(t.Context(), "acme-bv")
	if err != nil {
		t.Fatal(err)
	}
	other := e.adminOf(otherInfo)
	for _, c := range []struct{ method, path string }{
		{"GET", "/agents/" + a.id},
		{"POST", "/agents/" + a.id + "/rotate-signing-key"},
		{"POST", "/agents/" + a.id + "/rotate-token"},
		{"POST", "/agents/" + a.id + "/rotate-client-cert"},
		{"GET", "/agents/ag_doesnotexist"},
	} {
		t.Run("fail"+c.path+"/"+c.method, func(t *testing.T) {
			r := other.do(c.method, c.path, nil)
			expect(t, r, http.StatusNotFound, "not_found")
		})
	}
	t.Run("ok/anomalies-are-per-tenant", func(t *testing.T) {
		if list := other.anomalies(""); len(list) != 0 {
			t.Fatalf("tenant acme-bv sees %d anomalies of demo", len(list))
		}
		if list := other.anomalies("agent_id=" + a.id); len(list) != 0 {
			t.Fatalf("tenant acme-bv sees demo's agent anomalies")
		}
		if list := e.admin().anomalies("agent_id=" + a.id); len(list) != 1 {
			t.Fatalf("demo sees %d anomalies, want 1", len(list))
		}
	})
	t.Run("fail/nothing-changed", func(t *testing.T) {
		v := e.admin().agent(a.id)
		if v["signing_pubkey_pinned"] != true || v["client_cert_pinned"] != true {
			t.Fatalf("another tenant's admin changed the agent: %v", v)
		}
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "") // old token still valid
	})
	t.Run("fail/key-of-one-tenant-with-operator-cert-of-another", func(t *testing.T) {
		mixed := &admin{e: e, c: e.fileClient(otherInfo.OperatorCert, otherInfo.OperatorKey), key: e.info.AdminKey, url: e.info.URL + "/api/v1"}
		expect(t, mixed.do("GET", "/agents/"+a.id, nil), http.StatusForbidden, "forbidden")
	})
}

// TestAdminAuth: credentials are never interchangeable (SPEC 2, 5 step 7).
func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	ad := e.admin()
	base := e.info.URL + "/api/v1"
	cases := []struct {
		name   string
		client *clientRef
		bearer string
		method string
		path   string
		status int
		code   string
	}{
		{"fail/no-key", &clientRef{ad.c}, "", "GET", "/agents/" + a.id, 401, "unauthorized"},
		{"fail/unknown-key", &clientRef{ad.c}, "msa_" + strings.Repeat("A", 43), "GET", "/agents/" + a.id, 401, "unauthorized"},
		{"fail/agent-token-on-admin", &clientRef{ad.c}, a.token, "GET", "/agents/" + a.id, 401, "unauthorized"},
		{"fail/admin-key-on-agent-endpoint", &clientRef{a.c}, e.info.AdminKey, "POST", "/ingest", 401, "unauthorized"},
		{"fail/enrollment-cert-on-admin", &clientRef{a.enrollC}, e.info.AdminKey, "GET", "/agents/" + a.id, 403, "forbidden"},
		{"fail/agent-cert-on-admin", &clientRef{a.c}, e.info.AdminKey, "GET", "/agents/" + a.id, 403, "forbidden"},
		{"fail/unknown-endpoint", &clientRef{ad.c}, e.info.AdminKey, "GET", "/nope", 404, "not_found"},
		{"ok/operator", &clientRef{ad.c}, e.info.AdminKey, "GET", "/agents/" + a.id, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.method == "POST" {
				body = a.body(metric("cpu", 1))
			}
			expect(t, call(t, c.client.c, c.method, base+c.path, c.bearer, body, map[string]string{sig.Header: signOf(a, body)}), c.status, c.code)
		})
	}
	t.Run("fail/no-client-certificate-at-all", func(t *testing.T) {
		c := e.client(nil)
		_, err := c.Get(base + "/anomalies")
		if err == nil {
			t.Fatal("a request without a client certificate got through the TLS handshake")
		}
	})
}

type clientRef struct{ c *http.Client }

// TestRotateToken: the new token works at once and the old one stops at once.
func TestRotateToken(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	r := e.admin().do("POST", "/agents/"+a.id+"/rotate-token", nil)
	expect(t, r, http.StatusOK, "")
	old := a.token
	a.token = r.Body["token"].(string)
	if a.token == old || !strings.HasPrefix(a.token, "ms_") {
		t.Fatalf("new token %q", a.token)
	}
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	a.token = old
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusUnauthorized, "unauthorized")
	if strings.Contains(e.logs.String(), old[3:]) || strings.Contains(e.logs.String(), r.Body["token"].(string)[3:]) {
		t.Fatal("a token reached the log")
	}
}

// TestRotateSigningKey follows the seed's rotation: the admin unsets the pin,
// the agent registers a new key and signs with it; the old key is refused.
func TestRotateSigningKey(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	r := ad.do("POST", "/agents/"+a.id+"/rotate-signing-key", nil)
	expect(t, r, http.StatusOK, "")
	if r.Body["signing_pubkey_pinned"] != false {
		t.Fatalf("rotate: %s", r)
	}
	oldKey := a.signKey
	a.signKey = e.newAgent().signKey
	p := a.pub()
	r = a.register(a.c, a.regBody(&p, ""))
	expect(t, r, http.StatusOK, "")
	expect(t, a.ingest(a.body(metric("cpu", 2))), http.StatusAccepted, "")
	body := a.body(metric("cpu", 3))
	expect(t, a.ingestWith(a.c, body, sig.Sign(oldKey, body), nil), http.StatusForbidden, "signature_invalid")
}

// TestLogsHoldNoSecrets: nothing the hub logs carries a token, an admin key or a private key.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	expect(t, a.ingestWith(a.c, a.body(metric("cpu", 1)), "", nil), http.StatusForbidden, "signature_missing")
	logs := e.logs.String()
	for name, secret := range map[string]string{"agent token": a.token, "admin key": e.info.AdminKey} {
		if strings.Contains(logs, secret) || strings.Contains(logs, secret[4:20]) {
			t.Fatalf("the %s is in the log", name)
		}
	}
	if strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, "Bearer") {
		t.Fatal("key material or an Authorization header is in the log")
	}
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("no request log lines at all: the check above proves nothing")
	}
}
