package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"
)

// t0 is the hub's clock in these tests; the root is made a day earlier.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	rootValidity = 10 * 365 * 24 * time.Hour
	leafValidity = 90 * 24 * time.Hour
)

// opaqueSigner exposes only Public and Sign: the private key is hidden in a
// closure, so nothing can type-assert it, as with a KMS-backed signer. It
// records every call.
type opaqueSigner struct {
	pub  crypto.PublicKey
	sign func(io.Reader, []byte, crypto.SignerOpts) ([]byte, error)

	mu    sync.Mutex
	calls []signCall
}

type signCall struct {
	digestLen int
	hash      crypto.Hash
}

var _ crypto.Signer = (*opaqueSigner)(nil)

func newOpaqueSigner(k crypto.Signer) *opaqueSigner {
	return &opaqueSigner{pub: k.Public(), sign: k.Sign}
}

func (s *opaqueSigner) Public() crypto.PublicKey { return s.pub }

func (s *opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.mu.Lock()
	s.calls = append(s.calls, signCall{len(digest), opts.HashFunc()})
	s.mu.Unlock()
	return s.sign(r, digest, opts)
}

func (s *opaqueSigner) Calls() []signCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]signCall{}, s.calls...)
}

// messageSigner also offers crypto.MessageSigner; the CA must never use it,
// because KMS is asked to sign digests.
type messageSigner struct {
	*opaqueSigner
	t *testing.T
}

func (m messageSigner) SignMessage(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	m.t.Error("SignMessage called: the CA signer must only be handed digests")
	return nil, io.ErrUnexpectedEOF
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testCA is an Authority with an opaque signer, a root made at t0-24h, a
// deterministic Rand and the clock at t0.
type testCA struct {
	*Authority
	signer *opaqueSigner
}

func newTestCA(t testing.TB, name string, seed uint64) testCA {
	t.Helper()
	s := newOpaqueSigner(newKey(t))
	rnd := mrand.NewChaCha8(seedBytes(seed))
	root, err := NewRoot(s, name, t0.Add(-24*time.Hour), rootValidity, rnd)
	if err != nil {
		t.Fatalf("NewRoot: %v", err)
	}
	return testCA{
		Authority: &Authority{Cert: root, Signer: s, Rand: rnd, Now: fixedClock(t0)},
		signer:    s,
	}
}

func seedBytes(seed uint64) [32]byte {
	return sha256.Sum256([]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// at returns a copy of a whose clock reads t.
func (c testCA) at(t time.Time) *Authority {
	a := *c.Authority
	a.Now = fixedClock(t)
	return &a
}

func mustParseCSR(t testing.TB, name string) *x509.CertificateRequest {
	t.Helper()
	csr, err := ParseCSR(readCSRVector(t, name))
	if err != nil {
		t.Fatalf("ParseCSR(%s): %v", name, err)
	}
	return csr
}

// agentCSR makes a fresh P-256 CSR and returns it with its key.
func agentCSR(t testing.TB) (*x509.CertificateRequest, *ecdsa.PrivateKey) {
	t.Helper()
	k := newKey(t)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr, k
}
