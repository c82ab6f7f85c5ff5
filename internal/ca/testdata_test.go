package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "rewrite the CSR vectors and the fuzz seed corpus under testdata/")

// csrVectors are the CSR files under testdata/csr, written by TestTestdata
// with -update: name -> what the file holds.
var csrVectors = map[string]string{
	"p256":         "ECDSA P-256, CN=agent-1: what the agent sends",
	"other-tenant": "ECDSA P-256 claiming CN=admin, O=globex, OU=operator, SANs and a CA extension",
	"p384":         "ECDSA P-384",
	"rsa2048":      "RSA 2048-bit",
	"ed25519":      "Ed25519",
}

// readCSRVector returns the PEM of testdata/csr/<name>.pem.
func readCSRVector(t testing.TB, name string) []byte {
	t.Helper()
	if _, ok := csrVectors[name]; !ok {
		t.Fatalf("unknown CSR vector %q", name)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "csr", name+".pem"))
	if err != nil {
		t.Fatalf("read CSR vector (regenerate with go test -run TestTestdata -update): %v", err)
	}
	return b
}

// TestTestdata regenerates testdata/csr and the FuzzParseCSR seed corpus
// with -update, from a fixed crypto randomness seed; without -update it only
// checks that the vectors exist.
func TestTestdata(t *testing.T) {
	if !*update {
		for name := range csrVectors {
			readCSRVector(t, name)
		}
		return
	}
	cryptotest.SetGlobalRandom(t, 20260301)
	keys := map[string]crypto.Signer{}
	var err error
	if keys["p256"], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if keys["other-tenant"], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if keys["p384"], err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if keys["rsa2048"], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if _, keys["ed25519"], err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	caExt, err := asn1.Marshal(struct {
		IsCA bool
	}{true})
	if err != nil {
		t.Fatal(err)
	}
	templates := map[string]*x509.CertificateRequest{
		"p256": {Subject: pkix.Name{CommonName: "agent-1"}},
		"other-tenant": {
			Subject:        pkix.Name{CommonName: "admin", Organization: []string{"globex"}, OrganizationalUnit: []string{"operator"}},
			DNSNames:       []string{"hub.example.com"},
			IPAddresses:    []net.IP{net.ParseIP("10.0.0.1")},
			EmailAddresses: []string{"root@example.com"},
			ExtraExtensions: []pkix.Extension{
				{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: caExt},
			},
		},
		"p384":    {Subject: pkix.Name{CommonName: "agent-384"}},
		"rsa2048": {Subject: pkix.Name{CommonName: "agent-rsa"}},
		"ed25519": {Subject: pkix.Name{CommonName: "agent-ed25519"}},
	}
	dir := filepath.Join("testdata", "csr")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(csrVectors)) {
		der, err := x509.CreateCertificateRequest(rand.Reader, templates[name], keys[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name+".pem"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFuzzSeeds(t)
}

// writeFuzzSeeds writes testdata/fuzz/FuzzParseCSR from the CSR vectors and
// a few malformed inputs.
func writeFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseCSR")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{}
	for name := range csrVectors {
		seeds[name] = readCSRVector(t, name)
	}
	p256 := seeds["p256"]
	seeds["bad-signature"] = flipSignatureByte(t, p256)
	seeds["two-blocks"] = append(append([]byte{}, p256...), p256...)
	seeds["certificate-block"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pemBytes(t, p256)})
	seeds["garbage"] = []byte("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n")
	seeds["empty"] = nil
	for name, data := range seeds {
		text := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pemBytes returns the DER inside the first PEM block of text.
func pemBytes(t testing.TB, text []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(text)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

// flipSignatureByte returns csrPEM with the last byte of its DER (inside the
// signature) changed.
func flipSignatureByte(t testing.TB, csrPEM []byte) []byte {
	t.Helper()
	der := append([]byte{}, pemBytes(t, csrPEM)...)
	der[len(der)-1] ^= 0x01
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
