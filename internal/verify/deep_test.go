package verify_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/verify"
)

// buildFrom builds March's pack from data through the pack builder, as the
// hub would from a store holding data.
func buildFrom(t *testing.T, data packtest.Data) []byte {
	t.Helper()
	meta, signer, _ := packtest.March()
	var out bytes.Buffer
	if _, err := pack.Build(context.Background(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// chainSeq is the first seq of the chain chained() adds.
const chainSeq = 1772323200000000010

// chained is March with three more batches of ag_signed, each with one
// metric in the period and naming the one before it in prev, signed by key.
func chained(key ed25519.PrivateKey) packtest.Data {
	_, _, data := packtest.March()
	prev := ""
	for i := range 3 {
		seq := int64(chainSeq + i)
		p := ""
		if prev != "" {
			p = `,"prev":"` + prev + `"`
		}
		body := fmt.Sprintf(`[{"type":"batch","ts":"2026-03-20T00:00:0%dZ","seq":%d,"agent_version":"1.4.2"%s},{"type":"metric","ts":"2026-03-20T00:00:0%dZ","n":%d}]`, i, seq, p, i, i)
		data.Batches = append(data.Batches, signedBatch("ag_signed", seq, body, key))
		prev = pack.SHA256Hex([]byte(body))
	}
	return data
}

func signedBatch(agent string, seq int64, body string, key ed25519.PrivateKey) pack.Batch {
	return pack.Batch{TenantID: "acme", AgentID: agent, Key: fmt.Sprintf("s#%d", seq), Seq: seq, SHA256: pack.SHA256Hex([]byte(body)),
		Signed: true, Body: []byte(body), Records: 1, ReceivedAt: mustTime("2026-03-20T01:00:00Z"), Signature: sig.Sign(key, []byte(body))}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func batchIndex(t *testing.T, data packtest.Data, seq int64) int {
	t.Helper()
	i := slices.IndexFunc(data.Batches, func(b pack.Batch) bool { return b.Signed && b.Seq == seq })
	if i < 0 {
		t.Fatalf("no batch %d", seq)
	}
	return i
}

// deepRun verifies tgz with the Go verifier and verify.py (both Ed25519
// back ends), plain and --deep; the lines must be identical in all.
func deepRun(t *testing.T, tgz []byte) (plainOK, deepOK bool, text string) {
	t.Helper()
	path := writeTemp(t, "pack.tar.gz", tgz)
	run := func(deep bool) (bool, string) {
		r, err := verify.VerifyPath(path, verify.Options{Deep: deep})
		if err != nil {
			t.Fatal(err)
		}
		return r.OK, r.Text()
	}
	plainOK, _ = run(false)
	deepOK, text = run(true)
	script := packtest.VerifyPy(t)
	for _, backend := range []string{packtest.Cryptography, packtest.PurePython} {
		t.Run(backend, func(t *testing.T) {
			exit, out, stderr := packtest.RunPy(t, backend, script, path, "--deep")
			if out != text || (exit == 0) != deepOK {
				t.Fatalf("verify.py --deep (%s): exit %d\n%s%s\nGo:\n%s", backend, exit, out, stderr, text)
			}
			exit, _, stderr = packtest.RunPy(t, backend, script, path)
			if (exit == 0) != plainOK {
				t.Fatalf("verify.py (%s): exit %d %s", backend, exit, stderr)
			}
		})
	}
	return plainOK, deepOK, text
}

// TestDeepMarch: the golden pack passes --deep in both verifiers, with the
// lines of SPEC 9 after the seven.
func TestDeepMarch(t *testing.T) {
	_, _, data := packtest.March()
	_, ok, text := deepRun(t, buildFrom(t, data))
	want := "✓ Provenance: 2 records in 4 batches, signed by 1 agent keys (Ed25519)\n" +
		"✓ Batch chains unbroken (1 agents)\n" +
		"⚠ 2 records from 1 unsigned (legacy) agent cannot be attributed\n"
	if !ok || !strings.HasSuffix(text, want) {
		t.Fatalf("got\n%s", text)
	}
	_, ok, text = deepRun(t, buildFrom(t, chained(packtest.AgentKey())))
	if !ok || !strings.Contains(text, "✓ Provenance: 5 records in 7 batches") {
		t.Fatalf("got\n%s", text)
	}
}

// TestDeepTampered: an insider at the database edits what the hub stores
// and asks for a pack: the pack verifies (the hub signed it) and fails
// --deep, naming the agent, batch and reason, identically in both
// verifiers.
func TestDeepTampered(t *testing.T) {
	last := int64(chainSeq + 2)
	cases := []struct {
		name string
		edit func(t *testing.T, d *packtest.Data)
		want string
	}{
		{"fail/body-byte-flipped", func(t *testing.T, d *packtest.Data) {
			b := &d.Batches[batchIndex(t, *d, chainSeq+1)]
			b.Body = bytes.Replace(bytes.Clone(b.Body), []byte(`"n":1`), []byte(`"n":7`), 1)
		}, fmt.Sprintf("✗ Batch body does not match its SHA-256: agent ag_signed, batch s#%d", chainSeq+1)},
		{"fail/record-changed", func(t *testing.T, d *packtest.Data) {
			b := &d.Batches[batchIndex(t, *d, chainSeq+1)]
			b.Body = bytes.Replace(bytes.Clone(b.Body), []byte(`"n":1`), []byte(`"n":7`), 1)
			b.SHA256 = pack.SHA256Hex(b.Body)
		}, fmt.Sprintf("✗ Batch signature invalid: agent ag_signed, batch s#%d", chainSeq+1)},
		{"fail/batch-dropped-from-chain", func(t *testing.T, d *packtest.Data) {
			d.Batches = slices.Delete(d.Batches, batchIndex(t, *d, chainSeq+1), batchIndex(t, *d, chainSeq+1)+1)
		}, fmt.Sprintf("✗ Batch chain broken: ag_signed before seq %d", last)},
		{"fail/signed-by-key-not-in-history", func(t *testing.T, d *packtest.Data) {
			b := &d.Batches[batchIndex(t, *d, last)]
			b.Signature = sig.Sign(packtest.Key(9), b.Body)
		}, fmt.Sprintf("✗ Batch signature invalid: agent ag_signed, batch s#%d", last)},
		{"fail/batch-moved-to-another-agent", func(t *testing.T, d *packtest.Data) {
			d.Batches[batchIndex(t, *d, last)].AgentID = "ag_legacy"
		}, fmt.Sprintf("✗ Batch signed by a key not in the agent's history: agent ag_legacy, batch s#%d", last)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := chained(packtest.AgentKey())
			tc.edit(t, &data)
			plainOK, deepOK, text := deepRun(t, buildFrom(t, data))
			if !plainOK || deepOK || !strings.Contains(text, tc.want+"\n") {
				t.Fatalf("plain ok %v, deep ok %v, want line %q in\n%s", plainOK, deepOK, tc.want, text)
			}
		})
	}
}

// hubRewrite plays an insider holding the pack-signing key: it edits one
// data file of tgz, points the manifest at the new bytes and signs it again,
// so that the plain check passes.
func hubRewrite(t *testing.T, tgz []byte, path string, edit func([]byte) []byte) []byte {
	t.Helper()
	ms := unpack(t, tgz)
	f := find(t, ms, "data/"+path)
	f.Body = edit(bytes.Clone(f.Body))
	editManifest(t, ms, func(m map[string]any) {
		var all strings.Builder
		for _, raw := range m["files"].([]any) {
			e := raw.(map[string]any)
			if e["path"] == path {
				e["sha256"] = pack.SHA256Hex(f.Body)
				e["record_count"] = bytes.Count(f.Body, []byte{'\n'})
			}
			all.WriteString(e["sha256"].(string))
		}
		m["inputs_hash"] = "sha256:" + pack.SHA256Hex([]byte(all.String()))
	})
	_, signer, _ := packtest.March()
	resign(t, ms, signer.Priv)
	return repack(t, ms)
}

// TestDeepRecordEdited: records changed, added or removed in the pack's
// record files (the hub re-signing the manifest) fail --deep with the file
// and line, and the batch and record left out.
func TestDeepRecordEdited(t *testing.T) {
	tgz := buildFrom(t, chained(packtest.AgentKey()))
	const metric = "agents/ag_signed/metric.ndjson"
	cases := []struct {
		name string
		edit func([]byte) []byte
		want []string
	}{
		{"fail/changed", func(b []byte) []byte { return bytes.Replace(b, []byte(`"n":1`), []byte(`"n":7`), 1) }, []string{
			"✗ Record not from a signed batch: data/" + metric + " line ",
			fmt.Sprintf("✗ Record missing from data/%s: agent ag_signed, batch s#%d, record 0\n", metric, chainSeq+1)}},
		{"fail/added", func(b []byte) []byte {
			return append(b, `{"cpu":99,"ts":"2026-03-02T00:00:00Z","type":"metric"}`+"\n"...)
		}, []string{
			"✗ Record not from a signed batch: data/" + metric + " line 5\n"}},
		{"fail/removed", func(b []byte) []byte { return b[bytes.IndexByte(b, '\n')+1:] }, []string{
			"✗ Record missing from data/" + metric + ": agent "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plainOK, deepOK, text := deepRun(t, hubRewrite(t, tgz, metric, tc.edit))
			if !plainOK || deepOK {
				t.Fatalf("plain ok %v, deep ok %v\n%s", plainOK, deepOK, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Fatalf("want %q in\n%s", w, text)
				}
			}
		})
	}
}

// TestDeepVersion1: a version 1 pack still verifies; --deep says it has no
// provenance to check (SPEC 8: version 1 packs are without section 9).
func TestDeepVersion1(t *testing.T) {
	_, signer, _ := packtest.March()
	ms := unpack(t, buildPack(t, packtest.Meta(signer.Priv), signer.Priv))
	editManifest(t, ms, func(m map[string]any) { m["format_version"] = 1 })
	resign(t, ms, signer.Priv)
	plainOK, deepOK, text := deepRun(t, repack(t, ms))
	if !plainOK || !deepOK || !strings.HasSuffix(text, "⚠ Provenance not checked: format version 1 packs carry no batches (SPEC 9)\n") {
		t.Fatalf("plain ok %v, deep ok %v\n%s", plainOK, deepOK, text)
	}
}
