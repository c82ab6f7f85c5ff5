package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// Size caps, checked before anything is decoded.
const (
	MaxCSRPEM  = 16 << 10 // a P-256 CSR is well under 1 KiB
	MaxCertPEM = 16 << 10 // a client certificate of ours is under 1 KiB
)

const (
	pemCert = "CERTIFICATE"
	pemCSR  = "CERTIFICATE REQUEST"
)

// Fingerprint is the lowercase hex SHA-256 of a certificate's DER: what the
// hub pins (SPEC section 5).
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// EncodeCertPEM returns c as one CERTIFICATE PEM block.
func EncodeCertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: c.Raw})
}

// ParseCertPEM parses exactly one CERTIFICATE PEM block, with nothing but
// white space around it and no PEM headers.
func ParseCertPEM(pemText string) (*x509.Certificate, error) {
	der, err := onePEMBlock([]byte(pemText), pemCert, MaxCertPEM)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w: %w", ErrBadCert, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w: decode DER: %w", ErrBadCert, err)
	}
	return c, nil
}

// ParseCSR parses exactly one CERTIFICATE REQUEST PEM block of at most
// MaxCSRPEM bytes, checks its self-signature and demands an ECDSA P-256
// public key.
func ParseCSR(pemText []byte) (*x509.CertificateRequest, error) {
	der, err := onePEMBlock(pemText, pemCSR, MaxCSRPEM)
	if err != nil {
		return nil, fmt.Errorf("parse csr: %w: %w", ErrBadCSR, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse csr: %w: decode DER: %w", ErrBadCSR, err)
	}
	if err := checkCSR(csr); err != nil {
		return nil, fmt.Errorf("parse csr: %w", err)
	}
	return csr, nil
}

// checkCSR demands an ECDSA P-256 key and a valid self-signature: the
// requester holds the private key it asks a certificate for.
func checkCSR(csr *x509.CertificateRequest) error {
	if _, err := p256Key(csr.PublicKey); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	return nil
}

// onePEMBlock returns the bytes of the only PEM block in text, which must be
// of type typ and at most max bytes long.
func onePEMBlock(text []byte, typ string, max int) ([]byte, error) {
	if len(text) > max {
		return nil, fmt.Errorf("%d bytes of PEM exceed the limit of %d", len(text), max)
	}
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("empty PEM, want one %s block", typ)
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, fmt.Errorf("no PEM block in %q, want one %s block", excerpt(trimmed), typ)
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, fmt.Errorf("text %q before the PEM block", excerpt(trimmed))
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block type %q, want %q", block.Type, typ)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("PEM block %s has headers, want none", typ)
	}
	if rest = bytes.TrimSpace(rest); len(rest) != 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fmt.Errorf("a second PEM block (%q) after the %s block, want exactly one", next.Type, typ)
		}
		return nil, fmt.Errorf("text %q after the PEM block", excerpt(rest))
	}
	return block.Bytes, nil
}

// excerpt shortens untrusted input quoted in an error message.
func excerpt(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// describeKey names a public key type for error messages, such as "RSA
// 2048-bit", "Ed25519" or "ECDSA P-384".
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "ECDSA (no curve)"
		}
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "RSA"
		}
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "no public key"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
