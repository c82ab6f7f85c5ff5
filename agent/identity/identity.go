// Package identity manages the agent's TLS identity (SPEC 5): its own ECDSA
// P-256 key and the client certificate the hub issued for it, kept together
// in one owner-only file so that key and certificate change atomically; the
// CSRs it sends; and the tenant enrollment certificate it starts from.
package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/monsys/hub/internal/ca"

	"github.com/monsys/hub/internal/atomicfile"
)

// FileName is the client identity file in the state directory: the issued
// certificate followed by its private key, both PEM, mode 0600.
const FileName = "client.pem"

// Sentinel errors.
var (
	// ErrNotExist means the agent has no client certificate yet.
	ErrNotExist = errors.New("no client certificate yet")
	// ErrInvalid means a certificate or key file cannot be used.
	ErrInvalid = errors.New("invalid certificate or key")
)

// Path is the identity file's path in stateDir.
func Path(stateDir string) string { return filepath.Join(stateDir, FileName) }

// Identity is a usable client certificate with its parsed leaf.
type Identity struct {
	TLS  tls.Certificate
	Leaf *x509.Certificate
}

// Fingerprint is the lowercase hex SHA-256 of the leaf's DER, as the hub pins it.
func (id Identity) Fingerprint() string { return ca.Fingerprint(id.Leaf.Raw) }

// NeedsRenewal reports whether now is past two thirds of the certificate's
// lifetime, the point at which the agent asks for a new one.
func (id Identity) NeedsRenewal(now time.Time) bool {
	life := id.Leaf.NotAfter.Sub(id.Leaf.NotBefore)
	return !now.Before(id.Leaf.NotBefore.Add(life * 2 / 3))
}

// Pending is a fresh key waiting for the hub to certify it.
type Pending struct {
	Key    *ecdsa.PrivateKey
	CSRPEM string
}

// NewPending makes a P-256 key and a PEM CSR for it with the given common name.
func NewPending(rnd io.Reader, commonName string) (Pending, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return Pending{}, fmt.Errorf("new tls key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: commonName},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, key)
	if err != nil {
		return Pending{}, fmt.Errorf("new csr: %w", err)
	}
	return Pending{Key: key, CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}, nil
}

// Complete pairs the pending key with the certificate the hub returned and
// checks that the certificate is for that key.
func (p Pending) Complete(certPEM string) (Identity, []byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.Key)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("complete identity: %w", err)
	}
	file := append([]byte(certPEM), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	id, err := Parse(file)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("complete identity: %w", err)
	}
	return id, file, nil
}

// Parse reads an identity file's bytes: a certificate chain and a key, PEM.
func Parse(file []byte) (Identity, error) {
	c, err := tls.X509KeyPair(file, file)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return Identity{TLS: c, Leaf: c.Leaf}, nil
}

// Load reads the identity file at path (ErrNotExist when there is none).
func Load(path string) (Identity, error) {
	file, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("load identity %q: %w", path, ErrNotExist)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("load identity %q: %w", path, err)
	}
	id, err := Parse(file)
	if err != nil {
		return Identity{}, fmt.Errorf("load identity %q: %w", path, err)
	}
	return id, nil
}

// Save writes an identity file atomically with mode 0600.
func Save(path string, file []byte) error {
	if err := atomicfile.Write(path, file, 0o600); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	return nil
}

// LoadPair loads a certificate and key from two PEM files, as the enrollment
// certificate is shipped.
func LoadPair(certFile, keyFile string) (Identity, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return Identity{}, fmt.Errorf("load certificate %q: %w: %w", certFile, ErrInvalid, err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return Identity{}, fmt.Errorf("load certificate %q: %w: %w", certFile, ErrInvalid, err)
		}
	}
	return Identity{TLS: c, Leaf: leaf}, nil
}

// LoadRoots reads a PEM bundle of CA certificates.
func LoadRoots(file string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load ca %q: %w", file, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("load ca %q: no PEM certificate: %w", file, ErrInvalid)
	}
	return pool, nil
}
