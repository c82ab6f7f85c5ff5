package hub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/storetest"
)

// t0 is the hub's clock at the start of every test.
var t0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

const (
	tenant      = "acme"
	otherTenant = "globex"
	lease       = time.Minute // the PendingLease the tests configure
)

// lockedReader makes a seeded ChaCha8 stream safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// fx is one hub with two tenants, acme and globex, each with an admin key,
// an enrollment certificate and an operator certificate from one test CA.
type fx struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	store *storetest.Faulty
	core  *app.Core
	auth  *ca.Authority
	logs  *logtest.Buffer

	adminKey, otherAdminKey string
	admin, otherAdmin       hub.Admin
	enroll, operator        string // acme's certificates (PEM)
	otherEnroll, otherOper  string // globex's certificates (PEM)
}

func newFx(t *testing.T) *fx {
	t.Helper()
	return newFxCfg(t, app.CoreConfig{})
}

// newFxCfg is newFx with cfg (its PendingLease is the tests' lease).
func newFxCfg(t *testing.T, cfg app.CoreConfig) *fx {
	t.Helper()
	clk := clocktest.At(t0)
	caKey := p256(t)
	root, err := ca.NewRoot(caKey, "monsys test CA", t0.Add(-24*time.Hour), 10*365*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Cert: root, Signer: caKey, Now: clk.Now}
	store := storetest.NewFaulty(storetest.NewMemory())
	logs := &logtest.Buffer{}
	cfg.PendingLease = lease
	core, err := app.Assemble(store.Stores(), auth, cfg, hub.Env{Clock: clk,
		Rand: &lockedReader{r: mrand.NewChaCha8([32]byte{1})}, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f := &fx{t: t, ctx: context.Background(), clock: clk, store: store, core: core, auth: auth, logs: logs}
	f.adminKey, f.admin, f.enroll, f.operator = f.tenant(tenant)
	f.otherAdminKey, f.otherAdmin, f.otherEnroll, f.otherOper = f.tenant(otherTenant)
	return f
}

func (f *fx) tenant(id string) (string, hub.Admin, string, string) {
	f.t.Helper()
	key, err := f.core.Tenants.Bootstrap(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	enroll, err := f.auth.IssueEnrollment(id, p256(f.t).Public(), 365*24*time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	oper, err := f.auth.IssueOperator(id, p256(f.t).Public(), 365*24*time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	operPEM := string(ca.EncodeCertPEM(oper))
	ad, err := f.core.AdminAuth.Authenticate(f.ctx, key, operPEM)
	if err != nil {
		f.t.Fatal(err)
	}
	return key, ad, string(ca.EncodeCertPEM(enroll)), operPEM
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrPEM(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// issue makes a client certificate for agentID of tenant directly from the
// CA, as if handed out of band.
func (f *fx) issue(tenantID, agentID string) string {
	f.t.Helper()
	csr, err := ca.ParseCSR([]byte(csrPEM(f.t, p256(f.t))))
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.auth.IssueAgent(csr, tenantID, agentID, 30*24*time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(ca.EncodeCertPEM(c))
}

// untrusted is a certificate from another CA, shaped like an agent's.
func untrusted(t testing.TB, agentID string) string {
	t.Helper()
	k := p256(t)
	root, err := ca.NewRoot(k, "rogue CA", t0.Add(-time.Hour), 365*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	rogue := &ca.Authority{Cert: root, Signer: k, Now: func() time.Time { return t0 }}
	csr, _ := ca.ParseCSR([]byte(csrPEM(t, p256(t))))
	c, err := rogue.IssueAgent(csr, tenant, agentID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return string(ca.EncodeCertPEM(c))
}

// agent is one host as the tests drive it.
type agent struct {
	id, token string
	key       ed25519.PrivateKey
	tlsKey    *ecdsa.PrivateKey
	cert      string // the client certificate it presents
	seq       int64
}

func newSigningKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubB64(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// newAgent creates an agent through the admin API; it has no pins yet.
func (f *fx) newAgent() *agent {
	f.t.Helper()
	na, err := f.core.Agents.Create(f.ctx, f.admin, "web-01")
	if err != nil {
		f.t.Fatal(err)
	}
	return &agent{id: na.AgentID, token: na.Token, key: newSigningKey(f.t), tlsKey: p256(f.t), seq: 1743501600000000000}
}

// regBody is a register body; key and csr are left out when empty.
func regBody(version, key, csr string) []byte {
	m := map[string]string{"hostname": "web-01", "agent_version": version, "os": "linux", "arch": "amd64"}
	if key != "" {
		m["signing_pubkey"] = key
	}
	if csr != "" {
		m["csr"] = csr
	}
	b, _ := json.Marshal(m)
	return b
}

func (f *fx) register(token, certPEM string, body []byte) (hub.RegisterResult, error) {
	return f.core.Register.Register(f.ctx, hub.RegisterRequest{Token: token, ClientCertPEM: certPEM, ContentType: "application/json", Body: body})
}

// enrolled returns an agent that registered with the enrollment certificate,
// a CSR and its signing key: both pins set, the issued certificate in hand.
func (f *fx) enrolled() *agent {
	f.t.Helper()
	a := f.newAgent()
	res, err := f.register(a.token, f.enroll, regBody("1.4.2", pubB64(a.key), csrPEM(f.t, a.tlsKey)))
	if err != nil {
		f.t.Fatal(err)
	}
	if !res.SigningPubKeyPinned || res.ClientCert == "" {
		f.t.Fatalf("enrolment: %+v", res)
	}
	a.cert = res.ClientCert
	return a
}

// legacyAgent returns an agent with a pinned certificate but no signing key.
func (f *fx) legacyAgent() *agent {
	f.t.Helper()
	a := f.newAgent()
	res, err := f.register(a.token, f.enroll, regBody("1.0.0", "", csrPEM(f.t, a.tlsKey)))
	if err != nil {
		f.t.Fatal(err)
	}
	if res.SigningPubKeyPinned {
		f.t.Fatalf("legacy registration pinned a key: %+v", res)
	}
	a.cert = res.ClientCert
	return a
}

// batchBody is a signed-batch body: the header and n metric records.
func batchBody(seq int64, version string, n int, salt string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `[{"type":"batch","ts":"2026-04-01T09:59:00Z","seq":%d,"agent_version":%q}`, seq, version)
	for i := range n {
		fmt.Fprintf(&b, `,{"type":"metric","ts":"2026-04-01T09:%02d:00Z","name":"cpu","value":%d,"salt":%q}`, i%60, i, salt)
	}
	b.WriteString("]")
	return []byte(b.String())
}

// req builds a signed ingest request from a as it stands.
func (a *agent) req(body []byte) hub.IngestRequest {
	return hub.IngestRequest{Token: a.token, ClientCertPEM: a.cert, ContentType: "application/json",
		Signature: sig.Sign(a.key, body), Body: body}
}

// next returns the body of a's next batch, advancing its seq.
func (a *agent) next(version string, n int) []byte {
	a.seq++
	return batchBody(a.seq, version, n, "")
}

func (f *fx) ingest(r hub.IngestRequest) (hub.IngestResult, error) {
	return f.core.Ingest.Ingest(f.ctx, r)
}

// mustIngest sends a's next batch and demands a 202.
func (f *fx) mustIngest(a *agent, version string, n int) []byte {
	f.t.Helper()
	body := a.next(version, n)
	res, err := f.ingest(a.req(body))
	if err != nil || res.Accepted != n || res.Duplicate {
		f.t.Fatalf("ingest seq %d: %+v, %v", a.seq, res, err)
	}
	return body
}

func (f *fx) agentState(id string) hub.Agent {
	f.t.Helper()
	a, err := f.store.GetAgent(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// anom is what a test expects of one anomaly.
type anom struct {
	kind  anomaly.Kind
	sev   anomaly.Severity
	count int64
}

func (f *fx) anomalies(tenantID, agentID string) []anom {
	f.t.Helper()
	p, err := f.store.Memory.ListAnomalies(f.ctx, tenantID, anomaly.Filter{AgentID: agentID}, "", 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []anom
	for _, a := range p.Anomalies {
		if a.Status != anomaly.Open {
			f.t.Fatalf("anomaly %s is %s", a.ID, a.Status)
		}
		out = append(out, anom{a.Kind, a.Severity, a.Count})
	}
	slices.SortFunc(out, func(a, b anom) int { return strings.Compare(string(a.kind), string(b.kind)) })
	return out
}

func (f *fx) wantAnomalies(agentID string, want ...anom) {
	f.t.Helper()
	got := f.anomalies(tenant, agentID)
	slices.SortFunc(want, func(a, b anom) int { return strings.Compare(string(a.kind), string(b.kind)) })
	if !slices.Equal(got, want) {
		f.t.Fatalf("anomalies = %+v, want %+v", got, want)
	}
}

// wantCode demands a *hub.Error with code c (or success when c is "").
func wantCode(t testing.TB, err error, c hub.Code) *hub.Error {
	t.Helper()
	if c == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return nil
	}
	var he *hub.Error
	if !errors.As(err, &he) {
		t.Fatalf("error = %v (%T), want *hub.Error %s", err, err, c)
	}
	if he.Code != c {
		t.Fatalf("code = %s (%v), want %s", he.Code, err, c)
	}
	return he
}

// consistent checks that no batch is half-written: no pending marker, the
// last accepted seq's batch is stored with the recorded SHA, and no signed
// batch above last_seq exists.
func (f *fx) consistent(agentID string) {
	f.t.Helper()
	a := f.agentState(agentID)
	if a.Pending != nil {
		f.t.Fatalf("pending marker left: %+v", *a.Pending)
	}
	var last *hub.StoredBatch
	for _, b := range f.store.Batches(agentID) {
		if !b.Signed {
			continue
		}
		if b.Seq > a.LastSeq {
			f.t.Fatalf("batch seq %d stored above last_seq %d", b.Seq, a.LastSeq)
		}
		if b.Seq == a.LastSeq {
			last = &b
		}
	}
	if a.LastSeq != 0 && (last == nil || last.SHA != a.LastBatchSHA) {
		f.t.Fatalf("last_seq %d (sha %s) has no matching stored batch (%+v)", a.LastSeq, a.LastBatchSHA, last)
	}
}
