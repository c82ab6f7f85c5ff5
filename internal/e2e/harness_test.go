package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// env is one local hub with its own tables on the shared dynalite (or its own
// dynalite, for fault tests).
type env struct {
	t    *testing.T
	hub  *local.Hub
	info profile.Info
	pool *x509.CertPool
	logs *logtest.Buffer
	// bucket is the hub's packs bucket.
	bucket string
	// tables are the hub's DynamoDB tables, for tests that play an
	// insider with the database.
	tables dynamo.Tables
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return startEnv(t, local.Config{DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t)})
}

func startEnv(t *testing.T, cfg local.Config) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	buf := &logtest.Buffer{}
	cfg.Dir, cfg.Addr, cfg.Log = t.TempDir(), "127.0.0.1:0", slog.New(slog.NewJSONHandler(buf, nil))
	if cfg.S3Endpoint == "" {
		cfg.S3Endpoint, cfg.S3User, cfg.S3Password = emutest.S3EndpointForTest(t)
		cfg.Bucket = emutest.UniqueBucket(t)
	}
	prefix := cfg.TablePrefix
	if prefix == "" {
		prefix = "monsys-" // local.Config's default
	}
	h, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local hub: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	info := h.Info()
	caPEM, err := os.ReadFile(info.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &env{t: t, hub: h, info: info, pool: pool, logs: buf, bucket: cfg.Bucket,
		tables: dynamo.TablesWithPrefix(prefix)}
}

// client is an HTTPS client that presents cert (nil: no client certificate).
func (e *env) client(cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false}}
}

func (e *env) fileClient(certFile, keyFile string) *http.Client {
	e.t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.client(&c)
}

type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r resp) code() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.Status, r.Raw) }

// call sends one request. hdr may set Content-Type (default application/json
// when there is a body) and any other header.
func call(t testing.TB, c *http.Client, method, url, bearer string, body []byte, hdr map[string]string) resp {
	t.Helper()
	r, err := send(c, method, url, bearer, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is call without a test: a request that gets no answer is an error.
func send(c *http.Client, method, url, bearer string, body []byte, hdr map[string]string) (resp, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: read the answer: %w", method, url, err)
	}
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- admin

// admin is an operator of one tenant: raw requests through c, for what the
// tests check at the HTTP level, and the typed calls of internal/client.
type admin struct {
	e   *env
	c   *http.Client
	api *client.Admin
	key string
	url string
}

func (e *env) admin() *admin { return e.adminOf(e.info) }

func (e *env) adminOf(info profile.Info) *admin {
	e.t.Helper()
	api, err := client.NewAdmin(info, client.Options{Timeout: 60 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(api.CloseIdle)
	return &admin{e: e, c: e.fileClient(info.OperatorCert, info.OperatorKey), api: api, key: info.AdminKey, url: info.URL + "/api/v1"}
}

func (a *admin) do(method, path string, body []byte) resp {
	a.e.t.Helper()
	return call(a.e.t, a.c, method, a.url+path, a.key, body, nil)
}

func (a *admin) createAgent() (string, string) {
	a.e.t.Helper()
	created, err := a.api.CreateAgent(a.e.t.Context(), "web-edge-01")
	if err != nil {
		a.e.t.Fatal(err)
	}
	return created.AgentID, created.Token
}

func (a *admin) agent(id string) map[string]any {
	a.e.t.Helper()
	r := a.do("GET", "/agents/"+id, nil)
	if r.Status != http.StatusOK {
		a.e.t.Fatalf("get agent: %s", r)
	}
	return r.Body
}

func (a *admin) anomalies(query string) []map[string]any {
	a.e.t.Helper()
	r := a.do("GET", "/anomalies?"+query, nil)
	if r.Status != http.StatusOK {
		a.e.t.Fatalf("list anomalies: %s", r)
	}
	var out []map[string]any
	for _, x := range r.Body["anomalies"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// anomaly returns the open anomaly of kind for agent, failing if there is none.
func (a *admin) anomaly(agentID, kind string) map[string]any {
	a.e.t.Helper()
	list := a.anomalies("status=open&kind=" + kind + "&agent_id=" + agentID)
	if len(list) != 1 {
		a.e.t.Fatalf("want one open %s anomaly for %s, got %d", kind, agentID, len(list))
	}
	return list[0]
}

func (a *admin) noAnomaly(agentID, kind string) {
	a.e.t.Helper()
	if list := a.anomalies("kind=" + kind + "&agent_id=" + agentID); len(list) != 0 {
		a.e.t.Fatalf("want no %s anomaly for %s, got %v", kind, agentID, list)
	}
}

// --- agents

type agent struct {
	e       *env
	id      string
	token   string
	signKey ed25519.PrivateKey
	tlsKey  *ecdsa.PrivateKey
	cert    *tls.Certificate // issued by the hub; nil before enrollment
	enrollC *http.Client
	c       *http.Client // presents cert
	seq     atomic.Int64
	version string
	// prev is the SHA-256 of the last body the hub acknowledged through
	// send: the chain of SPEC 4.2, as monsys-agent keeps it.
	prev string
}

func (e *env) newAgent() *agent {
	e.t.Helper()
	id, tok := e.admin().createAgent()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	tk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := &agent{e: e, id: id, token: tok, signKey: sk, tlsKey: tk, version: "1.4.2",
		enrollC: e.fileClient(e.info.EnrollCert, e.info.EnrollKey)}
	a.seq.Store(time.Now().UnixNano())
	return a
}

func (a *agent) pub() string {
	return base64.StdEncoding.EncodeToString(a.signKey.Public().(ed25519.PublicKey))
}

func (a *agent) csr() string {
	a.e.t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, a.tlsKey)
	if err != nil {
		a.e.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func (a *agent) regBody(pub *string, csr string) []byte {
	m := map[string]any{"hostname": "web-edge-01", "agent_version": a.version, "os": "linux", "arch": "amd64"}
	if pub != nil {
		m["signing_pubkey"] = *pub
	}
	if csr != "" {
		m["csr"] = csr
	}
	return mustJSON(a.e.t, m)
}

// register posts a registration through client c.
func (a *agent) register(c *http.Client, body []byte) resp {
	a.e.t.Helper()
	return call(a.e.t, c, "POST", a.e.info.URL+"/api/v1/agents/register", a.token, body, nil)
}

// enroll registers with the enrollment certificate, the signing key and a CSR,
// and switches to the issued certificate.
func (a *agent) enroll() *agent {
	a.e.t.Helper()
	p := a.pub()
	r := a.register(a.enrollC, a.regBody(&p, a.csr()))
	if r.Status != http.StatusOK || r.Body["signing_pubkey_pinned"] != true {
		a.e.t.Fatalf("enroll: %s", r)
	}
	a.useCert(r.Body["client_cert"].(string))
	return a
}

func (a *agent) useCert(certPEM string) {
	a.e.t.Helper()
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil {
		a.e.t.Fatalf("no certificate in %q", certPEM)
	}
	a.cert = &tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: a.tlsKey}
	a.c = a.e.client(a.cert)
}

func (e *env) enrolledAgent() *agent { return e.newAgent().enroll() }

type rec = map[string]any

// body builds a signed-batch body: the header with the next seq, then records.
func (a *agent) body(records ...rec) []byte {
	return a.bodySeq(a.seq.Add(1), records...)
}

func (a *agent) bodySeq(seq int64, records ...rec) []byte {
	all := []rec{{"type": "batch", "ts": time.Now().UTC().Format(time.RFC3339), "seq": seq, "agent_version": a.version}}
	return mustJSON(a.e.t, append(all, records...))
}

// chained builds the agent's next signed body as monsys-agent does, with
// the one batch package: the header with the next seq, chained to the last
// body the hub acknowledged through send, then records.
func (a *agent) chained(records ...rec) []byte {
	a.e.t.Helper()
	raws := make([]json.RawMessage, len(records))
	for i, r := range records {
		raws[i] = mustJSON(a.e.t, r)
	}
	b, err := batch.Encode(batch.Header{TS: time.Now(), Seq: a.seq.Add(1), AgentVersion: a.version, Prev: a.prev}, raws)
	if err != nil {
		a.e.t.Fatal(err)
	}
	return b
}

// send posts the agent's next chained body, signed with its key; the hub
// must accept it (202), and the chain moves on to it. It returns the body.
func (a *agent) send(records ...rec) []byte {
	a.e.t.Helper()
	b := a.chained(records...)
	expect(a.e.t, a.ingest(b), http.StatusAccepted, "")
	sum := sha256.Sum256(b)
	a.prev = hex.EncodeToString(sum[:])
	return b
}

func metric(name string, v float64) rec {
	return rec{"type": "metric", "ts": time.Now().UTC().Format(time.RFC3339Nano), "name": name, "value": v}
}

// ingest posts body signed with the agent's key.
func (a *agent) ingest(body []byte) resp {
	a.e.t.Helper()
	return a.ingestWith(a.c, body, sig.Sign(a.signKey, body), nil)
}

// ingestWith posts body with the given signature header ("" = none) through c.
func (a *agent) ingestWith(c *http.Client, body []byte, signature string, hdr map[string]string) resp {
	a.e.t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if signature != "" {
		h[sig.Header] = signature
	}
	return call(a.e.t, c, "POST", a.e.info.URL+"/api/v1/ingest", a.token, body, h)
}

func expect(t testing.TB, r resp, status int, code string) {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("want %d %q, got %s", status, code, r)
	}
	if code != "" {
		if id, _ := r.Body["request_id"].(string); id == "" {
			t.Fatalf("error without request_id: %s", r)
		}
	}
}

// storedBatches counts the batches stored for an agent with the given keys.
func (e *env) batchStored(agentID string, seq int64) bool {
	e.t.Helper()
	_, err := e.hub.Stores.Batches.GetBatch(context.Background(), agentID, hub.SignedBatchKey(seq))
	return err == nil
}
