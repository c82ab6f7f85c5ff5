package pack

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
)

// Fingerprint is SPEC 7's key fingerprint: SHA-256 of the raw 32-byte
// public key, lowercase hex pairs joined by ':'.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = hex.EncodeToString([]byte{b})
	}
	return strings.Join(pairs, ":")
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo).
func PublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPublicKey, len(pub), ed25519.PublicKeySize)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM decodes signing_key.pub: exactly one PEM "PUBLIC KEY"
// block holding an Ed25519 SubjectPublicKeyInfo, and nothing else.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(strings.TrimSpace(string(b)), "-----BEGIN PUBLIC KEY-----") {
		return nil, fmt.Errorf("%w: does not start with a PEM PUBLIC KEY block", ErrPublicKey)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" || len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: no PEM PUBLIC KEY block", ErrPublicKey)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrPublicKey)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not Ed25519", ErrPublicKey, key)
	}
	return pub, nil
}
