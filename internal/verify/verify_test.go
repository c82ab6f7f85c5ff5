package verify_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

var backends = []string{packtest.Cryptography, packtest.PurePython}

func successLines(fpLine string) string {
	return strings.Join([]string{
		"✓ Signature valid (Ed25519)",
		fpLine,
		"✓ All 5 files intact (SHA256 match)",
		"✓ inputs_hash consistent",
		"✓ Signing key active at generated_at (key lineage)",
		"✓ Period: 2026-04-01 → 2026-04-30",
		"✓ Tenant: acme-bv",
	}, "\n") + "\n"
}

func TestRoundTrip(t *testing.T) {
	k := packtest.Key(1)
	b := buildPack(t, packtest.Meta(k), k)
	fp := pack.Fingerprint(pubOf(k))
	archive := writeTemp(t, "evidence_acme-bv_april-2026.tar.gz", b)
	dir := t.TempDir()
	extract(t, b, dir)
	script := packtest.VerifyPy(t)

	cases := []struct {
		name, path, expect, want string
	}{
		{"ok/archive-expected-fp", archive, fp, successLines("✓ Signing key matches expected fingerprint: " + fp)},
		{"ok/archive-plain-hex-fp", archive, strings.ToUpper(strings.ReplaceAll(fp, ":", "")), successLines("✓ Signing key matches expected fingerprint: " + fp)},
		{"ok/archive-no-fp", archive, "", successLines("✓ Signing key fingerprint: " + fp + " (not checked against an expected fingerprint; use --expect-fingerprint)")},
		{"ok/directory", dir, fp, successLines("✓ Signing key matches expected fingerprint: " + fp)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := runGo(t, tc.path, tc.expect); got.exit != 0 || got.text != tc.want {
				t.Fatalf("Go verifier: exit %d\n%s\nwant\n%s", got.exit, got.text, tc.want)
			}
			for _, backend := range backends {
				got := runPy(t, script, backend, tc.path, tc.expect)
				if got.exit != 0 || got.text != tc.want {
					t.Fatalf("verify.py (%s): exit %d\n%s\nwant\n%s", backend, got.exit, got.text, tc.want)
				}
			}
		})
	}
	// A format_version 1 pack (before SPEC 9) still verifies.
	v1 := unpack(t, b)
	editManifest(t, v1, func(m map[string]any) { m["format_version"] = 1 })
	resign(t, v1, k)
	v1path := writeTemp(t, "evidence_acme-bv_april-2026-v1.tar.gz", repack(t, v1))
	t.Run("ok/format-version-1", func(t *testing.T) {
		want := successLines("✓ Signing key matches expected fingerprint: " + fp)
		if got := runGo(t, v1path, fp); got.exit != 0 || got.text != want {
			t.Fatalf("Go verifier: exit %d\n%s", got.exit, got.text)
		}
		for _, backend := range backends {
			if got := runPy(t, script, backend, v1path, fp); got.exit != 0 || got.text != want {
				t.Fatalf("verify.py (%s): exit %d\n%s", backend, got.exit, got.text)
			}
		}
	})
	t.Run("ok/verify.py-inside-the-pack", func(t *testing.T) {
		exit, out, _ := packtest.RunPy(t, packtest.Cryptography, filepath.Join(dir, "verify.py"), archive, "--expect-fingerprint", fp)
		if exit != 0 || out != cases[0].want {
			t.Fatalf("exit %d\n%s", exit, out)
		}
	})
}

// extract unpacks a pack with archive/tar (test packs only hold regular files).
func extract(t *testing.T, b []byte, dir string) {
	t.Helper()
	for _, m := range unpack(t, b) {
		p := filepath.Join(dir, filepath.FromSlash(m.Hdr.Name))
		if m.Hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, m.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type tamperCase struct {
	name   string
	mutate func(t *testing.T, ms []member) []member // nil: keep the members
	raw    func(t *testing.T, b []byte) []byte      // applied to the archive bytes
	expect string                                   // --expect-fingerprint
	want   string                                   // problem code both verifiers must report
	line   string                                   // a line the text output must hold
}

func tamperCases(t *testing.T, k ed25519.PrivateKey) []tamperCase {
	other := packtest.Key(7)
	otherPEM, err := pack.PublicKeyPEM(pubOf(other))
	if err != nil {
		t.Fatal(err)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	return []tamperCase{
		{
			name: "fail/data-byte-changed",
			mutate: func(t *testing.T, ms []member) []member {
				f := find(t, ms, "data/alerts/anomalies.ndjson")
				f.Body = bytes.Replace(f.Body, []byte("high"), []byte("low!"), 1)
				return ms
			},
			want: "file_tampered", line: "✗ File tampered: data/alerts/anomalies.ndjson",
		},
		{
			name: "fail/file-removed",
			mutate: func(t *testing.T, ms []member) []member {
				return slices.DeleteFunc(ms, func(m member) bool { return m.Hdr.Name == "data/agents.ndjson" })
			},
			want: "file_missing", line: "✗ File missing: data/agents.ndjson",
		},
		{
			name: "fail/unlisted-file-added",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, regular("data/alerts/extra.ndjson", []byte("{\"x\":1}\n")))
			},
			want: "file_unlisted", line: "✗ File not listed in manifest: data/alerts/extra.ndjson",
		},
		{
			name: "fail/record-count-changed-and-resigned",
			mutate: func(t *testing.T, ms []member) []member {
				editManifest(t, ms, func(m map[string]any) {
					m["files"].([]any)[0].(map[string]any)["record_count"] = 3
				})
				resign(t, ms, k)
				return ms
			},
			want: "record_count", line: "✗ Record count mismatch: data/agents.ndjson (manifest says 3, file has 2)",
		},
		{
			name: "fail/manifest-field-edited",
			mutate: func(t *testing.T, ms []member) []member {
				editManifest(t, ms, func(m map[string]any) { m["tenant_id"] = "evil-corp" })
				return ms
			},
			want: "bad_signature", line: "✗ Signature invalid (Ed25519): manifest.json is not signed by the key in signing_key.pub",
		},
		{
			name: "fail/signature-from-another-key",
			mutate: func(t *testing.T, ms []member) []member {
				resign(t, ms, other)
				return ms
			},
			want: "bad_signature",
		},
		{
			name: "fail/signature-with-identity-R",
			mutate: func(t *testing.T, ms []member) []member {
				resignIdentityR(t, ms, k)
				return ms
			},
			want: "bad_signature", line: "✗ Signature invalid (Ed25519): manifest.json is not signed by the key in signing_key.pub",
		},
		{
			name: "fail/endorsement-with-identity-R",
			mutate: func(t *testing.T, ms []member) []member {
				l := rotated(t, k, false)
				msg, err := pack.EndorsementMessage(l[1])
				if err != nil {
					t.Fatal(err)
				}
				d := sha256.Sum256(msg)
				l[1].Endorsement.Signature = hex.EncodeToString(packtest.IdentityRSignature(packtest.Key(0xa0), d[:]))
				setLineage(t, ms, lineageJSON(t, l))
				resign(t, ms, k)
				return ms
			},
			want: "endorsement_invalid", line: "✗ Key lineage endorsement broken: sk_1 is not validly endorsed by sk_0",
		},
		{
			name: "fail/signing-key-pub-swapped",
			mutate: func(t *testing.T, ms []member) []member {
				find(t, ms, "signing_key.pub").Body = otherPEM
				resign(t, ms, other)
				return ms
			},
			want: "key_mismatch", line: "✗ Signing key sk_1 in key lineage is not the key in signing_key.pub",
		},
		{
			name:   "fail/unexpected-fingerprint",
			expect: pack.Fingerprint(pubOf(other)),
			want:   "fingerprint_mismatch",
		},
		{
			name: "fail/key-inactive-at-generated-at",
			mutate: func(t *testing.T, ms []member) []member {
				l, err := pack.NewLineage("sk_1", pubOf(k), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
				if err != nil {
					t.Fatal(err)
				}
				setLineage(t, ms, lineageJSON(t, l))
				resign(t, ms, k)
				return ms
			},
			want: "key_inactive",
			line: "✗ Signing key sk_1 not active at generated_at 2026-05-01T08:03:14Z (active 2026-06-01T00:00:00Z → now)",
		},
		{
			name: "fail/broken-endorsement",
			mutate: func(t *testing.T, ms []member) []member {
				l := rotated(t, k, false)
				sig := []byte(l[1].Endorsement.Signature)
				sig[10] ^= 1
				l[1].Endorsement.Signature = string(sig)
				setLineage(t, ms, lineageJSON(t, l))
				resign(t, ms, k)
				return ms
			},
			want: "endorsement_invalid", line: "✗ Key lineage endorsement broken: sk_1 is not validly endorsed by sk_0",
		},
		{
			name: "fail/endorsed-by-wrong-key",
			mutate: func(t *testing.T, ms []member) []member {
				l := rotated(t, k, false)
				l[1].Endorsement.ByKeyID = "sk_9"
				setLineage(t, ms, lineageJSON(t, l))
				resign(t, ms, k)
				return ms
			},
			want: "endorsement_invalid",
		},
		{
			name: "fail/lineage-not-the-one-signed",
			mutate: func(t *testing.T, ms []member) []member {
				find(t, ms, "key_lineage.json").Body = lineageJSON(t, rotated(t, k, false))
				return ms
			},
			want: "lineage_hash",
		},
		{
			name: "fail/inputs-hash-changed-and-resigned",
			mutate: func(t *testing.T, ms []member) []member {
				editManifest(t, ms, func(m map[string]any) { m["inputs_hash"] = "sha256:" + strings.Repeat("0", 64) })
				resign(t, ms, k)
				return ms
			},
			want: "inputs_hash",
		},
		{
			name: "fail/manifest-path-traversal-resigned",
			mutate: func(t *testing.T, ms []member) []member {
				editManifest(t, ms, func(m map[string]any) {
					m["files"].([]any)[0].(map[string]any)["path"] = "../agents.ndjson"
				})
				resign(t, ms, k)
				return ms
			},
			want: "manifest_invalid", line: "✗ manifest.json invalid: files[0] has an unsafe path",
		},
		{
			name: "fail/dotdot-path",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, regular("data/../../evil.sh", []byte("rm -rf /\n")))
			},
			want: "unsafe_path", line: "✗ Unsafe path in archive: data/../../evil.sh",
		},
		{
			name: "fail/absolute-path",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, regular("/etc/cron.d/evil", []byte("x\n")))
			},
			want: "unsafe_path", line: "✗ Unsafe path in archive: /etc/cron.d/evil",
		},
		{
			name: "fail/symlink-member",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, member{Hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "data/link.ndjson", Linkname: "/etc/passwd", Mode: 0o777}})
			},
			want: "link", line: "✗ Link not allowed in archive: data/link.ndjson",
		},
		{
			name: "fail/hardlink-member",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, member{Hdr: tar.Header{Typeflag: tar.TypeLink, Name: "data/hard.ndjson", Linkname: "data/agents.ndjson"}})
			},
			want: "link",
		},
		{
			name: "fail/device-member",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, member{Hdr: tar.Header{Typeflag: tar.TypeChar, Name: "data/null", Devmajor: 1, Devminor: 3}})
			},
			want: "special_file",
		},
		{
			name: "fail/format-version-3",
			mutate: func(t *testing.T, ms []member) []member {
				editManifest(t, ms, func(m map[string]any) { m["format_version"] = 3 })
				resign(t, ms, k)
				return ms
			},
			want: "manifest_invalid",
		},
		{
			name: "fail/duplicate-member",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, regular("data/agents.ndjson", []byte("{\"agent_id\":\"ghost\"}\n")))
			},
			want: "duplicate", line: "✗ Duplicate entry in archive: data/agents.ndjson",
		},
		{
			name: "fail/duplicate-manifest-first-wins-not",
			mutate: func(t *testing.T, ms []member) []member {
				fake := regular("manifest.json", []byte(`{"format_version":1}`))
				return append([]member{fake}, ms...)
			},
			want: "duplicate",
		},
		{
			name: "fail/unexpected-root-file",
			mutate: func(t *testing.T, ms []member) []member {
				return append(ms, regular("notes.txt", []byte("hi\n")))
			},
			want: "unexpected_member",
		},
		{
			name: "fail/manifest-missing",
			mutate: func(t *testing.T, ms []member) []member {
				return slices.DeleteFunc(ms, func(m member) bool { return m.Hdr.Name == "manifest.json" })
			},
			want: "missing_member", line: "✗ Missing manifest.json",
		},
		{
			name: "fail/trailing-data-after-gzip",
			raw:  func(t *testing.T, b []byte) []byte { return append(b, "appended"...) },
			want: "trailing_data", line: "✗ Data after the end of the gzip stream",
		},
		{
			name: "fail/second-gzip-member",
			raw:  func(t *testing.T, b []byte) []byte { return append(b, gz([]byte("hidden payload"))...) },
			want: "trailing_data",
		},
		{
			name: "fail/data-after-tar-end",
			raw: func(t *testing.T, b []byte) []byte {
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				var plain bytes.Buffer
				plain.ReadFrom(zr)
				return gz(append(plain.Bytes(), "smuggled after the end-of-archive blocks"...))
			},
			want: "trailing_data", line: "✗ Data after the end of the tar archive",
		},
		{
			name: "fail/truncated-archive",
			raw:  func(t *testing.T, b []byte) []byte { return b[:len(b)*2/3] },
			want: "truncated", line: "✗ Archive truncated: unexpected end of data",
		},
		{
			name: "fail/truncated-trailer",
			raw:  func(t *testing.T, b []byte) []byte { return b[:len(b)-3] },
			want: "truncated",
		},
		{
			name: "fail/not-gzip",
			raw:  func(t *testing.T, b []byte) []byte { return []byte("this is not an evidence pack\n") },
			want: "corrupt", line: "✗ Archive unreadable: not a gzip file",
		},
		{
			name: "fail/corrupt-deflate",
			raw: func(t *testing.T, b []byte) []byte {
				c := bytes.Clone(b)
				for i := 200; i < 260; i++ {
					c[i] ^= 0x55
				}
				return c
			},
			want: "corrupt",
		},
		{
			name: "fail/weak-signing-key",
			mutate: func(t *testing.T, ms []member) []member {
				identity := append([]byte{1}, make([]byte, 31)...)
				pem, err := pack.PublicKeyPEM(identity)
				if err != nil {
					t.Fatal(err)
				}
				find(t, ms, "signing_key.pub").Body = pem
				find(t, ms, "manifest.sig").Body = []byte(hex.EncodeToString(append(bytes.Clone(identity), make([]byte, 32)...)))
				return ms
			},
			want: "public_key",
		},
	}
}

// TestTamper runs every tampered pack through the Go verifier and through
// verify.py with both Ed25519 backends: each must fail (exit 1), report the
// expected problem, and all of them must agree on the problems and on the
// exact text.
func TestTamper(t *testing.T) {
	k := packtest.Key(1)
	good := buildPack(t, packtest.Meta(k), k)
	script := packtest.VerifyPy(t)
	cases := tamperCases(t, k)
	if len(cases) < 15 {
		t.Fatalf("only %d tamper cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := slices.Clip(good) // raw cases append: never into good's spare capacity
			if tc.mutate != nil {
				b = repack(t, tc.mutate(t, unpack(t, good)))
			}
			if tc.raw != nil {
				b = tc.raw(t, b)
			}
			path := writeTemp(t, "pack.tar.gz", b)
			g := runGo(t, path, tc.expect)
			if g.exit != 1 {
				t.Fatalf("Go verifier: exit %d, want 1\n%s", g.exit, g.text)
			}
			if !slices.Contains(g.codes, tc.want) {
				t.Fatalf("Go verifier: problems %v, want %q\n%s", g.codes, tc.want, g.text)
			}
			if tc.line != "" && !slices.Contains(strings.Split(g.text, "\n"), tc.line) {
				t.Fatalf("Go verifier: no line %q in\n%s", tc.line, g.text)
			}
			for _, backend := range backends {
				p := runPy(t, script, backend, path, tc.expect)
				if p.exit != 1 {
					t.Fatalf("verify.py (%s): exit %d, want 1\n%s", backend, p.exit, p.text)
				}
				if !slices.Equal(p.codes, g.codes) {
					t.Fatalf("verifiers disagree: verify.py (%s) %v, Go %v\n--- verify.py\n%s--- Go\n%s", backend, p.codes, g.codes, p.text, g.text)
				}
				if p.text != g.text {
					t.Fatalf("verifiers print differently (%s):\n--- verify.py\n%s--- Go\n%s", backend, p.text, g.text)
				}
			}
		})
	}
}

func TestTamperedFileLines(t *testing.T) {
	k := packtest.Key(1)
	ms := unpack(t, buildPack(t, packtest.Meta(k), k))
	f := find(t, ms, "data/alerts/anomalies.ndjson")
	want := pack.SHA256Hex(f.Body)
	f.Body = append(f.Body, "{}\n"...)
	got := pack.SHA256Hex(f.Body)
	r, err := verify.VerifyPath(writeTemp(t, "p.tar.gz", repack(t, ms)), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := r.Text()
	block := "✗ File tampered: data/alerts/anomalies.ndjson\n  Expected SHA256: " + want + "\n  Actual SHA256:   " + got + "\n"
	if !strings.Contains(text, block) || !strings.HasSuffix(text, "✗ Verification FAILED: 1 problem\n") {
		t.Fatalf("text:\n%s\nwant block:\n%s", text, block)
	}
}
