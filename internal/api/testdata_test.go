package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/cryptotest"
	"text/template"
	"time"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/sig"
)

var update = flag.Bool("update", false, "rewrite the test PKI and the API Gateway events under testdata/")

// The credentials and names the event files carry. They are test values
// only; the store of each test is seeded with their hashes.
const (
	tenant        = "acme"
	otherTenant   = "globex"
	agentID       = "ag_apitest1"
	agentToken    = "ms_dGVzdC1vbmx5LWFnZW50LXRva2VuLWZvci1hcGktdGVzdHM"
	adminKey      = "msa_dGVzdC1vbmx5LWFkbWluLWtleS1mb3ItYXBpLXRlc3RzLQ"
	otherAdminKey = "msa_Z2xvYmV4LXRlc3Qtb25seS1hZG1pbi1rZXktZm9yLWFwaQ"
	firstSeq      = int64(1743501600000000000)
	// requestID is the requestContext.requestId of every event file.
	requestID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
	// packID is the pack get-pack.json asks about; packPeriod is the body
	// of request-pack.json (March 2026, a whole calendar month).
	packID     = "pk_apitest7q2m4kzb3c5d6f7gh"
	packPeriod = `{"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z"}`
)

// eventTime is when the events were "received"; the tests' clock.
var eventTime = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

// signingKey is the agent's Ed25519 key: the seed is SHA-256 of a fixed phrase.
func signingKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("monsys api test agent signing key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// The PKI files under testdata/pki. ca-TEST-ONLY.key is the test CA's private
// key, needed to issue from a CSR; it protects nothing.
var pkiFiles = []string{"ca.pem", "ca-TEST-ONLY.key", "operator.pem", "enrollment.pem", "agent.pem",
	"other-agent.pem", "other-operator.pem", "agent-csr.pem"}

// eventFiles are the API Gateway REST proxy events under testdata/events.
var eventFiles = []string{"register.json", "register-csr.json", "ingest.json", "ingest-base64.json",
	"create-agent.json", "get-agent.json", "rotate-token.json", "rotate-signing-key.json",
	"rotate-client-cert.json", "list-anomalies.json", "unknown-path.json",
	"request-pack.json", "get-pack.json", "rotate-pack-key.json",
	"log-checkpoint.json", "log-tile.json", "log-entries.json"}

// TestTestdata regenerates testdata/pki and testdata/events with -update
// (go test ./internal/api -run TestTestdata -update); without it, it checks
// that every file is there.
func TestTestdata(t *testing.T) {
	if !*update {
		for _, n := range pkiFiles {
			readFile(t, "pki", n)
		}
		for _, n := range eventFiles {
			readFile(t, "events", n)
		}
		return
	}
	cryptotest.SetGlobalRandom(t, 20260401)
	issued := eventTime.AddDate(0, -3, 0)
	caKey := newP256(t)
	root, err := ca.NewRoot(caKey, "monsys test CA", issued, 10*365*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Cert: root, Signer: caKey, Now: func() time.Time { return issued }}
	const validity = 5 * 365 * 24 * time.Hour
	mustCert := func(c *x509.Certificate, err error) *x509.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	agentCSR := func() *x509.CertificateRequest {
		c, err := ca.ParseCSR([]byte(newCSR(t, newP256(t))))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	oper := mustCert(auth.IssueOperator(tenant, newP256(t).Public(), validity))
	enroll := mustCert(auth.IssueEnrollment(tenant, newP256(t).Public(), validity))
	agent := mustCert(auth.IssueAgent(agentCSR(), tenant, agentID, validity))
	other := mustCert(auth.IssueAgent(agentCSR(), tenant, "ag_apitest2", validity))
	otherOper := mustCert(auth.IssueOperator(otherTenant, newP256(t).Public(), validity))
	keyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	csr := newCSR(t, newP256(t))
	certPEM := func(c *x509.Certificate) []byte { return ca.EncodeCertPEM(c) }
	writeFile(t, "pki", "ca.pem", certPEM(root))
	writeFile(t, "pki", "ca-TEST-ONLY.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writeFile(t, "pki", "operator.pem", certPEM(oper))
	writeFile(t, "pki", "enrollment.pem", certPEM(enroll))
	writeFile(t, "pki", "agent.pem", certPEM(agent))
	writeFile(t, "pki", "other-agent.pem", certPEM(other))
	writeFile(t, "pki", "other-operator.pem", certPEM(otherOper))
	writeFile(t, "pki", "agent-csr.pem", []byte(csr))

	key := signingKey()
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	register := fmt.Sprintf(`{"hostname":"web-01","agent_version":"1.4.2","os":"linux","arch":"amd64","signing_pubkey":%q}`, pub)
	registerCSR := fmt.Sprintf(`{"hostname":"web-01","agent_version":"1.4.2","os":"linux","arch":"amd64","signing_pubkey":%q,"csr":%s}`, pub, jsonString(csr))
	batch0 := fmt.Sprintf(`[{"type":"batch","ts":"2026-04-01T09:59:58Z","seq":%d,"agent_version":"1.4.2"},`+
		`{"type":"metric","ts":"2026-04-01T09:59:00Z","name":"cpu","value":0.25},`+
		`{"type":"agent_status","ts":"2026-04-01T09:59:30Z","state":"ok"}]`, firstSeq)
	batch1 := fmt.Sprintf(`[{"type":"batch","ts":"2026-04-01T10:00:58Z","seq":%d,"agent_version":"1.4.2"},`+
		`{"type":"inventory_snapshot","ts":"2026-04-01T10:00:00Z","packages":["openssl 3.0.13"]},`+
		`{"type":"honeypot_trip","ts":"2026-04-01T10:00:30Z","path":"/etc/shadow.bak"}]`, firstSeq+1)

	agentHeaders := func(ct string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + agentToken, "Host": "hub.example.com",
			"User-Agent": "monsys-agent/1.4.2 (linux; amd64)", "X-Amzn-Trace-Id": "Root=1-67ebb940-0123456789abcdef01234567",
			"X-Forwarded-For": "203.0.113.10", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
		if ct != "" {
			h["Content-Type"] = ct
		}
		return h
	}
	adminHeaders := func(withBody bool) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + adminKey, "Host": "hub.example.com",
			"User-Agent": "curl/8.5.0", "X-Amzn-Trace-Id": "Root=1-67ebb940-89abcdef0123456789abcdef",
			"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
		if withBody {
			h["Content-Type"] = "application/json"
		}
		return h
	}
	ingest := agentHeaders("application/json")
	ingest[sig.Header] = sig.Sign(key, []byte(batch0))
	lower := map[string]string{}
	for k, v := range agentHeaders("application/json; charset=utf-8") {
		lower[strings.ToLower(k)] = v
	}
	lower[strings.ToLower(sig.Header)] = sig.Sign(key, []byte(batch1))

	evs := []struct {
		file, method, path string
		headers            map[string]string
		query              map[string]string
		cert               *x509.Certificate
		body               string
		b64                bool
	}{
		{"register.json", "POST", "/api/v1/agents/register", agentHeaders("application/json"), nil, agent, register, false},
		{"register-csr.json", "POST", "/api/v1/agents/register", agentHeaders("application/json"), nil, enroll, registerCSR, false},
		{"ingest.json", "POST", "/api/v1/ingest", ingest, nil, agent, batch0, false},
		{"ingest-base64.json", "POST", "/api/v1/ingest", lower, nil, agent, base64.StdEncoding.EncodeToString([]byte(batch1)), true},
		{"create-agent.json", "POST", "/api/v1/agents", adminHeaders(true), nil, oper, `{"hostname":"web-02"}`, false},
		{"get-agent.json", "GET", "/api/v1/agents/" + agentID, adminHeaders(false), nil, oper, "", false},
		{"rotate-token.json", "POST", "/api/v1/agents/" + agentID + "/rotate-token", adminHeaders(false), nil, oper, "", false},
		{"rotate-signing-key.json", "POST", "/api/v1/agents/" + agentID + "/rotate-signing-key", adminHeaders(false), nil, oper, "", false},
		{"rotate-client-cert.json", "POST", "/api/v1/agents/" + agentID + "/rotate-client-cert", adminHeaders(false), nil, oper, "", false},
		{"list-anomalies.json", "GET", "/api/v1/anomalies", adminHeaders(false), map[string]string{"status": "open", "agent_id": agentID}, oper, "", false},
		{"unknown-path.json", "GET", "/api/v1/nothing-here", adminHeaders(false), nil, oper, "", false},
		{"request-pack.json", "POST", "/api/v1/evidence-packs", adminHeaders(true), nil, oper, packPeriod, false},
		{"get-pack.json", "GET", "/api/v1/evidence-packs/" + packID, adminHeaders(false), map[string]string{"expires_in": "3600"}, oper, "", false},
		{"rotate-pack-key.json", "POST", "/api/v1/signing-keys/rotate", adminHeaders(false), nil, oper, "", false},
		{"log-checkpoint.json", "GET", "/api/v1/log/checkpoint", adminHeaders(false), nil, oper, "", false},
		{"log-tile.json", "GET", "/api/v1/log/tile/0/000.p/3", adminHeaders(false), nil, oper, "", false},
		{"log-entries.json", "GET", "/api/v1/log/entries/000.p/3", adminHeaders(false), nil, oper, "", false},
	}
	for _, e := range evs {
		var buf bytes.Buffer
		err := eventTemplate.Execute(&buf, map[string]any{
			"Method": e.method, "Path": e.path, "Headers": e.headers, "MultiHeaders": multi(e.headers),
			"Query": e.query, "MultiQuery": multi(e.query), "Proxy": strings.TrimPrefix(e.path, "/"),
			"RequestTime": eventTime.Format("02/Jan/2006:15:04:05 -0700"), "Epoch": eventTime.UnixMilli(),
			"RequestID": requestID, "UserAgent": e.headers["User-Agent"] + e.headers["user-agent"],
			"ClientCert": clientCertJSON(e.cert), "Body": e.body, "B64": e.b64,
		})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
			t.Fatalf("%s: %v\n%s", e.file, err, buf.Bytes())
		}
		out.WriteByte('\n')
		writeFile(t, "events", e.file, out.Bytes())
	}
}

// eventTemplate is a REST API proxy event (payload v1) for a greedy
// {proxy+} resource on a custom domain with mutual TLS, field for field as
// API Gateway sends it.
var eventTemplate = template.Must(template.New("event").Funcs(template.FuncMap{"json": jsonValue}).Parse(`{
"resource": "/{proxy+}",
"path": {{json .Path}},
"httpMethod": {{json .Method}},
"headers": {{json .Headers}},
"multiValueHeaders": {{json .MultiHeaders}},
"queryStringParameters": {{json .Query}},
"multiValueQueryStringParameters": {{json .MultiQuery}},
"pathParameters": {"proxy": {{json .Proxy}}},
"stageVariables": null,
"requestContext": {
  "resourceId": "k3x9pz",
  "resourcePath": "/{proxy+}",
  "httpMethod": {{json .Method}},
  "extendedRequestId": "IjtNbFyDoAMEZ8g=",
  "requestTime": {{json .RequestTime}},
  "path": {{json .Path}},
  "accountId": "123456789012",
  "protocol": "HTTP/1.1",
  "stage": "prod",
  "domainPrefix": "hub",
  "requestTimeEpoch": {{.Epoch}},
  "requestId": {{json .RequestID}},
  "identity": {
    "cognitoIdentityPoolId": null,
    "accountId": null,
    "cognitoIdentityId": null,
    "caller": null,
    "sourceIp": "203.0.113.10",
    "principalOrgId": null,
    "accessKey": null,
    "cognitoAuthenticationType": null,
    "cognitoAuthenticationProvider": null,
    "userArn": null,
    "userAgent": {{json .UserAgent}},
    "user": null,
    "clientCert": {{.ClientCert}}
  },
  "domainName": "hub.example.com",
  "apiId": "a1b2c3d4e5"
},
"body": {{if .Body}}{{json .Body}}{{else}}null{{end}},
"isBase64Encoded": {{.B64}}
}`))

// clientCertJSON renders requestContext.identity.clientCert as API Gateway does.
func clientCertJSON(c *x509.Certificate) string {
	const layout = "Jan _2 15:04:05 2006 GMT"
	serial := c.SerialNumber.Bytes()
	pairs := make([]string, len(serial))
	for i, b := range serial {
		pairs[i] = hex.EncodeToString([]byte{b})
	}
	return jsonValue(map[string]any{
		"clientCertPem": string(ca.EncodeCertPEM(c)),
		"subjectDN":     c.Subject.String(),
		"issuerDN":      c.Issuer.String(),
		"serialNumber":  strings.Join(pairs, ":"),
		"validity": map[string]string{
			"notBefore": c.NotBefore.UTC().Format(layout),
			"notAfter":  c.NotAfter.UTC().Format(layout),
		},
	})
}

func multi(m map[string]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := map[string][]string{}
	for k, v := range m {
		out[k] = []string{v}
	}
	return out
}

func jsonValue(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func jsonString(s string) string { return jsonValue(s) }

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCSR(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "web-01"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func writeFile(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	p := filepath.Join("testdata", dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatalf("read testdata (regenerate with go test ./internal/api -run TestTestdata -update): %v", err)
	}
	return b
}
