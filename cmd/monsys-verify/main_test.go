package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/tlog"
)

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 2
}

// TestRun checks exit codes and output against verify.py given the same
// arguments.
func TestRun(t *testing.T) {
	k := packtest.Key(1)
	b, res, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, res.FileName)
	bad := filepath.Join(dir, "bad.tar.gz")
	if err := os.WriteFile(good, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(bytes.Clone(b), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	fp := res.Fingerprint
	script := packtest.VerifyPy(t)
	logKey, err := tlog.VerifierKey("hub.example.com/monsys", packtest.Key(5).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := torchwood.NewCosignatureSigner("witness1.example", packtest.Key(6))
	if err != nil {
		t.Fatal(err)
	}
	witness := ws.Verifier().String()
	march := filepath.Join(dir, "march.tar.gz")
	edited := filepath.Join(dir, "edited.tar.gz")
	meta, signer, data := packtest.March()
	for _, p := range []string{march, edited} {
		var out bytes.Buffer
		if _, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		// An insider edits a stored signed body (ag_signed's first batch).
		data.Batches[0].Body = bytes.Replace(bytes.Clone(data.Batches[0].Body), []byte("openssl"), []byte("openssh"), 1)
	}

	tests := []struct {
		name string
		args []string
		exit int
		out  string // a substring of stdout
	}{
		{"ok/pack", []string{good}, 0, "✓ Tenant: acme-bv\n"},
		{"ok/expected-fingerprint", []string{good, "--expect-fingerprint", fp}, 0, "✓ Signing key matches expected fingerprint: " + fp},
		{"ok/flags-first", []string{"--expect-fingerprint=" + fp, "--", good}, 0, "✓ Signature valid (Ed25519)"},
		{"ok/json", []string{"--json", good}, 0, `"ok": true`},
		{"ok/help", []string{"--help"}, 0, "usage"},
		{"ok/deep", []string{march, "--deep"}, 0, "✓ Batch chains unbroken (1 agents)\n"},
		{"ok/edited-without-deep", []string{edited}, 0, "✓ Tenant: acme\n"},
		{"fail/edited-deep", []string{"--deep", edited}, 1, "✗ Batch body does not match its SHA-256: agent ag_signed, batch s#1772323200000000001\n"},
		{"fail/trailing-byte", []string{bad}, 1, "✗ Data after the end of the gzip stream"},
		{"fail/trailing-byte-json", []string{bad, "--json"}, 1, `"code": "trailing_data"`},
		{"fail/fingerprint-mismatch", []string{good, "--expect-fingerprint", strings.Repeat("ab", 32)}, 1, "✗ Signing key does not match expected fingerprint"},
		{"fail/no-such-file", []string{filepath.Join(dir, "nope.tar.gz")}, 2, ""},
		{"fail/no-args", nil, 2, ""},
		{"fail/two-packs", []string{good, good}, 2, ""},
		{"fail/unknown-flag", []string{good, "--fast"}, 2, ""},
		{"fail/malformed-fingerprint", []string{good, "--expect-fingerprint", "4a:b3"}, 2, ""},
		{"fail/empty-fingerprint", []string{good, "--expect-fingerprint="}, 2, ""},
		{"fail/fingerprint-without-value", []string{good, "--expect-fingerprint"}, 2, ""},
		// SPEC 10's options (the lines themselves: internal/verify's TestTransparencyPacks).
		{"fail/log-key-no-transparency", []string{good, "--log-key", logKey, "--witness-key", witness}, 1,
			"✓ Tenant: acme-bv\n✗ Transparency proof missing: transparency/pack.tlog-proof\n"},
		{"fail/log-key-no-transparency-flags-first", []string{"--log-key=" + logKey, "--witness-key=" + witness, "--witness-quorum=1", good}, 1,
			"✗ Cosignatures not checked: the checkpoint did not verify\n"},
		{"fail/log-key-json", []string{good, "--log-key", logKey, "--witness-key", witness, "--json"}, 1, `"name": "witnesses"`},
		{"fail/witness-key-without-log-key", []string{good, "--witness-key", witness}, 2, ""},
		{"fail/quorum-without-log-key", []string{good, "--witness-quorum", "1"}, 2, ""},
		{"fail/quorum-zero", []string{good, "--log-key", logKey, "--witness-key", witness, "--witness-quorum", "0"}, 2, ""},
		{"fail/quorum-not-a-number", []string{good, "--log-key", logKey, "--witness-key", witness, "--witness-quorum", "all"}, 2, ""},
		{"fail/quorum-above-witnesses", []string{good, "--log-key", logKey, "--witness-key", witness, "--witness-quorum", "2"}, 2, ""},
		{"fail/log-key-garbage", []string{good, "--log-key", "hub.example.com/monsys", "--witness-key", witness}, 2, ""},
		{"fail/log-key-is-a-witness-key", []string{good, "--log-key", witness}, 2, ""},
		{"fail/witness-key-twice", []string{good, "--log-key", logKey, "--witness-key", witness, "--witness-key", witness}, 2, ""},
		{"fail/log-key-without-value", []string{good, "--log-key"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(tt.args, &out, &errb)
			if got := exitCode(err); got != tt.exit {
				t.Fatalf("exit %d, want %d (%v)\n%s%s", got, tt.exit, err, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Fatalf("stdout lacks %q:\n%s", tt.out, out.String())
			}
			if strings.Contains(strings.Join(tt.args, " "), "--json") && tt.exit != 2 && !json.Valid(out.Bytes()) {
				t.Fatalf("--json output is not JSON:\n%s", out.String())
			}
			pyExit, pyOut, _ := packtest.RunPy(t, packtest.Cryptography, script, tt.args...)
			if pyExit != tt.exit {
				t.Fatalf("verify.py exit %d, monsys-verify %d", pyExit, tt.exit)
			}
			if tt.exit != 2 && tt.name != "ok/help" && !strings.Contains(tt.name, "json") && pyOut != out.String() {
				t.Fatalf("outputs differ:\n--- verify.py\n%s--- monsys-verify\n%s", pyOut, out.String())
			}
		})
	}
}
