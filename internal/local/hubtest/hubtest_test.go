package hubtest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/local/hubtest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
)

// agent is one host driven by hand through the agent client.
type agent struct {
	t    *testing.T
	id   string
	c    *client.Agent
	sign ed25519.PrivateKey
	cert tls.Certificate // the hub-issued one after enroll
	seq  int64
}

func newAgent(t *testing.T, h *hubtest.Hub) *agent {
	t.Helper()
	id, token := h.NewAgent(t)
	c, err := client.NewAgent(client.AgentConfig{URL: h.URL, Token: token, Roots: h.Roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return &agent{t: t, id: id, c: c, sign: k, seq: time.Now().UnixNano()}
}

// enroll registers with the enrollment certificate, the signing key and a CSR.
func (a *agent) enroll(h *hubtest.Hub) {
	a.t.Helper()
	enroll, err := tls.LoadX509KeyPair(h.Profile.EnrollCert, h.Profile.EnrollKey)
	if err != nil {
		a.t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "h"}}, key)
	res, err := a.c.Register(context.Background(), enroll, client.RegisterRequest{Hostname: "h", AgentVersion: "1.0.0", OS: "linux", Arch: "amd64",
		SigningPubkey: sig.EncodePublicKey(a.sign.Public().(ed25519.PublicKey)),
		CSR:           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		a.t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(res.ClientCert))
	a.cert = tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key}
}

func (a *agent) ingest(records ...string) (client.IngestResponse, error) {
	a.t.Helper()
	a.seq++
	raws := make([]json.RawMessage, len(records))
	for i, r := range records {
		raws[i] = json.RawMessage(r)
	}
	body, err := batch.Encode(batch.Header{TS: time.Now(), Seq: a.seq, AgentVersion: "1.0.0"}, raws)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.c.Ingest(context.Background(), a.cert, body, sig.Sign(a.sign, body))
}

const metric = `{"type":"metric","ts":"2026-04-01T10:00:00Z","cpu":0.25}`

// TestStart: one call gives a hub that refuses a client without a
// certificate in the handshake, a hub.json that says what the hub is, and
// an operator client that works.
func TestStart(t *testing.T) {
	h := hubtest.Start(t)
	got, err := profile.Read(h.ProfilePath)
	if err != nil || !reflect.DeepEqual(got, h.Profile) || got.TenantID != hubtest.Tenant {
		t.Fatalf("hub.json = %+v, %v; want %+v", got, err, h.Profile)
	}
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.Roots}}}
	if resp, err := plain.Get(h.URL + "/api/v1/anomalies"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got HTTP %d, want a refused handshake", resp.StatusCode)
	}
	if _, err := h.Admin().Anomalies(context.Background(), client.AnomalyQuery{}); err != nil {
		t.Fatal(err)
	}
}

// TestAgent: what the kit reports of an agent is what the core stored and
// answered.
func TestAgent(t *testing.T) {
	h := hubtest.Start(t)
	a := newAgent(t, h)
	a.enroll(h)
	if _, err := a.ingest(metric, metric); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ingest(metric); err != nil {
		t.Fatal(err)
	}
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	a.sign, forger = forger, a.sign
	if _, err := a.ingest(metric); err == nil {
		t.Fatal("a forged batch was accepted")
	}
	v := h.Agent(t, a.id)
	leaf, _ := x509.ParseCertificate(a.cert.Certificate[0])
	switch {
	case !v.Pubkey.Equal(forger.Public()), v.CertFP != ca.Fingerprint(leaf.Raw):
		t.Fatalf("pins %x %s, want the agent's", v.Pubkey, v.CertFP)
	case len(v.Records) != 3, len(v.Seqs) != 2, v.Seqs[0] >= v.Seqs[1], v.LastSeq != v.Seqs[1]:
		t.Fatalf("records %d, seqs %v, last_seq %d", len(v.Records), v.Seqs, v.LastSeq)
	case v.Batches != 2, v.Unsigned != 0, v.Registrations != 1, v.Forged != 1, v.Duplicates != 0, v.Replays != 0:
		t.Fatalf("counts %+v", v)
	}
}

// TestFault: an injected failure is answered at the edge, in the SPEC 4
// envelope, and the core never sees the request.
func TestFault(t *testing.T) {
	h := hubtest.Start(t)
	a := newAgent(t, h)
	a.enroll(h)
	h.SetFault(func(r *http.Request) *hubtest.Failure {
		if r.URL.Path == hubtest.IngestPath {
			return &hubtest.Failure{Status: http.StatusServiceUnavailable, Code: client.CodeUnavailable, RetryAfter: "7"}
		}
		return nil
	})
	_, err := a.ingest(metric)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || e.Code != client.CodeUnavailable || e.RetryAfter != 7*time.Second || e.RequestID == "" {
		t.Fatalf("err = %#v", err)
	}
	if v := h.Agent(t, a.id); v.Batches != 0 {
		t.Fatalf("the core stored %d batches behind an injected failure", v.Batches)
	}
	xs := h.Exchanges()
	if last := xs[len(xs)-1]; !last.Injected || last.AgentID != a.id || last.Code != client.CodeUnavailable {
		t.Fatalf("last exchange %+v", last)
	}
	h.SetFault(nil)
	if _, err := a.ingest(metric); err != nil {
		t.Fatal(err)
	}
}

// TestAfterAndDown: a hook after the core can lose its answer (the batch is
// stored, the agent hears nothing); while down, nothing gets through.
func TestAfterAndDown(t *testing.T) {
	h := hubtest.Start(t)
	a := newAgent(t, h)
	a.enroll(h)
	var seen atomic.Int32
	h.SetAfter(func(r *http.Request, status int) {
		if r.URL.Path == hubtest.IngestPath && status == http.StatusAccepted {
			seen.Add(1)
			h.SetDown(true)
		}
	})
	if _, err := a.ingest(metric); err == nil {
		t.Fatal("the answer arrived although the hub went down before sending it")
	}
	if seen.Load() != 1 || h.Agent(t, a.id).Batches != 1 {
		t.Fatalf("hook ran %d times, %d batches stored; want 1 and 1", seen.Load(), h.Agent(t, a.id).Batches)
	}
	h.SetAfter(nil)
	if _, err := a.ingest(metric); err == nil {
		t.Fatal("a request got through while the hub is down")
	}
	h.SetDown(false)
	if _, err := a.ingest(metric); err != nil {
		t.Fatal(err)
	}
}

// TestConnections: the count of connections tells a test whether a client
// reuses them.
func TestConnections(t *testing.T) {
	h := hubtest.Start(t)
	before := h.Connections()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.Roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(h.Profile.OperatorCert, h.Profile.OperatorKey)
		return &c, err
	}}}}
	for range 2 {
		resp, err := c.Get(h.URL + "/api/v1/anomalies")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.CloseIdleConnections()
	if n := h.Connections() - before; n != 1 {
		t.Fatalf("two requests on a keep-alive client took %d connections, want 1", n)
	}
}

// TestClock: the hub's clock is the one the test gives.
func TestClock(t *testing.T) {
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	h := hubtest.Start(t, hubtest.Clock(clocktest.At(at).Now))
	id, _ := h.NewAgent(t)
	v, err := h.Admin().GetAgent(context.Background(), id)
	if err != nil || !v.CreatedAt.Equal(at) {
		t.Fatalf("created_at %v, %v; want the test's clock, %v", v.CreatedAt, err, at)
	}
}
