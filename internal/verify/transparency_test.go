package verify_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/verify"
)

var updateTlogVectors = flag.Bool("update-tlog-vectors", false, "rewrite testdata/transparency/vectors.json")

const vectorsFile = "testdata/transparency/vectors.json"

// vector is one case both verifiers run (verify.py through
// internal/pack/transparency_test.py): the options, what the pack holds,
// and the lines and outcome expected.
type vector struct {
	Name        string     `json:"name"`
	LogKey      string     `json:"log_key"`
	WitnessKeys []string   `json:"witness_keys"`
	Quorum      int        `json:"quorum"`
	Pack        vecPack    `json:"pack"`
	PackProof   *string    `json:"pack_proof"`
	PinsProofs  *string    `json:"pins_proofs"`
	KeyHistory  []vecEntry `json:"key_history"`
	OK          bool       `json:"ok"`
	Lines       []string   `json:"lines"`
	Codes       []string   `json:"codes"`
}

type vecPack struct {
	PackID         string `json:"pack_id"`
	TenantID       string `json:"tenant_id"`
	GeneratedAt    string `json:"generated_at"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

type vecEntry struct {
	Type        string `json:"type"`
	AgentID     string `json:"agent_id"`
	Fingerprint string `json:"fingerprint"`
	At          string `json:"at"`
}

// fixedWitness cosigns at a fixed time, so that vectors are reproducible
// (litewitness cosigns at the time of day). Its output is checked against
// torchwood's cosignature verifier below.
type fixedWitness struct {
	name string
	key  ed25519.PrivateKey
	at   time.Time
}

func (w fixedWitness) vkey(t testing.TB) string {
	s, err := torchwood.NewCosignatureSigner(w.name, w.key)
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier().String()
}

func (w fixedWitness) line(text []byte) string {
	pub := w.key.Public().(ed25519.PublicKey)
	hash := tlog.KeyHash(w.name, append([]byte{tlog.AlgCosignature}, pub...))
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", w.at.Unix(), text)
	sig := binary.BigEndian.AppendUint32(nil, hash)
	sig = binary.BigEndian.AppendUint64(sig, uint64(w.at.Unix()))
	sig = append(sig, ed25519.Sign(w.key, []byte(msg))...)
	return "— " + w.name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

type fixedCosigner []fixedWitness

func (c fixedCosigner) Cosign(_ context.Context, signed []byte, _ tlog.ProveFunc) ([]byte, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	out := bytes.Clone(signed)
	for _, w := range c {
		out = append(out, w.line(signed[:i+1])...)
	}
	return out, nil
}

func (c fixedCosigner) Quorum(signed []byte) error {
	if bytes.Count(signed, []byte("\n— ")) < 1+len(c) {
		return tlog.ErrNotCosigned
	}
	return nil
}

const (
	vecOrigin = "hub.example.com/monsys"
	vecFP1    = "4a:b3:c2:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc"
	vecFP2    = "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"
	vecGenAt  = "2026-05-01T08:03:14Z"
)

var vecFirst = time.Date(2026, 5, 1, 8, 3, 20, 0, time.UTC)

// buildVectors logs a history with the real log (in memory), cosigned by
// two fixed witnesses, and derives each case from its proofs.
func buildVectors(t testing.TB) []vector {
	ctx := context.Background()
	ws := fixedCosigner{
		{"witness1.example", tlogtest.NewKey(11).Priv, vecFirst},
		{"witness2.example", tlogtest.NewKey(12).Priv, vecFirst.Add(5 * time.Second)},
	}
	clock := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	l, err := tlog.New(tlog.Config{Origin: vecOrigin, Now: now}, tlogtest.NewMemory().Stores(), tlogtest.NewKey(1), ws)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	pins := []tlog.Entry{
		tlog.Pin("acme", "ag_web", vecFP1, at("2026-03-02T10:00:00Z")),
		tlog.Unpin("acme", "ag_web", vecFP1, at("2026-04-10T09:30:00Z")),
		tlog.Pin("acme", "ag_web", vecFP2, at("2026-04-10T09:31:07Z")),
		tlog.Pin("acme", "ag_db", vecFP2, at("2026-03-05T12:00:00Z")),
	}
	sum1, sum2 := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	pack := tlog.Pack("acme", "pk_april", sum1, vecGenAt)
	other := tlog.Pack("acme", "pk_march", sum2, "2026-04-01T08:00:00Z")
	sum3, sum4 := strings.Repeat("c3", 32), strings.Repeat("d4", 32)
	edge := tlog.Pack("acme", "pk_edge", sum3, vecFirst.Format(time.RFC3339))
	late := tlog.Pack("acme", "pk_late", sum4, vecFirst.Add(time.Second).Format(time.RFC3339))
	for _, batch := range [][]tlog.Entry{tlogtest.TestEntries("globex", 0, 40), pins, tlogtest.TestEntries("globex", 40, 300), {other, pack, edge, late}} {
		if _, err := l.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	proofs, cp := proofsOf(t, l, append([]tlog.Entry{pack, other, edge, late}, pins...))
	// The fixed witnesses sign what torchwood verifies.
	for _, w := range ws {
		v, err := torchwood.NewCosignatureVerifier(w.vkey(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
			t.Fatalf("fixed witness %s: %v", w.name, err)
		}
	}
	logVKey := l.VerifierKey()
	wrongLog, _ := tlog.VerifierKey(vecOrigin, tlogtest.NewKey(2).Priv.Public().(ed25519.PublicKey))
	w1, w2 := ws[0].vkey(t), ws[1].vkey(t)
	w3 := fixedWitness{"witness3.example", tlogtest.NewKey(13).Priv, vecFirst}.vkey(t)
	wrongW2 := fixedWitness{"witness2.example", tlogtest.NewKey(14).Priv, vecFirst}.vkey(t)

	packProof := string(proofs[0])
	pinsProofs := string(tlog.JoinProofs(proofs[4:]))
	history := make([]vecEntry, len(pins))
	for i, e := range pins {
		history[i] = vecEntry{e.Type, e.AgentID, e.Fingerprint, e.At}
	}
	// Derived proofs.
	w2Line := ws[1].line(cp[:bytes.LastIndex(cp, []byte("\n\n"))+1])
	withoutW2 := func(s string) string { return strings.ReplaceAll(s, w2Line, "") }
	headerEnd := strings.Index(packProof, "\nindex ")
	hashLine := strings.Index(packProof[headerEnd+1:], "\n") + headerEnd + 2
	tamperedProof := packProof[:hashLine] + flip(packProof[hashLine]) + packProof[hashLine+1:]
	cpText := strings.Index(packProof, "\n\n"+vecOrigin+"\n") + len(vecOrigin) + 3
	rootAt := strings.Index(packProof[cpText:], "\n") + cpText + 1
	tamperedCheckpoint := packProof[:rootAt] + flip(packProof[rootAt]) + packProof[rootAt+1:]
	// A pin whose proof is against another (older) checkpoint.
	strs := func(ss ...string) *string { s := strings.Join(ss, ""); return &s }

	good := vecPack{"pk_april", "acme", vecGenAt, sum1}
	base := vector{LogKey: logVKey, WitnessKeys: []string{w1, w2}, Pack: good, PackProof: &packProof, PinsProofs: &pinsProofs, KeyHistory: history}
	with := func(name string, f func(v *vector)) vector {
		v := base
		v.Name = name
		v.WitnessKeys = append([]string(nil), base.WitnessKeys...)
		v.KeyHistory = append([]vecEntry(nil), base.KeyHistory...)
		f(&v)
		return v
	}
	return []vector{
		with("ok/valid", func(v *vector) {}),
		with("ok/quorum-1-of-2-one-cosignature", func(v *vector) {
			v.Quorum = 1
			v.PackProof, v.PinsProofs = strs(withoutW2(packProof)), strs(withoutW2(pinsProofs))
		}),
		with("ok/no-key-history", func(v *vector) { v.PinsProofs, v.KeyHistory = nil, nil }),
		with("ok/generated-at-equals-first-cosignature", func(v *vector) {
			v.Pack = vecPack{"pk_edge", "acme", vecFirst.Format(time.RFC3339), sum3}
			v.PackProof = strs(string(proofs[2]))
		}),
		with("fail/wrong-log-key", func(v *vector) { v.LogKey = wrongLog }),
		with("fail/wrong-witness-key", func(v *vector) { v.WitnessKeys[1] = wrongW2 }),
		with("fail/missing-witness-cosignature", func(v *vector) {
			v.PackProof, v.PinsProofs = strs(withoutW2(packProof)), strs(withoutW2(pinsProofs))
		}),
		with("fail/too-few-cosignatures", func(v *vector) { v.WitnessKeys = append(v.WitnessKeys, w3) }),
		with("fail/no-witness-key", func(v *vector) { v.WitnessKeys = nil }),
		with("fail/proof-for-another-entry", func(v *vector) { v.PackProof = strs(string(proofs[1])) }),
		with("fail/manifest-differs", func(v *vector) { v.Pack.ManifestSHA256 = sum2 }),
		with("fail/tampered-proof", func(v *vector) { v.PackProof = &tamperedProof }),
		with("fail/tampered-checkpoint", func(v *vector) { v.PackProof = &tamperedCheckpoint }),
		with("fail/timestamp-after", func(v *vector) {
			v.Pack = vecPack{"pk_late", "acme", vecFirst.Add(time.Second).Format(time.RFC3339), sum4}
			v.PackProof = strs(string(proofs[3]))
		}),
		with("fail/pack-proof-missing", func(v *vector) { v.PackProof = nil }),
		with("fail/pack-proof-malformed", func(v *vector) { v.PackProof = strs("c2sp.org/tlog-proof@v1\nindex 007\n\n" + string(cp)) }),
		with("fail/pin-not-in-log", func(v *vector) {
			v.KeyHistory = append(v.KeyHistory, vecEntry{tlog.TypeUnpin, "ag_db", vecFP2, "2026-04-20T00:00:00Z"})
		}),
		with("fail/pins-proofs-missing", func(v *vector) { v.PinsProofs = nil }),
		with("fail/pins-proof-other-checkpoint", func(v *vector) { v.PinsProofs = strs(withoutW2(pinsProofs)) }),
	}
}

// proofsOf returns the proofs of entries against the log's latest
// cosigned checkpoint, and that checkpoint.
func proofsOf(t testing.TB, l *tlog.Log, entries []tlog.Entry) ([][]byte, []byte) {
	t.Helper()
	var raw [][]byte
	for _, e := range entries {
		b, err := e.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	proofs, cp, err := l.Proofs(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return proofs, cp
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// want are the hand-written outcomes: ok, and the code of each problem.
var want = map[string][]string{
	"ok/valid":                                 {},
	"ok/quorum-1-of-2-one-cosignature":         {},
	"ok/no-key-history":                        {},
	"ok/generated-at-equals-first-cosignature": {},
	"fail/wrong-log-key":                       {"checkpoint_unsigned", "not_checked", "not_checked"},
	"fail/wrong-witness-key":                   {"quorum"},
	"fail/missing-witness-cosignature":         {"quorum"},
	"fail/too-few-cosignatures":                {"quorum"},
	"fail/no-witness-key":                      {"no_witness_key"},
	"fail/proof-for-another-entry":             {"entry_mismatch"},
	"fail/manifest-differs":                    {"entry_mismatch"},
	"fail/tampered-proof":                      {"inclusion_invalid"},
	"fail/tampered-checkpoint":                 {"checkpoint_signature_invalid", "not_checked", "not_checked"},
	"fail/timestamp-after":                     {"backdated"},
	"fail/pack-proof-missing":                  {"transparency_missing", "not_checked", "not_checked"},
	"fail/pack-proof-malformed":                {"transparency_malformed", "not_checked", "not_checked"},
	"fail/pin-not-in-log":                      {"not_logged"},
	"fail/pins-proofs-missing":                 {"transparency_missing"},
	"fail/pins-proof-other-checkpoint":         {"checkpoint_differs", "checkpoint_differs", "checkpoint_differs", "checkpoint_differs", "not_logged", "not_logged", "not_logged", "not_logged"},
}

func runVector(t testing.TB, v vector) (bool, []string, []string) {
	keys, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: v.LogKey, WitnessKeys: v.WitnessKeys, Quorum: v.Quorum})
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	in := verify.TransparencyInput{PackID: v.Pack.PackID, TenantID: v.Pack.TenantID, GeneratedAt: v.Pack.GeneratedAt, ManifestSHA256: v.Pack.ManifestSHA256}
	if v.PackProof != nil {
		in.PackProof = []byte(*v.PackProof)
	}
	if v.PinsProofs != nil {
		in.PinsProofs = []byte(*v.PinsProofs)
	}
	for _, e := range v.KeyHistory {
		in.KeyHistory = append(in.KeyHistory, tlog.Entry{Type: e.Type, TenantID: v.Pack.TenantID, AgentID: e.AgentID, Fingerprint: e.Fingerprint, At: e.At})
	}
	ok := true
	var lines, codes []string
	for _, ch := range verify.CheckTransparency(in, keys) {
		ok = ok && ch.OK
		lines = append(lines, ch.Lines...)
		for _, p := range ch.Problems {
			codes = append(codes, p.Code)
		}
	}
	return ok, lines, codes
}

// TestTransparencyVectors runs the Go checks on the vectors; the file must
// be what buildVectors makes (go test -run TransparencyVectors
// -update-tlog-vectors rewrites it).
func TestTransparencyVectors(t *testing.T) {
	vs := buildVectors(t)
	for i := range vs {
		v := &vs[i]
		v.OK, v.Lines, v.Codes = runVector(t, *v)
		if v.Codes == nil {
			v.Codes = []string{}
		}
		t.Run(v.Name, func(t *testing.T) {
			w, ok := want[v.Name]
			if !ok {
				t.Fatal("no expected outcome written down")
			}
			if strings.Join(v.Codes, ",") != strings.Join(w, ",") || v.OK != (len(w) == 0) {
				t.Fatalf("ok %v, problems %v; want %v\n%s", v.OK, v.Codes, w, strings.Join(v.Lines, "\n"))
			}
		})
	}
	out, err := json.MarshalIndent(map[string]any{"vectors": vs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *updateTlogVectors {
		if err := os.WriteFile(vectorsFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsFile)
	if err != nil || !bytes.Equal(got, out) {
		t.Fatalf("%s is stale or missing (%v): go test ./internal/verify -run TransparencyVectors -update-tlog-vectors", vectorsFile, err)
	}
}

func TestTransparencyOptions(t *testing.T) {
	logVKey, _ := tlog.VerifierKey(vecOrigin, tlogtest.NewKey(1).Priv.Public().(ed25519.PublicKey))
	w1 := fixedWitness{"witness1.example", tlogtest.NewKey(11).Priv, vecFirst}.vkey(t)
	small, _ := note.NewEd25519VerifierKey(vecOrigin, make([]byte, 32)) // the identity point: small order
	for _, tc := range []struct {
		name string
		o    verify.TransparencyOptions
	}{
		{"fail/log-key-garbage", verify.TransparencyOptions{LogKey: "nope", WitnessKeys: []string{w1}}},
		{"fail/log-key-is-a-witness-key", verify.TransparencyOptions{LogKey: w1, WitnessKeys: []string{w1}}},
		{"fail/witness-key-is-a-log-key", verify.TransparencyOptions{LogKey: logVKey, WitnessKeys: []string{logVKey}}},
		{"fail/small-order-log-key", verify.TransparencyOptions{LogKey: small, WitnessKeys: []string{w1}}},
		{"fail/witness-twice", verify.TransparencyOptions{LogKey: logVKey, WitnessKeys: []string{w1, w1}}},
		{"fail/quorum-too-big", verify.TransparencyOptions{LogKey: logVKey, WitnessKeys: []string{w1}, Quorum: 2}},
		{"fail/quorum-negative", verify.TransparencyOptions{LogKey: logVKey, WitnessKeys: []string{w1}, Quorum: -1}},
		{"fail/key-hash-wrong", verify.TransparencyOptions{LogKey: strings.Replace(logVKey, "+", "+0", 1)[:len(logVKey)], WitnessKeys: []string{w1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verify.ParseTransparencyOptions(tc.o); !errors.Is(err, verify.ErrUsage) {
				t.Fatalf("ParseTransparencyOptions = %v, want ErrUsage", err)
			}
		})
	}
	if _, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: logVKey, WitnessKeys: []string{w1}}); err != nil {
		t.Fatalf("ok/valid: %v", err)
	}
}

func TestKeyHistoryEntries(t *testing.T) {
	agents := `{"agent_id":"ag_a","signing_keys":[{"public_key":"x","fingerprint":"` + vecFP1 + `","pinned_at":"2026-03-01T00:00:00Z","unpinned_at":"2026-04-01T00:00:00Z"},{"public_key":"y","fingerprint":"` + vecFP2 + `","pinned_at":"2026-04-01T00:00:01Z","unpinned_at":null}]}
{"agent_id":"ag_legacy","signing_keys":[]}
`
	es, err := verify.KeyHistoryEntries("acme", []byte(agents))
	if err != nil || len(es) != 3 || es[0].Type != "pin" || es[1].Type != "unpin" || es[1].At != "2026-04-01T00:00:00Z" || es[2].Fingerprint != vecFP2 {
		t.Fatalf("KeyHistoryEntries = %+v, %v", es, err)
	}
	if _, err := verify.KeyHistoryEntries("acme", []byte("{")); err == nil {
		t.Fatal("fail/not-json: no error")
	}
}
