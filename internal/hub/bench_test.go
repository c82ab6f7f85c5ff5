package hub_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/storetest"
)

// The ingest benchmarks compare the whole accept path of a signed batch
// (BenchmarkIngestPolicy) with the least any hub must do with the same body
// (BenchmarkIngestFloor: hash, verify, decode). scripts/bench-ratio.sh runs
// them and prints the ratios.

const (
	benchTenant  = "acme"
	benchAgent   = "ag_bench"
	benchRecords = batchtest.Records
	// benchSeq0 is a realistic seq (unix nanos), so every body has the same length.
	benchSeq0 = int64(1743501600000000000)
)

// ingestFixture is the ingest use case over an in-memory store (storetest.Memory) holding one agent whose signing
// key and client certificate are pinned, as after a full registration.
type ingestFixture struct {
	ing   *hub.Ingester
	token string
	cert  string // the agent's client certificate, PEM
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
}

func newIngestFixture(tb testing.TB) *ingestFixture {
	tb.Helper()
	ctx := tb.Context()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	root, err := ca.NewRoot(caKey, "bench CA", now.Add(-time.Hour), 48*time.Hour, nil)
	if err != nil {
		tb.Fatal(err)
	}
	auth := &ca.Authority{Cert: root, Signer: caKey}
	agentKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, agentKey)
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := auth.IssueAgent(csr, benchTenant, benchAgent, 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	token := "ms_" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

	st := storetest.NewMemory()
	h := cred.Hash(token)
	for _, err := range []error{
		st.PutCredential(ctx, hub.Credential{Hash: h, Kind: cred.KindAgent, TenantID: benchTenant, AgentID: benchAgent, CreatedAt: now}),
		st.CreateAgent(ctx, hub.Agent{TenantID: benchTenant, AgentID: benchAgent, TokenHash: h, CreatedAt: now}),
		st.PinSigningKey(ctx, benchAgent, pub, now),
		st.PinCert(ctx, benchAgent, hub.CertPin{Fingerprint: ca.Fingerprint(cert.Raw), NotAfter: cert.NotAfter, SetAt: now}, ""),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	core, err := app.Assemble(st.Stores(), auth, app.CoreConfig{}, hub.Env{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return &ingestFixture{ing: core.Ingest, token: token, cert: string(ca.EncodeCertPEM(cert)), priv: priv, pub: pub}
}

// ingestBody is a signed batch of seq, about 10 KiB (batchtest.Body).
func ingestBody(seq int64) []byte { return batchtest.Body(seq, "2026-04-01") }

func (f *ingestFixture) request(seq int64) hub.IngestRequest {
	body := ingestBody(seq)
	return hub.IngestRequest{Token: f.token, ClientCertPEM: f.cert, ContentType: "application/json",
		Signature: sig.Sign(f.priv, body), Body: body}
}

// TestIngestFixture checks that the benchmarks measure what they claim: a
// ~10 KiB body of 100 records, accepted in full, and a floor that succeeds.
func TestIngestFixture(t *testing.T) {
	f := newIngestFixture(t)
	req := f.request(benchSeq0)
	if n := len(req.Body); n < 9<<10 || n > 11<<10 {
		t.Errorf("body is %d bytes, want about 10 KiB", n)
	}
	t.Logf("body: %d bytes, %d records after the header", len(req.Body), benchRecords)
	for i, want := range []hub.IngestResult{{Accepted: benchRecords}, {Duplicate: true}} {
		res, err := f.ing.Ingest(t.Context(), req)
		if err != nil || res != want {
			t.Fatalf("Ingest() #%d = %+v, %v; want %+v", i+1, res, err, want)
		}
	}
	if res, err := f.ing.Ingest(t.Context(), f.request(benchSeq0+1)); err != nil || res.Accepted != benchRecords {
		t.Fatalf("Ingest(next seq) = %+v, %v; want %d accepted", res, err, benchRecords)
	}
	floor(t, req.Body, f.pub, sigBytes(t, req.Signature))
	floorRaw(t, req.Body, f.pub, sigBytes(t, req.Signature))
}

func sigBytes(tb testing.TB, header string) []byte {
	s, err := sig.Parse(header)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkIngestPolicy is (*hub.Ingester).Ingest accepting a new signed batch
// per iteration: token lookup, certificate identification and pin check,
// signature, batch parse, the seq advance and the stored body (in memory).
func BenchmarkIngestPolicy(b *testing.B) {
	f := newIngestFixture(b)
	reqs := make([]hub.IngestRequest, b.N)
	for i := range reqs {
		reqs[i] = f.request(benchSeq0 + int64(i))
	}
	ctx := b.Context()
	b.SetBytes(int64(len(reqs[0].Body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := f.ing.Ingest(ctx, reqs[i])
		if err != nil || res.Accepted != benchRecords {
			b.Fatalf("Ingest(seq %d) = %+v, %v", benchSeq0+int64(i), res, err)
		}
	}
}

// BenchmarkIngestFloor is the least a hub can do with the body: SHA-256,
// ed25519.Verify and a generic JSON decode.
func BenchmarkIngestFloor(b *testing.B) {
	benchFloor(b, floor)
}

// BenchmarkIngestFloorRaw is BenchmarkIngestFloor with the decode only
// splitting the array into raw records, as the hub keeps them.
func BenchmarkIngestFloorRaw(b *testing.B) {
	benchFloor(b, floorRaw)
}

func benchFloor(b *testing.B, fn func(testing.TB, []byte, ed25519.PublicKey, []byte)) {
	f := newIngestFixture(b)
	req := f.request(benchSeq0)
	s := sigBytes(b, req.Signature)
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	for b.Loop() {
		fn(b, req.Body, f.pub, s)
	}
}

func floor(tb testing.TB, body []byte, pub ed25519.PublicKey, s []byte) {
	d := sha256.Sum256(body)
	if !ed25519.Verify(pub, d[:], s) {
		tb.Fatal("signature does not verify")
	}
	var recs []map[string]any
	if err := json.Unmarshal(body, &recs); err != nil || len(recs) != benchRecords+1 {
		tb.Fatalf("decoded %d records, %v", len(recs), err)
	}
}

func floorRaw(tb testing.TB, body []byte, pub ed25519.PublicKey, s []byte) {
	d := sha256.Sum256(body)
	if !ed25519.Verify(pub, d[:], s) {
		tb.Fatal("signature does not verify")
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(body, &recs); err != nil || len(recs) != benchRecords+1 {
		tb.Fatalf("decoded %d records, %v", len(recs), err)
	}
}
