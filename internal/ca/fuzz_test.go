package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/pem"
	"errors"
	"testing"
)

// FuzzParseCSR checks that ParseCSR never panics, that every error wraps
// ErrBadCSR, and that whatever it accepts is a self-signed P-256 request that
// survives a PEM round trip. Seeds: testdata/fuzz/FuzzParseCSR.
func FuzzParseCSR(f *testing.F) {
	for name := range csrVectors {
		f.Add(readCSRVector(f, name))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		csr, err := ParseCSR(in)
		if err != nil {
			if csr != nil {
				t.Fatalf("ParseCSR returned a request and %v", err)
			}
			if !errors.Is(err, ErrBadCSR) {
				t.Fatalf("err = %v, want ErrBadCSR", err)
			}
			return
		}
		if len(in) > MaxCSRPEM {
			t.Fatalf("accepted %d bytes", len(in))
		}
		k, ok := csr.PublicKey.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			t.Fatalf("accepted a %s key", describeKey(csr.PublicKey))
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a bad signature: %v", err)
		}
		again, err := ParseCSR(pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: csr.Raw}))
		if err != nil || !bytes.Equal(again.Raw, csr.Raw) {
			t.Fatalf("PEM round trip: %v", err)
		}
	})
}
