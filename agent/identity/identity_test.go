package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// sign issues a certificate for the CSR, as the hub would, valid 30 days.
func sign(t *testing.T, csrPEM string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	blk, _ := pem.Decode([]byte(csrPEM))
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("bad csr: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "agt_1"}, NotBefore: t0, NotAfter: t0.Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestPendingComplete(t *testing.T) {
	p, err := NewPending(rand.Reader, "web-01")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok/save and load", func(t *testing.T) {
		id, file, err := p.Complete(sign(t, p.CSRPEM))
		if err != nil {
			t.Fatal(err)
		}
		path := Path(t.TempDir())
		if err := Save(path, file); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil || got.Fingerprint() != id.Fingerprint() {
			t.Fatalf("Load: %v", err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
	})
	t.Run("fail/certificate for another key", func(t *testing.T) {
		other, _ := NewPending(rand.Reader, "x")
		if _, _, err := p.Complete(sign(t, other.CSRPEM)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("fail/not a certificate", func(t *testing.T) {
		if _, _, err := p.Complete("hello"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("fail/missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), FileName)); !errors.Is(err, ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotExist", err)
		}
	})
}

func TestNeedsRenewal(t *testing.T) {
	p, _ := NewPending(rand.Reader, "web-01")
	id, _, err := p.Complete(sign(t, p.CSRPEM))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Duration
		want bool
	}{
		{name: "ok/fresh", at: time.Hour, want: false},
		{name: "ok/just before two thirds", at: 20*24*time.Hour - time.Minute, want: false},
		{name: "ok/at two thirds", at: 20 * 24 * time.Hour, want: true},
		{name: "ok/expired", at: 31 * 24 * time.Hour, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := id.NeedsRenewal(t0.Add(tt.at)); got != tt.want {
				t.Fatalf("NeedsRenewal = %v, want %v", got, tt.want)
			}
		})
	}
}
