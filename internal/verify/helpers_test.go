package verify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// member is one tar entry of a pack being tampered with.
type member = packtest.Member

func buildPack(t *testing.T, meta pack.Meta, k ed25519.PrivateKey) []byte {
	t.Helper()
	b, _, err := packtest.Build(meta, packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unpack(t *testing.T, b []byte) []member {
	t.Helper()
	ms, err := packtest.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// repack writes members with archive/tar and compress/gzip, as an attacker
// with ordinary tools would.
func repack(t *testing.T, ms []member) []byte {
	t.Helper()
	b, err := packtest.Repack(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func find(t *testing.T, ms []member, name string) *member {
	t.Helper()
	for i := range ms {
		if ms[i].Hdr.Name == name {
			return &ms[i]
		}
	}
	t.Fatalf("no member %q", name)
	return nil
}

func regular(name string, body []byte) member {
	return member{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: packtest.GeneratedAt}, Body: body}
}

// resign replaces manifest.sig with k's signature of manifest.json.
func resign(t *testing.T, ms []member, k ed25519.PrivateKey) {
	t.Helper()
	d := sha256.Sum256(find(t, ms, "manifest.json").Body)
	find(t, ms, "manifest.sig").Body = []byte(hex.EncodeToString(ed25519.Sign(k, d[:])))
}

// resignIdentityR replaces manifest.sig with k's signature of manifest.json
// whose R is the identity point (packtest.IdentityRSignature).
func resignIdentityR(t *testing.T, ms []member, k ed25519.PrivateKey) {
	t.Helper()
	d := sha256.Sum256(find(t, ms, "manifest.json").Body)
	s := packtest.IdentityRSignature(k, d[:])
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), d[:], s) {
		t.Fatal("crypto/ed25519 refuses the identity-R signature: the test shows nothing")
	}
	find(t, ms, "manifest.sig").Body = []byte(hex.EncodeToString(s))
}

// editManifest decodes manifest.json, lets edit change it, and writes it
// back as canonical JSON.
func editManifest(t *testing.T, ms []member, edit func(m map[string]any)) {
	t.Helper()
	mm := find(t, ms, "manifest.json")
	dec := json.NewDecoder(bytes.NewReader(mm.Body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := canon.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	mm.Body = b
}

// setLineage replaces key_lineage.json and points the manifest at it.
func setLineage(t *testing.T, ms []member, raw []byte) {
	t.Helper()
	find(t, ms, "key_lineage.json").Body = raw
	editManifest(t, ms, func(m map[string]any) { m["key_lineage_sha256"] = pack.SHA256Hex(raw) })
}

func lineageJSON(t *testing.T, l pack.Lineage) []byte {
	t.Helper()
	b, err := l.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// rotated returns sk_0 (key 0, from 2025-01-01) rotated on 2026-01-01 to
// sk_1 (key k), endorsed by sk_0 unless unendorsed.
func rotated(t *testing.T, k ed25519.PrivateKey, unendorsed bool) pack.Lineage {
	t.Helper()
	k0 := packtest.Key(0xa0)
	l, err := pack.NewLineage("sk_0", pubOf(k0), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var by pack.Signer = packtest.Signer{Priv: k0}
	if unendorsed {
		by = nil
	}
	l, err = l.Rotate(context.Background(), "sk_1", pubOf(k), packtest.KeyFrom, by)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// outcome is what one verifier said about one pack.
type outcome struct {
	exit  int
	text  string
	codes []string
}

func runGo(t *testing.T, path string, expect string) outcome {
	t.Helper()
	r, err := verify.VerifyPath(path, verify.Options{ExpectFingerprint: expect})
	if err != nil {
		return outcome{exit: 2, text: err.Error()}
	}
	o := outcome{text: r.Text()}
	if !r.OK {
		o.exit = 1
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	o.codes = codesOf(t, js)
	return o
}

func runPy(t *testing.T, script, backend, path, expect string) outcome {
	t.Helper()
	args := []string{path}
	if expect != "" {
		args = append(args, "--expect-fingerprint", expect)
	}
	exit, text, stderr := packtest.RunPy(t, backend, script, args...)
	exitJ, js, _ := packtest.RunPy(t, backend, script, append(args, "--json")...)
	if exitJ != exit {
		t.Fatalf("verify.py (%s): exit %d with --json, %d without", backend, exitJ, exit)
	}
	if exit == 2 {
		return outcome{exit: 2, text: stderr}
	}
	var doc struct {
		Ed25519 string `json:"ed25519"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("verify.py --json: %v\n%s", err, js)
	}
	if doc.Ed25519 != backend {
		t.Fatalf("verify.py used backend %q, want %q", doc.Ed25519, backend)
	}
	return outcome{exit: exit, text: text, codes: codesOf(t, []byte(js))}
}

func codesOf(t *testing.T, js []byte) []string {
	t.Helper()
	var doc struct {
		Problems []verify.Problem `json:"problems"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("json report: %v\n%s", err, js)
	}
	codes := []string{}
	for _, p := range doc.Problems {
		codes = append(codes, p.Code)
	}
	return codes
}
