package verify_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// batchLine is a data/agents/<id>/batch.ndjson line as the hub writes it;
// reason "" is a batch that was packed, else one that was quarantined.
func batchLine(key, reason string) pack.BatchLine {
	l := pack.BatchLine{BatchKey: key, BodySHA256: strings.Repeat("ab", 32), ReceivedAt: "2026-04-02T10:00:00Z",
		Records: 3, InPeriod: 3}
	if reason != "" {
		l.InPeriod, l.Quarantined = 0, reason
	}
	return l
}

// quarantinePack is the default pack plus the batch files of two agents,
// three of whose batches are quarantined.
func quarantinePack(t *testing.T, k ed25519.PrivateKey) []byte {
	t.Helper()
	files := packtest.Files()
	files["agents/web-edge-01/batch.ndjson"] = []any{
		batchLine("u#02", `record 1: duplicate member name "v" at byte 96`),
		batchLine("u#01", ""),
		batchLine("u#03", "not JSON: the body is empty"),
	}
	files["agents/web-edge-00/batch.ndjson"] = []any{
		batchLine("s#0001743501600000000000", "record 0: number 1e400 is outside the IEEE 754 double range at byte 50"),
		batchLine("s#0001743501600000000001", "record 2: type \"\\x01\\u00e9\" must match [a-z0-9_]{1,64}\u0001\u00e9"),
	}
	b, _, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, files, pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const warnPrefix = "⚠ Quarantined batch (records not packed): "

// TestQuarantineWarnings: a pack whose batch.ndjson files list quarantined
// batches (SPEC 9, "Records that cannot be packed") passes, and both
// verifiers, from the archive and from a directory, print the same seven
// success lines followed by one warning per such batch, naming the agent,
// the batch and the reason, in path and line order.
func TestQuarantineWarnings(t *testing.T) {
	k := packtest.Key(1)
	b := quarantinePack(t, k)
	fp := pack.Fingerprint(pubOf(k))
	archive := writeTemp(t, "pack.tar.gz", b)
	dir := t.TempDir()
	extract(t, b, dir)
	want := strings.Replace(successLines("✓ Signing key matches expected fingerprint: "+fp), "All 5 files", "All 7 files", 1) +
		warnPrefix + "agent web-edge-00, batch s#0001743501600000000000: record 0: number 1e400 is outside the IEEE 754 double range at byte 50\n" +
		warnPrefix + "agent web-edge-00, batch s#0001743501600000000001: record 2: type \"\\x01\\u00e9\" must match [a-z0-9_]{1,64}\\x01\u00e9\n" +
		warnPrefix + "agent web-edge-01, batch u#02: record 1: duplicate member name \"v\" at byte 96\n" +
		warnPrefix + "agent web-edge-01, batch u#03: not JSON: the body is empty\n"
	script := packtest.VerifyPy(t)
	for _, path := range []string{archive, dir} {
		g := runGo(t, path, fp)
		if g.exit != 0 || g.text != want {
			t.Fatalf("Go verifier on %s: exit %d\n%s\nwant\n%s", path, g.exit, g.text, want)
		}
		gw := goWarnings(t, path)
		for _, backend := range backends {
			p := runPy(t, script, backend, path, fp)
			if p.exit != 0 || p.text != want {
				t.Fatalf("verify.py (%s) on %s: exit %d\n%s\nwant\n%s", backend, path, p.exit, p.text, want)
			}
			if pw := pyWarnings(t, script, backend, path); strings.Join(pw, "\n") != strings.Join(gw, "\n") {
				t.Fatalf("--json warnings differ: verify.py (%s) %q, Go %q", backend, pw, gw)
			}
		}
		if len(gw) != 4 {
			t.Fatalf("--json warnings %q, want the 4 quarantined batches", gw)
		}
	}
}

// TestQuarantineUnreadable: a batch.ndjson line that names a quarantine
// but is not I-JSON, or that is too long to read, is reported as such by
// both verifiers (the hub never writes one; a forger holding the signing
// key could).
func TestQuarantineUnreadable(t *testing.T) {
	k := packtest.Key(1)
	ms := unpack(t, quarantinePack(t, k))
	const path = "agents/web-edge-01/batch.ndjson"
	f := find(t, ms, "data/"+path)
	f.Body = append(f.Body, []byte(
		`{"batch_key":"u#04","quarantined":"cut`+"\n"+ // not JSON
			`{"batch_key":"u#05","quarantined":"\ud800"}`+"\n"+ // a lone surrogate
			`{"batch_key":"u#06","quarantined":1e400}`+"\n"+ // a number out of range
			`{"batch_key":"u#07","quarantined":"a","quarantined":"b"}`+"\n"+ // a duplicate name
			`{"batch_key":"u#08","quarantined":7}`+"\n"+ // not a string
			`{"batch_key":"u#09","quarantined":"deep","x":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)+"}\n"+ // 65 levels
			`{"batch_key":"u#10","x":"`+strings.Repeat("y", 1<<20)+`","quarantined":"long"}`+"\n"+ // over 1 MiB
			`{"batch_key":"u#11","quarantined":"last line, unterminated"}`)...)
	refile(t, ms, path, f.Body, k)
	out := writeTemp(t, "pack.tar.gz", repack(t, ms))
	fp := pack.Fingerprint(pubOf(k))
	g := runGo(t, out, fp)
	if g.exit != 0 {
		t.Fatalf("Go verifier: exit %d\n%s", g.exit, g.text)
	}
	for _, w := range []string{
		"⚠ Batch line not readable: data/" + path + " line 4\n",
		"⚠ Batch line not readable: data/" + path + " line 5\n",
		"⚠ Batch line not readable: data/" + path + " line 6\n",
		"⚠ Batch line not readable: data/" + path + " line 7\n",
		"⚠ Batch line not readable: data/" + path + " line 8\n",
		"⚠ Batch line not readable: data/" + path + " line 9\n",
		"⚠ Batch line not readable: data/" + path + " line 10\n",
		warnPrefix + "agent web-edge-01, batch u#11: last line, unterminated\n",
	} {
		if !strings.Contains(g.text, w) {
			t.Fatalf("Go verifier: no %q in\n%s", w, g.text)
		}
	}
	script := packtest.VerifyPy(t)
	for _, backend := range backends {
		if p := runPy(t, script, backend, out, fp); p.exit != 0 || p.text != g.text {
			t.Fatalf("verify.py (%s): exit %d\n%s\nGo:\n%s", backend, p.exit, p.text, g.text)
		}
	}
}

// refile replaces data file path with body and updates the manifest (the
// file's digest and record count, inputs_hash) and its signature by k, as
// a forger holding the key would.
func refile(t *testing.T, ms []member, path string, body []byte, k ed25519.PrivateKey) {
	t.Helper()
	f := find(t, ms, "data/"+path)
	f.Body, f.Hdr.Size = body, int64(len(body))
	lines := strings.Count(string(body), "\n")
	if len(body) > 0 && body[len(body)-1] != '\n' {
		lines++
	}
	editManifest(t, ms, func(m map[string]any) {
		h := sha256.New()
		for _, e := range m["files"].([]any) {
			e := e.(map[string]any)
			if e["path"] == path {
				e["sha256"], e["record_count"] = pack.SHA256Hex(body), lines
			}
			h.Write([]byte(e["sha256"].(string)))
		}
		m["inputs_hash"] = "sha256:" + hex.EncodeToString(h.Sum(nil))
	})
	resign(t, ms, k)
}

func goWarnings(t *testing.T, path string) []string {
	t.Helper()
	r, err := verify.VerifyPath(path, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return warningsOf(t, js)
}

func pyWarnings(t *testing.T, script, backend, path string) []string {
	t.Helper()
	_, js, _ := packtest.RunPy(t, backend, script, path, "--json")
	return warningsOf(t, []byte(js))
}

func warningsOf(t *testing.T, js []byte) []string {
	t.Helper()
	var doc struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("json report: %v\n%s", err, js)
	}
	return doc.Warnings
}

// TestMarchPack: the pack of packtest.March, whose data files are the
// golden ones of internal/pack/testdata/period (one case of every rule of
// what goes in, a quarantined batch of each kind among them), passes both
// verifiers, from the archive and from a directory, with the same lines:
// the seven, then a warning for each quarantined batch.
func TestMarchPack(t *testing.T) {
	meta, signer, data := packtest.March()
	var out bytes.Buffer
	if _, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
		t.Fatal(err)
	}
	archive := writeTemp(t, "pack.tar.gz", out.Bytes())
	dir := t.TempDir()
	extract(t, out.Bytes(), dir)
	fp := pack.Fingerprint(signer.Pub())
	want := "✓ Signature valid (Ed25519)\n" +
		"✓ Signing key matches expected fingerprint: " + fp + "\n" +
		"✓ All 8 files intact (SHA256 match)\n" +
		"✓ inputs_hash consistent\n" +
		"✓ Signing key active at generated_at (key lineage)\n" +
		"✓ Period: 2026-03-01 → 2026-03-31\n" +
		"✓ Tenant: acme\n" +
		warnPrefix + "agent ag_legacy, batch u#b113f669db0e79aa778ecc5d58c12b57ceb5e7c56ebcb016181ff876f99caec8: record 0: number 1e400 is outside the IEEE 754 double range at byte 50\n" +
		warnPrefix + "agent ag_signed, batch s#1772323200000000007: record 1: duplicate member name \"v\" at byte 96\n"
	script := packtest.VerifyPy(t)
	for _, path := range []string{archive, dir} {
		if g := runGo(t, path, fp); g.exit != 0 || g.text != want {
			t.Fatalf("Go verifier on %s: exit %d\n%s\nwant\n%s", path, g.exit, g.text, want)
		}
		for _, backend := range backends {
			if p := runPy(t, script, backend, path, fp); p.exit != 0 || p.text != want {
				t.Fatalf("verify.py (%s) on %s: exit %d\n%s\nwant\n%s", backend, path, p.exit, p.text, want)
			}
		}
	}
}
