package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCSR(t *testing.T) {
	p256 := readCSRVector(t, "p256")
	// A genuine, well-signed P-256 request that is simply too large.
	big, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames: []string{strings.Repeat("a", 63) + ".example.com"},
		Subject:  pkix.Name{Organization: strings.Split(strings.Repeat("o,", 2000), ",")},
	}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	bigPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: big})
	if len(bigPEM) <= MaxCSRPEM {
		t.Fatalf("oversize vector is only %d bytes", len(bigPEM))
	}

	tests := []struct {
		name string
		in   []byte
		want error // nil: ok
		msg  string
	}{
		{"ok/p256", p256, nil, ""},
		{"ok/other-tenant", readCSRVector(t, "other-tenant"), nil, ""},
		{"ok/surrounding-space", append(append([]byte("\n\n"), p256...), "\n  \n"...), nil, ""},
		{"fail/rsa", readCSRVector(t, "rsa2048"), ErrBadKey, "RSA 2048-bit, want ECDSA P-256"},
		{"fail/ed25519", readCSRVector(t, "ed25519"), ErrBadKey, "Ed25519, want ECDSA P-256"},
		{"fail/p384", readCSRVector(t, "p384"), ErrBadKey, "ECDSA P-384, want ECDSA P-256"},
		{"fail/bad-signature", flipSignatureByte(t, p256), ErrBadCSR, "signature"},
		{"fail/oversize", bigPEM, ErrBadCSR, "exceed the limit of 16384"},
		{"fail/oversize-padding", append(bytes.Repeat([]byte(" "), MaxCSRPEM), p256...), ErrBadCSR, "exceed"},
		{"fail/empty", nil, ErrBadCSR, "empty PEM"},
		{"fail/garbage", []byte("not a csr"), ErrBadCSR, `"not a csr"`},
		{"fail/der-not-pem", pemBytes(t, p256), ErrBadCSR, "no PEM block"},
		{"fail/garbage-in-block", []byte("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n"), ErrBadCSR, "decode DER"},
		{"fail/two-blocks", append(append([]byte{}, p256...), p256...), ErrBadCSR, "second PEM block"},
		{"fail/certificate-block", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pemBytes(t, p256)}), ErrBadCSR, `"CERTIFICATE", want "CERTIFICATE REQUEST"`},
		{"fail/new-certificate-request", pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: pemBytes(t, p256)}), ErrBadCSR, `"NEW CERTIFICATE REQUEST"`},
		{"fail/trailing-text", append(append([]byte{}, p256...), "x"...), ErrBadCSR, `text "x" after`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := ParseCSR(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(csr.Raw, pemBytes(t, bytes.TrimSpace(tt.in))) {
					t.Error("Raw is not the DER of the block")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCSR = %q, want error", csr.Subject)
			}
			if !errors.Is(err, ErrBadCSR) || !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want ErrBadCSR and %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestParseCertPEM(t *testing.T) {
	ca := newTestCA(t, "ca", 20)
	text := pemOf(ca.Cert)
	tests := []struct {
		name string
		in   string
		msg  string // empty: ok
	}{
		{"ok/one-block", text, ""},
		{"ok/no-trailing-newline", strings.TrimSpace(text), ""},
		{"fail/empty", "  \n", "empty PEM"},
		{"fail/garbage", "MIIB...", `"MIIB..."`},
		{"fail/two-blocks", text + text, "second PEM block"},
		{"fail/private-key-block", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), `"PRIVATE KEY"`},
		{"fail/truncated", text[:len(text)/2], "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCertPEM(tt.in)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(c.Raw, ca.Cert.Raw) {
					t.Error("parsed certificate differs")
				}
				return
			}
			if !errors.Is(err, ErrBadCert) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want ErrBadCert mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestEncodeCertPEMRoundTrip(t *testing.T) {
	ca := newTestCA(t, "ca", 21)
	c, err := ca.IssueOperator("acme", newKey(t).Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	text := EncodeCertPEM(c)
	if !bytes.HasPrefix(text, []byte("-----BEGIN CERTIFICATE-----\n")) || !bytes.HasSuffix(text, []byte("-----END CERTIFICATE-----\n")) {
		t.Errorf("EncodeCertPEM = %q, want one CERTIFICATE block", text)
	}
	back, err := ParseCertPEM(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Raw, c.Raw) || !bytes.Equal(EncodeCertPEM(back), text) {
		t.Error("PEM round trip changed the certificate")
	}
}

func TestFingerprint(t *testing.T) {
	ca := newTestCA(t, "ca", 22)
	c, err := ca.IssueEnrollment("acme", newKey(t).Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	tests := []struct {
		name string
		der  []byte
		want string
	}{
		{"ok/empty", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"ok/abc", []byte("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"ok/certificate-der", c.Raw, hex.EncodeToString(sum[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fingerprint(tt.der); got != tt.want {
				t.Errorf("Fingerprint = %s, want %s", got, tt.want)
			}
		})
	}
	id, err := ca.Identify(pemOf(c))
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Errorf("Identity.Fingerprint = %s, want sha256 of DER %x", id.Fingerprint, sum)
	}
}

// TestIssueAgentIgnoresCSRSubject issues from a CSR that claims another
// tenant, the operator OU, SANs and CA:TRUE: the certificate carries only
// what the hub chose.
func TestIssueAgentIgnoresCSRSubject(t *testing.T) {
	ca := newTestCA(t, "ca", 23)
	csr := mustParseCSR(t, "other-tenant")
	if csr.Subject.Organization[0] != "globex" || len(csr.DNSNames) == 0 || len(csr.Extensions) == 0 {
		t.Fatalf("vector does not claim what it should: %q %q", csr.Subject, csr.DNSNames)
	}
	c, err := ca.IssueAgent(csr, "acme", "a1", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	checkLeaf(t, ca.Authority, c, csr.PublicKey, wantLeaf{
		subject: "CN=a1,OU=agent,O=acme", cn: "a1", o: []string{"acme"}, ou: []string{"agent"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	id, err := ca.Identify(pemOf(c))
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != RoleAgent || id.Tenant != "acme" || id.AgentID != "a1" {
		t.Errorf("Identify = %s %q %q, want agent acme a1", id.Role, id.Tenant, id.AgentID)
	}
}

func TestDescribeKey(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pub  any
		want string
	}{
		{"ok/p224", k.Public(), "ECDSA P-224"},
		{"ok/nil", nil, "no public key"},
		{"ok/other", "x", "string"},
		{"ok/ecdsa-no-curve", &ecdsa.PublicKey{}, "ECDSA (no curve)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeKey(tt.pub); got != tt.want {
				t.Errorf("describeKey = %q, want %q", got, tt.want)
			}
		})
	}
}
