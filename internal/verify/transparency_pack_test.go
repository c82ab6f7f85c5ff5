package verify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/verify"
)

// logged is March's golden pack (packtest.March) and a log that holds its
// key history and its entry, cosigned by two fixed witnesses a few seconds
// after generated_at, with the proofs of each entry against one cosigned
// checkpoint.
type logged struct {
	members []member // the pack, without transparency/
	late    []member // the same pack generated an hour later (after the cosignatures)
	// March's pack with, in data/agents.ndjson, a key slipped into
	// ag_signed's history (not in the log), and with a key history that is
	// not one; both re-signed, their manifests logged.
	slipped, unreadable []member
	slippedFP           string
	logKey              string
	w1, w2              string // the witnesses' verifier keys
	w2Line              string // w2's cosignature line in every checkpoint

	packProof, lateProof   string // of the pack's entry, of the late pack's
	slippedProof, badProof string // of the slipped and unreadable packs' entries
	otherProof, rebuilt    string // another pack's entry; this pack_id with another manifest
	pinsProofs             string // every pin and unpin of the key history
	pinsProofsButLast      string // without the last pin's proof
	history                []tlog.Entry
	firstCosign, generated time.Time
}

func buildLogged(t *testing.T) *logged {
	t.Helper()
	ctx := context.Background()
	meta, signer, data := packtest.March()
	build := func(m pack.Meta) []member {
		var out bytes.Buffer
		if _, err := pack.Build(ctx, m, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
			t.Fatal(err)
		}
		ms, err := packtest.Unpack(out.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	lg := &logged{members: build(meta), generated: meta.GeneratedAt, firstCosign: meta.GeneratedAt.Add(6 * time.Second)}
	lateMeta := meta
	lateMeta.GeneratedAt = meta.GeneratedAt.Add(time.Hour)
	lg.late = build(lateMeta)
	agents := string(find(t, lg.members, pack.DataDir+pack.AgentsPath).Body)
	slipPub := pubOf(packtest.Key(9))
	lg.slippedFP = pack.Fingerprint(slipPub)
	slipped := `"signing_keys":[{"fingerprint":"` + lg.slippedFP + `","pinned_at":"2026-01-01T00:00:00Z","public_key":"` +
		base64.StdEncoding.EncodeToString(slipPub) + `","unpinned_at":"2026-01-30T00:00:00Z"},{`
	lg.slipped = withAgents(t, lg.members, strings.Replace(agents, `"signing_keys":[{`, slipped, 1))
	lg.unreadable = withAgents(t, lg.members, strings.Replace(agents, `"signing_keys":[]`, `"signing_keys":{}`, 1))

	body := func(ms []member, name string) []byte {
		for _, m := range ms {
			if m.Hdr.Name == name {
				return m.Body
			}
		}
		t.Fatalf("no member %q", name)
		return nil
	}
	history, err := verify.KeyHistoryEntries(meta.TenantID, body(lg.members, pack.DataDir+pack.AgentsPath))
	if err != nil || len(history) != 3 {
		t.Fatalf("March's key history: %v, %v", history, err)
	}
	lg.history = history
	gen := func(m pack.Meta) string { return m.GeneratedAt.UTC().Format(time.RFC3339) }
	sum := pack.SHA256Hex(body(lg.members, pack.ManifestName))
	entries := []tlog.Entry{
		tlog.Pack(meta.TenantID, meta.PackID, sum, gen(meta)),
		tlog.Pack(meta.TenantID, meta.PackID, pack.SHA256Hex(body(lg.late, pack.ManifestName)), gen(lateMeta)),
		tlog.Pack(meta.TenantID, "pk_other", strings.Repeat("0c", 32), gen(meta)),
		tlog.Pack(meta.TenantID, meta.PackID, strings.Repeat("ab", 32), gen(meta)),
		tlog.Pack(meta.TenantID, meta.PackID, pack.SHA256Hex(body(lg.slipped, pack.ManifestName)), gen(meta)),
		tlog.Pack(meta.TenantID, meta.PackID, pack.SHA256Hex(body(lg.unreadable, pack.ManifestName)), gen(meta)),
	}

	ws := fixedCosigner{
		{"witness1.example", tlogtest.NewKey(11).Priv, lg.firstCosign},
		{"witness2.example", tlogtest.NewKey(12).Priv, lg.firstCosign.Add(5 * time.Second)},
	}
	clock := meta.GeneratedAt
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	l, err := tlog.New(tlog.Config{Origin: vecOrigin, Now: now}, tlogtest.NewMemory().Stores(), tlogtest.NewKey(1), ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]tlog.Entry{tlogtest.TestEntries("globex", 0, 40), history, tlogtest.TestEntries("globex", 40, 300), entries} {
		if _, err := l.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	proofs, cp := proofsOf(t, l, append(entries, history...))
	lg.logKey = l.VerifierKey()
	lg.w1, lg.w2 = ws[0].vkey(t), ws[1].vkey(t)
	lg.w2Line = ws[1].line(cp[:bytes.LastIndex(cp, []byte("\n\n"))+1])
	lg.packProof, lg.lateProof, lg.otherProof, lg.rebuilt = string(proofs[0]), string(proofs[1]), string(proofs[2]), string(proofs[3])
	lg.slippedProof, lg.badProof = string(proofs[4]), string(proofs[5])
	lg.pinsProofs = string(tlog.JoinProofs(proofs[6:]))
	lg.pinsProofsButLast = string(tlog.JoinProofs(proofs[6:8]))
	return lg
}

// withAgents returns a copy of ms whose data/agents.ndjson is agents, with
// the manifest made to match and signed again with March's key.
func withAgents(t *testing.T, ms []member, agents string) []member {
	t.Helper()
	out := slices.Clone(ms)
	find(t, out, pack.DataDir+pack.AgentsPath).Body = []byte(agents)
	editManifest(t, out, func(m map[string]any) {
		var files []pack.FileEntry
		for _, f := range m["files"].([]any) {
			f := f.(map[string]any)
			if f["path"] == pack.AgentsPath {
				f["sha256"] = pack.SHA256Hex([]byte(agents))
				f["record_count"] = strings.Count(agents, "\n")
			}
			files = append(files, pack.FileEntry{SHA256: f["sha256"].(string)})
		}
		m["inputs_hash"] = pack.InputsHash(files)
	})
	resign(t, out, packtest.Key(3))
	return out
}

// withProofs returns a copy of ms with the transparency/ members set (a nil
// proof is left out).
func withProofs(ms []member, packProof, pinsProofs *string) []member {
	out := slices.Clone(ms)
	if packProof != nil {
		out = append(out, regular(verify.PackProofName, []byte(*packProof)))
	}
	if pinsProofs != nil {
		out = append(out, regular(verify.PinsProofsName, []byte(*pinsProofs)))
	}
	return out
}

// transparencyCase is one row of the table both verifiers run on a whole
// pack: the options as the command lines take them, the pack, and the
// lines expected.
type transparencyCase struct {
	name      string
	logKey    string
	witnesses []string
	quorum    int
	pack      []member
	dir       bool     // also check the extracted pack
	lines     []string // the transparency lines, in order
}

func (c transparencyCase) args(target string) []string {
	args := []string{target, "--log-key", c.logKey}
	for _, w := range c.witnesses {
		args = append(args, "--witness-key", w)
	}
	if c.quorum != 0 {
		args = append(args, "--witness-quorum", strconv.Itoa(c.quorum))
	}
	return args
}

// flipAfter changes the first base64 character after marker (and the newline
// that follows it) in s.
func flipAfter(t testing.TB, s, marker string) string {
	t.Helper()
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("no %q in proof", marker)
	}
	i += len(marker)
	return s[:i] + flip(s[i]) + s[i+1:]
}

func transparencyCases(t *testing.T, lg *logged) []transparencyCase {
	s := func(v string) *string { return &v }
	wrongLog, err := tlog.VerifierKey(vecOrigin, tlogtest.NewKey(2).Priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	w3 := fixedWitness{"witness3.example", tlogtest.NewKey(13).Priv, lg.firstCosign}.vkey(t)
	wrongW2 := fixedWitness{"witness2.example", tlogtest.NewKey(14).Priv, lg.firstCosign}.vkey(t)
	without := func(p string) *string { return s(strings.ReplaceAll(p, lg.w2Line, "")) }
	good := withProofs(lg.members, &lg.packProof, &lg.pinsProofs)
	keys := []string{lg.w1, lg.w2}
	first := lg.firstCosign.UTC().Format(time.RFC3339)
	logged := "✓ Logged in " + vecOrigin + " at index 343 (tree size 349)"
	cosigned := "✓ Cosigned by 2 of 2 witnesses (quorum 2), first at " + first
	history := "✓ Key history in the log (2 pins, 1 unpin)"
	// The checkpoint's root hash is its third line; the proof's first hash
	// follows the index line.
	tamperedProof := flipAfter(t, lg.packProof, "\nindex 343\n")
	tamperedCheckpoint := flipAfter(t, lg.packProof, "\n"+vecOrigin+"\n349\n")
	return []transparencyCase{
		{"ok/genuine", lg.logKey, keys, 0, good, true, []string{logged, cosigned, history}},
		{"ok/quorum-1-of-2", lg.logKey, keys, 1, withProofs(lg.members, without(lg.packProof), without(lg.pinsProofs)), false,
			[]string{logged, "✓ Cosigned by 1 of 2 witnesses (quorum 1), first at " + first, history}},
		{"fail/wrong-log-key", wrongLog, keys, 0, good, false, []string{
			"✗ Checkpoint not signed by the log key " + vecOrigin,
			"✗ Cosignatures not checked: the checkpoint did not verify",
			"✗ Key history not checked: the checkpoint did not verify"}},
		{"fail/wrong-witness-key", lg.logKey, []string{lg.w1, wrongW2}, 0, good, false, []string{logged,
			"✗ Cosigned by 1 of 2 witnesses, quorum 2 not met (no cosignature from: witness2.example)", history}},
		{"fail/missing-witness-key", lg.logKey, nil, 0, good, false, []string{logged,
			"✗ No witness key given: cosignatures not checked", history}},
		{"fail/too-few-cosignatures", lg.logKey, []string{lg.w1, lg.w2, w3}, 3, good, false, []string{logged,
			"✗ Cosigned by 2 of 3 witnesses, quorum 3 not met (no cosignature from: witness3.example)", history}},
		{"fail/proof-for-another-entry", lg.logKey, keys, 0, withProofs(lg.members, &lg.otherProof, &lg.pinsProofs), false, []string{
			"✗ Logged entry is not this pack's: pack_id, manifest_sha256 differ", cosigned, history}},
		{"fail/tampered-proof", lg.logKey, keys, 0, withProofs(lg.members, &tamperedProof, &lg.pinsProofs), true, []string{
			"✗ Inclusion proof invalid: transparency/pack.tlog-proof (index 343, tree size 349)", cosigned, history}},
		{"fail/tampered-checkpoint", lg.logKey, keys, 0, withProofs(lg.members, &tamperedCheckpoint, &lg.pinsProofs), false, []string{
			"✗ Checkpoint signature invalid: " + vecOrigin,
			"✗ Cosignatures not checked: the checkpoint did not verify",
			"✗ Key history not checked: the checkpoint did not verify"}},
		{"fail/manifest-differs-from-logged", lg.logKey, keys, 0, withProofs(lg.members, &lg.rebuilt, &lg.pinsProofs), false, []string{
			"✗ Logged entry is not this pack's: manifest_sha256 differs", cosigned, history}},
		{"fail/pin-not-in-log", lg.logKey, keys, 0, withProofs(lg.members, &lg.packProof, &lg.pinsProofsButLast), true, []string{logged, cosigned,
			fmt.Sprintf("✗ Key history not in the log: pin of %s for %s at %s", lg.history[2].Fingerprint, lg.history[2].AgentID, lg.history[2].At)}},
		{"fail/key-slipped-into-history", lg.logKey, keys, 0, withProofs(lg.slipped, &lg.slippedProof, &lg.pinsProofs), true, []string{
			"✓ Logged in " + vecOrigin + " at index 347 (tree size 349)", cosigned,
			"✗ Key history not in the log: pin of " + lg.slippedFP + " for ag_signed at 2026-01-01T00:00:00Z",
			"✗ Key history not in the log: unpin of " + lg.slippedFP + " for ag_signed at 2026-01-30T00:00:00Z"}},
		{"fail/key-history-unreadable", lg.logKey, keys, 0, withProofs(lg.unreadable, &lg.badProof, &lg.pinsProofs), false, []string{
			"✓ Logged in " + vecOrigin + " at index 348 (tree size 349)", cosigned,
			"✗ Key history unreadable: data/agents.ndjson"}},
		{"fail/generated-after-first-cosignature", lg.logKey, keys, 0, withProofs(lg.late, &lg.lateProof, &lg.pinsProofs), false, []string{
			"✓ Logged in " + vecOrigin + " at index 344 (tree size 349)",
			"✗ generated_at " + lg.generated.Add(time.Hour).UTC().Format(time.RFC3339) + " is later than the first cosignature, " + first, history}},
		{"fail/no-transparency-folder", lg.logKey, keys, 0, lg.members, true, []string{
			"✗ Transparency proof missing: transparency/pack.tlog-proof",
			"✗ Cosignatures not checked: the checkpoint did not verify",
			"✗ Key history not checked: the checkpoint did not verify"}},
		{"fail/pins-proofs-missing", lg.logKey, keys, 0, withProofs(lg.members, &lg.packProof, nil), false, []string{logged, cosigned,
			"✗ Transparency proofs missing: transparency/pins.tlog-proofs"}},
	}
}

// TestTransparencyPacks runs the table on whole packs with both verifiers
// (verify.py with and without `cryptography`): the same lines, in SPEC 8.1's
// place after the seven lines, the same exit status; each failing case has
// its own ✗ line.
func TestTransparencyPacks(t *testing.T) {
	lg := buildLogged(t)
	script := packtest.VerifyPy(t)
	cases := transparencyCases(t, lg)
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: tc.logKey, WitnessKeys: tc.witnesses, Quorum: tc.quorum})
			if err != nil {
				t.Fatal(err)
			}
			targets := []string{writeTemp(t, "evidence.tar.gz", repack(t, tc.pack))}
			if tc.dir {
				dir := t.TempDir()
				extract(t, repack(t, tc.pack), dir)
				targets = append(targets, dir)
			}
			for _, target := range targets {
				r, err := verify.VerifyPath(target, verify.Options{Transparency: keys})
				if err != nil {
					t.Fatal(err)
				}
				text := r.Text()
				lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
				if !strings.HasPrefix(lines[0], "✓ Signature valid") || lines[6] != "✓ Tenant: acme" {
					t.Fatalf("the seven lines first:\n%s", text)
				}
				wantOK := strings.HasPrefix(tc.name, "ok/")
				// March's two quarantined batches (⚠) come before.
				got := slices.DeleteFunc(lines[7:], func(l string) bool { return strings.HasPrefix(l, "⚠ ") })
				if !wantOK {
					got = got[:len(got)-1] // "✗ Verification FAILED: …"
				}
				if r.OK != wantOK || !slices.Equal(got, tc.lines) {
					t.Fatalf("%s: ok %v, lines\n%s\nwant\n%s", target, r.OK, strings.Join(got, "\n"), strings.Join(tc.lines, "\n"))
				}
				for _, backend := range backends {
					exit, out, stderr := packtest.RunPy(t, backend, script, tc.args(target)...)
					if exit != map[bool]int{true: 0, false: 1}[wantOK] || out != text {
						t.Fatalf("verify.py (%s) on %s: exit %d\n%s%s--- Go\n%s", backend, target, exit, out, stderr, text)
					}
				}
			}
			for _, l := range tc.lines {
				if strings.HasPrefix(l, "✗ ") && !strings.HasSuffix(l, "did not verify") {
					if other, dup := seen[l]; dup {
						t.Fatalf("✗ line shared with %s: %s", other, l)
					}
					seen[l] = tc.name
				}
			}
		})
	}
}

// TestTransparencyMembers: both readers (archive and directory, Go and
// Python) accept the two transparency/ members without counting them
// against the manifest, and refuse anything else in that folder as any
// unexpected member.
func TestTransparencyMembers(t *testing.T) {
	lg := buildLogged(t)
	script := packtest.VerifyPy(t)
	good := withProofs(lg.members, &lg.packProof, &lg.pinsProofs)
	dirEntry := member{Hdr: tar.Header{Typeflag: tar.TypeDir, Name: "transparency/", Mode: 0o755, ModTime: packtest.GeneratedAt}}
	tests := []struct {
		name  string
		ms    []member
		codes []string
		dir   bool // also check the extracted pack
	}{
		{"ok/proofs", good, nil, true},
		{"ok/proofs-and-folder-entry", append([]member{dirEntry}, good...), nil, false},
		{"ok/pack-proof-only", withProofs(lg.members, &lg.packProof, nil), nil, false},
		{"fail/other-file", append(slices.Clone(good), regular("transparency/checkpoint", []byte("x"))), []string{"unexpected_member"}, true},
		{"fail/nested", append(slices.Clone(good), regular("transparency/old/pack.tlog-proof", []byte(lg.packProof))), []string{"unexpected_member"}, true},
		{"fail/at-the-root", append(slices.Clone(lg.members), regular("pack.tlog-proof", []byte(lg.packProof))), []string{"unexpected_member"}, false},
		{"fail/under-data", append(slices.Clone(lg.members), regular("data/transparency/pack.tlog-proof", []byte(lg.packProof))), []string{"file_unlisted"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := repack(t, tc.ms)
			targets := []string{writeTemp(t, "evidence.tar.gz", b)}
			if tc.dir {
				dir := t.TempDir()
				extract(t, b, dir)
				targets = append(targets, dir)
			}
			for _, target := range targets {
				g := runGo(t, target, "")
				want := 0
				if tc.codes != nil {
					want = 1
				}
				// (An extracted pack also shows the unexpected folder.)
				other := slices.ContainsFunc(g.codes, func(c string) bool { return !slices.Contains(tc.codes, c) })
				if g.exit != want || other || len(g.codes) == 0 != (tc.codes == nil) {
					t.Fatalf("Go verifier on %s: exit %d, problems %v, want %v\n%s", target, g.exit, g.codes, tc.codes, g.text)
				}
				if want == 0 && !strings.Contains(g.text, "✓ All 8 files intact (SHA256 match)\n") {
					t.Fatalf("transparency/ counted as data:\n%s", g.text)
				}
				for _, backend := range backends {
					p := runPy(t, script, backend, target, "")
					if p.exit != g.exit || p.text != g.text || !slices.Equal(p.codes, g.codes) {
						t.Fatalf("verify.py (%s) disagrees on %s: exit %d\n%s--- Go\n%s", backend, target, p.exit, p.text, g.text)
					}
				}
			}
		})
	}
}
