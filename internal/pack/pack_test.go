package pack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

func date(y int, m time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, m, d, h, mi, s, 0, time.UTC)
}

func TestLabel(t *testing.T) {
	tests := []struct {
		name       string
		start, end time.Time
		want       string
	}{
		{"ok/month-inclusive", date(2026, 4, 1, 0, 0, 0), date(2026, 4, 30, 23, 59, 59), "april-2026"},
		{"ok/month-exclusive", date(2026, 4, 1, 0, 0, 0), date(2026, 5, 1, 0, 0, 0), "april-2026"},
		{"ok/month-nanos", date(2026, 2, 1, 0, 0, 0), date(2026, 3, 1, 0, 0, 0).Add(-time.Nanosecond), "february-2026"},
		{"ok/december", date(2025, 12, 1, 0, 0, 0), date(2025, 12, 31, 23, 59, 59), "december-2025"},
		{"ok/other-zone-same-instant", date(2026, 4, 1, 0, 0, 0).In(time.FixedZone("x", 7200)), date(2026, 4, 30, 23, 59, 59), "april-2026"},
		{"ok/partial-month", date(2026, 4, 2, 0, 0, 0), date(2026, 4, 30, 23, 59, 59), "2026-04-02_2026-04-30"},
		{"ok/two-months", date(2026, 4, 1, 0, 0, 0), date(2026, 5, 31, 23, 59, 59), "2026-04-01_2026-05-31"},
		{"ok/exclusive-midnight", date(2026, 4, 3, 0, 0, 0), date(2026, 4, 10, 0, 0, 0), "2026-04-03_2026-04-09"},
		{"ok/one-day", date(2026, 4, 3, 0, 0, 0), date(2026, 4, 3, 23, 59, 59), "2026-04-03_2026-04-03"},
		{"ok/month-start-not-midnight", date(2026, 4, 1, 1, 0, 0), date(2026, 4, 30, 23, 59, 59), "2026-04-01_2026-04-30"},
		{"ok/month-ends-early", date(2026, 4, 1, 0, 0, 0), date(2026, 4, 30, 23, 0, 0), "2026-04-01_2026-04-30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pack.Label(tt.start, tt.end); got != tt.want {
				t.Fatalf("Label = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileName(t *testing.T) {
	got, err := pack.FileName("acme-bv", packtest.PeriodStart, packtest.PeriodEnd)
	if err != nil || got != "evidence_acme-bv_april-2026.tar.gz" {
		t.Fatalf("FileName = %q, %v", got, err)
	}
	for _, bad := range []string{"", "../x", "a/b", "a b", "-x", strings.Repeat("a", 65)} {
		if _, err := pack.FileName(bad, packtest.PeriodStart, packtest.PeriodEnd); !errors.Is(err, pack.ErrInvalidMeta) {
			t.Errorf("fail/tenant-%q: err = %v", bad, err)
		}
	}
}

func TestFingerprintAndPEM(t *testing.T) {
	pub := packtest.Key(1).Public().(ed25519.PublicKey)
	fp := pack.Fingerprint(pub)
	sum := sha256.Sum256(pub)
	if strings.ReplaceAll(fp, ":", "") != hex.EncodeToString(sum[:]) || len(fp) != 95 {
		t.Fatalf("Fingerprint = %q", fp)
	}
	pem, err := pack.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	back, err := pack.ParsePublicKeyPEM(pem)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("ParsePublicKeyPEM = %x, %v", back, err)
	}
	for _, bad := range [][]byte{nil, []byte("junk"), append([]byte("x\n"), pem...), append(append([]byte{}, pem...), "extra"...)} {
		if _, err := pack.ParsePublicKeyPEM(bad); !errors.Is(err, pack.ErrPublicKey) {
			t.Errorf("fail/pem %q: err = %v", bad, err)
		}
	}
}

// entry is one tar member as read back.
type entry struct {
	hdr  *tar.Header
	body []byte
}

func readPack(t *testing.T, b []byte) []entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h, body})
	}
	return out
}

func TestBuildDeterministic(t *testing.T) {
	k := packtest.Key(1)
	a, resA, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Same data, records in reverse order, a tiny sort budget that forces
	// spilled runs and merges: the bytes must not change.
	rev := map[string][]any{}
	for p, recs := range packtest.Files() {
		for i := len(recs) - 1; i >= 0; i-- {
			rev[p] = append(rev[p], recs[i])
		}
		if rev[p] == nil {
			rev[p] = []any{}
		}
	}
	b, resB, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, rev, pack.Options{SortMemory: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("packs differ: %d vs %d bytes", len(a), len(b))
	}
	if resA.ManifestSHA256 != resB.ManifestSHA256 || resA.Size != int64(len(a)) {
		t.Fatalf("results differ: %+v vs %+v", resA, resB)
	}
	// Another generated_at changes the bytes.
	m := packtest.Meta(k)
	m.GeneratedAt = m.GeneratedAt.Add(time.Second)
	c, _, err := packtest.Build(m, packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("generated_at does not change the pack")
	}
}

func TestArchiveLayout(t *testing.T) {
	k := packtest.Key(1)
	b, res, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FileName != "evidence_acme-bv_april-2026.tar.gz" {
		t.Errorf("FileName = %q", res.FileName)
	}
	// gzip header: magic, deflate, no flags (no name, no comment), MTIME 0.
	if !bytes.Equal(b[:8], []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}) {
		t.Errorf("gzip header = % x", b[:10])
	}
	entries := readPack(t, b)
	wantOrder := []string{
		"manifest.json", "manifest.sig", "signing_key.pub", "key_lineage.json", "verify.py", "README.txt",
		"data/agents.ndjson", "data/agents/web-edge-01/inventory_snapshot.ndjson",
		"data/agents/web-edge-01/metric.ndjson", "data/alerts/anomalies.ndjson", "data/audit_log/audit_log.ndjson",
	}
	if len(entries) != len(wantOrder) {
		t.Fatalf("%d entries, want %d", len(entries), len(wantOrder))
	}
	byName := map[string][]byte{}
	for i, e := range entries {
		h := e.hdr
		if h.Name != wantOrder[i] {
			t.Errorf("entry %d = %q, want %q", i, h.Name, wantOrder[i])
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
			!h.ModTime.Equal(packtest.GeneratedAt) {
			t.Errorf("entry %q header = %+v", h.Name, h)
		}
		byName[h.Name] = e.body
	}
	man := byName["manifest.json"]
	if c, err := canon.Transform(man); err != nil || !bytes.Equal(c, man) {
		t.Fatalf("manifest.json is not canonical: %s", man)
	}
	if !bytes.Equal(man, res.ManifestJSON) {
		t.Fatal("manifest.json differs from Result.ManifestJSON")
	}
	var m pack.Manifest
	if err := json.Unmarshal(man, &m); err != nil {
		t.Fatal(err)
	}
	if m.FormatVersion != pack.FormatVersion || m.TenantID != "acme-bv" || m.PeriodStart != "2026-04-01T00:00:00Z" ||
		m.PeriodEnd != "2026-04-30T23:59:59Z" || m.GeneratedAt != "2026-05-01T08:03:14Z" || m.SigningKeyID != "sk_1" ||
		m.PreviousPack != nil || !strings.Contains(string(man), `"previous_pack":null`) {
		t.Errorf("manifest = %s", man)
	}
	if m.InputsHash != pack.InputsHash(m.Files) || m.KeyLineageSHA256 != pack.SHA256Hex(byName["key_lineage.json"]) {
		t.Error("inputs_hash or key_lineage_sha256 wrong")
	}
	for _, f := range m.Files {
		body := byName["data/"+f.Path]
		if pack.SHA256Hex(body) != f.SHA256 || int64(bytes.Count(body, []byte("\n"))) != f.RecordCount {
			t.Errorf("file %q: sha/count mismatch", f.Path)
		}
		lines := strings.SplitAfter(string(body), "\n")
		for i := 1; i < len(lines)-1; i++ {
			if lines[i-1] > lines[i] {
				t.Errorf("file %q: lines not sorted: %q > %q", f.Path, lines[i-1], lines[i])
			}
		}
		for _, l := range lines[:len(lines)-1] {
			if c, err := canon.Transform([]byte(strings.TrimSuffix(l, "\n"))); err != nil || string(c)+"\n" != l {
				t.Errorf("file %q: line not canonical: %q", f.Path, l)
			}
		}
	}
	sig, err := hex.DecodeString(string(byName["manifest.sig"]))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pack.ParsePublicKeyPEM(byName["signing_key.pub"])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(man)
	if !ed25519.Verify(pub, digest[:], sig) {
		t.Error("manifest.sig does not verify over SHA-256(manifest.json)")
	}
	if !bytes.Equal(byName["verify.py"], pack.VerifyScript()) || !strings.Contains(string(byName["README.txt"]), "python3 verify.py") {
		t.Error("verify.py or README.txt missing")
	}
	if res.Records != 8 {
		t.Errorf("Records = %d, want 8", res.Records)
	}
}

func TestExternalSort(t *testing.T) {
	k := packtest.Key(2)
	recs := make([]any, 3000)
	for i := range recs {
		recs[i] = map[string]any{"i": (i * 7919) % 3000, "pad": strings.Repeat("x", i%13)}
	}
	files := map[string][]any{"a.ndjson": recs, "b.ndjson": recs[:100]}
	mem, _, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, files, pack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spilled, res, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, files, pack.Options{SortMemory: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mem, spilled) || res.Records != 3100 {
		t.Fatalf("external sort changed the pack (records %d)", res.Records)
	}
}

type badSigner struct{}

func (badSigner) SignDigest(context.Context, []byte) ([]byte, error) { return make([]byte, 64), nil }

type failSigner struct{}

func (failSigner) SignDigest(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("kms down")
}

func TestBuilderRejects(t *testing.T) {
	k := packtest.Key(1)
	good := packtest.Meta(k)
	tests := []struct {
		name   string
		meta   func(m *pack.Meta)
		signer pack.Signer
		want   error
	}{
		{"fail/tenant", func(m *pack.Meta) { m.TenantID = "a/b" }, nil, pack.ErrInvalidMeta},
		{"fail/pack-id", func(m *pack.Meta) { m.PackID = "" }, nil, pack.ErrInvalidMeta},
		{"fail/key-id", func(m *pack.Meta) { m.SigningKeyID = "has space" }, nil, pack.ErrInvalidMeta},
		{"fail/period-reversed", func(m *pack.Meta) { m.PeriodEnd = m.PeriodStart.Add(-time.Hour) }, nil, pack.ErrInvalidMeta},
		{"fail/previous-pack", func(m *pack.Meta) { m.PreviousPack = &pack.PackRef{PackID: "p", ManifestSHA256: "xyz"} }, nil, pack.ErrInvalidMeta},
		{"fail/key-not-in-lineage", func(m *pack.Meta) { m.SigningKeyID = "sk_9" }, nil, pack.ErrLineage},
		{"fail/key-not-pub", func(m *pack.Meta) { m.PublicKey = packtest.Key(9).Public().(ed25519.PublicKey) }, nil, pack.ErrLineage},
		{"fail/key-not-yet-active", func(m *pack.Meta) { m.GeneratedAt = packtest.KeyFrom.Add(-time.Hour) }, nil, pack.ErrLineage},
		{"fail/nil-signer", func(m *pack.Meta) {}, nil, pack.ErrInvalidMeta},
		{"fail/lineage-fingerprint", func(m *pack.Meta) {
			m.Lineage = append(pack.Lineage{}, m.Lineage...)
			m.Lineage[0].Fingerprint = "00"
		}, nil, pack.ErrLineage},
		{"fail/lineage-bad-endorsement", func(m *pack.Meta) {
			l, err := m.Lineage.Rotate(context.Background(), "sk_2", packtest.Key(2).Public().(ed25519.PublicKey),
				packtest.GeneratedAt.Add(-time.Hour), packtest.Signer{Priv: packtest.Key(1)})
			if err != nil {
				panic(err)
			}
			l[1].Endorsement.ByKeyID = "sk_x"
			m.Lineage, m.SigningKeyID, m.PublicKey = l, "sk_2", packtest.Key(2).Public().(ed25519.PublicKey)
		}, nil, pack.ErrLineage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			tt.meta(&m)
			_, err := pack.NewBuilder(m, tt.signer, pack.Options{})
			if tt.name != "fail/nil-signer" {
				_, err = pack.NewBuilder(m, packtest.Signer{Priv: k}, pack.Options{})
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	for _, tt := range []struct {
		name   string
		signer pack.Signer
		want   error
	}{{"fail/wrong-signature", badSigner{}, pack.ErrSignature}, {"fail/signer-error", failSigner{}, nil}} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := packtest.Build(good, tt.signer, packtest.Files(), pack.Options{})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("fail/paths", func(t *testing.T) {
		b, err := pack.NewBuilder(good, packtest.Signer{Priv: k}, pack.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for _, p := range []string{"", "/abs.ndjson", "../x.ndjson", "a/../x.ndjson", "a//x.ndjson", "x.json", "a\\b.ndjson", "a\x01.ndjson", "./x.ndjson"} {
			if _, err := b.Create(p); !errors.Is(err, pack.ErrInvalidPath) {
				t.Errorf("Create(%q) err = %v", p, err)
			}
		}
		fw, err := b.Create("x.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create("x.ndjson"); !errors.Is(err, pack.ErrDuplicate) {
			t.Errorf("duplicate open: %v", err)
		}
		if _, err := b.Finish(context.Background(), io.Discard); !errors.Is(err, pack.ErrOpenFile) {
			t.Errorf("Finish with open file: %v", err)
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create("x.ndjson"); !errors.Is(err, pack.ErrDuplicate) {
			t.Errorf("duplicate closed: %v", err)
		}
		if _, err := b.Create("x.ndjson/y.ndjson"); err != nil {
			t.Fatal(err)
		}
	})
	// A bad record (with workers, its error comes from a later call or
	// Close) breaks the builder: nothing more can be created or finished.
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("fail/bad-record-workers-%d", workers), func(t *testing.T) {
			b, err := pack.NewBuilder(good, packtest.Signer{Priv: k}, pack.Options{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			fw, err := b.Create("x.ndjson")
			if err != nil {
				t.Fatal(err)
			}
			err = fw.AddJSON([]byte(`{"a":1,"a":2}`))
			if err == nil {
				err = fw.Close()
			}
			if !errors.Is(err, canon.ErrDuplicateKey) {
				t.Errorf("AddJSON duplicate key: %v", err)
			}
			fw.Close()
			if _, err := b.Create("y.ndjson"); !errors.Is(err, canon.ErrDuplicateKey) {
				t.Errorf("Create after a bad record: %v", err)
			}
			if _, err := b.Finish(context.Background(), io.Discard); !errors.Is(err, canon.ErrDuplicateKey) {
				t.Errorf("Finish after a bad record: %v", err)
			}
		})
	}
	t.Run("fail/file-and-dir", func(t *testing.T) {
		files := map[string][]any{"x.ndjson": {}, "x.ndjson/y.ndjson": {}}
		if _, _, err := packtest.Build(good, packtest.Signer{Priv: k}, files, pack.Options{}); !errors.Is(err, pack.ErrInvalidPath) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLineageRotate(t *testing.T) {
	ctx := context.Background()
	k1, k2, k3 := packtest.Key(1), packtest.Key(2), packtest.Key(3)
	l, err := pack.NewLineage("sk_1", k1.Public().(ed25519.PublicKey), packtest.KeyFrom)
	if err != nil {
		t.Fatal(err)
	}
	rot := date(2026, 6, 1, 0, 0, 0)
	l2, err := l.Rotate(ctx, "sk_2", k2.Public().(ed25519.PublicKey), rot, packtest.Signer{Priv: k1})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].ActiveUntil != nil {
		t.Fatal("Rotate modified its receiver")
	}
	if *l2[0].ActiveUntil != "2026-06-01T00:00:00Z" || l2[1].ActiveFrom != "2026-06-01T00:00:00Z" || l2[1].Endorsement.ByKeyID != "sk_1" {
		t.Fatalf("rotated lineage = %+v", l2)
	}
	msg, err := pack.EndorsementMessage(l2[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg), "endorsement") || !strings.Contains(string(msg), `"active_until":null`) {
		t.Fatalf("endorsement message = %s", msg)
	}
	sig, _ := hex.DecodeString(l2[1].Endorsement.Signature)
	d := sha256.Sum256(msg)
	if !ed25519.Verify(k1.Public().(ed25519.PublicKey), d[:], sig) {
		t.Fatal("endorsement does not verify")
	}
	// Unendorsed rotation (after compromise), then errors.
	l3, err := l2.Rotate(ctx, "sk_3", k3.Public().(ed25519.PublicKey), rot.AddDate(0, 1, 0), nil)
	if err != nil || l3[2].Endorsement != nil {
		t.Fatalf("unendorsed rotation: %v", err)
	}
	if _, err := l3.Rotate(ctx, "sk_2", k2.Public().(ed25519.PublicKey), rot.AddDate(1, 0, 0), nil); !errors.Is(err, pack.ErrLineage) {
		t.Errorf("fail/reused-id: %v", err)
	}
	if _, err := l3.Rotate(ctx, "sk_4", k2.Public().(ed25519.PublicKey), rot, nil); !errors.Is(err, pack.ErrLineage) {
		t.Errorf("fail/rotation-in-the-past: %v", err)
	}
	if _, err := l2.Rotate(ctx, "sk_4", k3.Public().(ed25519.PublicKey), rot.AddDate(0, 2, 0), packtest.Signer{Priv: k1}); !errors.Is(err, pack.ErrSignature) {
		t.Errorf("fail/endorsed-by-wrong-key: %v", err)
	}
	// AsOf: before the rotation sk_1 is open and sk_2 absent.
	before := l3.AsOf(date(2026, 3, 1, 0, 0, 0))
	if len(before) != 1 || before[0].ActiveUntil != nil {
		t.Fatalf("AsOf(before) = %+v", before)
	}
	if got := l3.AsOf(rot.AddDate(0, 0, 1)); len(got) != 2 || got[0].ActiveUntil == nil || got[1].ActiveUntil != nil {
		t.Fatalf("AsOf(after) = %+v", got)
	}
	if err := l3.ActiveAt("sk_1", k1.Public().(ed25519.PublicKey), rot.AddDate(0, 0, 1)); !errors.Is(err, pack.ErrKeyInactive) {
		t.Errorf("sk_1 after its rotation: %v", err)
	}
	if err := l3.ActiveAt("sk_1", k1.Public().(ed25519.PublicKey), rot); err != nil {
		t.Errorf("sk_1 at the rotation instant: %v", err)
	}
	raw, err := l3.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	var back pack.Lineage
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	again, err := back.MarshalCanonical()
	if err != nil || !bytes.Equal(again, raw) {
		t.Fatalf("lineage round trip: %s vs %s (%v)", again, raw, err)
	}
}

// buildWith builds a pack signed by k with opts, fill adding its data, and
// returns its bytes.
func buildWith(t *testing.T, k ed25519.PrivateKey, opts pack.Options, fill func(b *pack.Builder) error) []byte {
	t.Helper()
	b, err := pack.NewBuilder(packtest.Meta(k), packtest.Signer{Priv: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := fill(b); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.Finish(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// addAll adds n raw records, record(i) for i < n, to the file at path and
// closes it.
func addAll(b *pack.Builder, path string, n int, record func(i int) string) error {
	fw, err := b.Create(path)
	if err != nil {
		return err
	}
	for i := range n {
		if err := fw.AddJSON([]byte(record(i))); err != nil {
			return err
		}
	}
	return fw.Close()
}

// TestBuildIndependentOfWorkersAndMemory builds the same interleaved raw
// records with several worker counts and memory budgets (nothing spilled,
// a few runs, thousands of runs merged in stages) and wants identical
// bytes.
func TestBuildIndependentOfWorkersAndMemory(t *testing.T) {
	k := packtest.Key(3)
	fill := func(b *pack.Builder) error {
		if err := addAll(b, "agents/a/small.ndjson", 50, func(i int) string {
			return fmt.Sprintf(`{"z":%d,"a":"small %d"}`, (i*31)%50, i)
		}); err != nil {
			return err
		}
		x, _ := b.Create("agents/a/x.ndjson")
		y, _ := b.Create("agents/b/y.ndjson")
		for i := range 20000 {
			fw := x
			if i%3 == 0 {
				fw = y
			}
			raw := fmt.Sprintf(`{"ts":"2026-04-01T00:00:%02dZ","v":%d.25,"tags":["t%d"],"type":"metric","seq":"%d"}`, i%60, (i*7919)%20000, i%7, i)
			if err := fw.AddJSON([]byte(raw)); err != nil {
				return err
			}
		}
		if err := x.Close(); err != nil {
			return err
		}
		return y.Close()
	}
	want := buildWith(t, k, pack.Options{Workers: 1}, fill)
	for _, opts := range []pack.Options{{Workers: 2}, {Workers: 4, SortMemory: 4 << 10}, {Workers: 1, SortMemory: 64 << 10},
		{Workers: 3, SortMemory: 300 << 10}} {
		t.Run(fmt.Sprintf("ok/workers-%d-mem-%d", opts.Workers, opts.SortMemory), func(t *testing.T) {
			if got := buildWith(t, k, opts, fill); !bytes.Equal(got, want) {
				t.Fatalf("pack differs from the single-worker, in-memory build (%d vs %d bytes)", len(got), len(want))
			}
		})
	}
}

// TestBuildReusesSpilledMemory builds a file big enough for its lines to
// fill 1 MiB chunks and spill several times, so that later lines are
// written into the chunks of spilled ones: the pack is the same as one
// built without spilling.
func TestBuildReusesSpilledMemory(t *testing.T) {
	k := packtest.Key(4)
	pad := strings.Repeat("x", 150)
	fill := func(b *pack.Builder) error {
		return addAll(b, "agents/a/metric.ndjson", 60000, func(i int) string {
			return fmt.Sprintf(`{"v":%d,"pad":"%s","ts":"2026-04-01T00:%02d:00Z"}`, (i*7919)%60000, pad, i%60)
		})
	}
	want := buildWith(t, k, pack.Options{Workers: 1, SortMemory: 64 << 20}, fill)
	for _, opts := range []pack.Options{{Workers: 1, SortMemory: 3 << 20}, {Workers: 2, SortMemory: 5 << 20}} {
		if got := buildWith(t, k, opts, fill); !bytes.Equal(got, want) {
			t.Fatalf("%+v: pack differs from the build without spills", opts)
		}
	}
}

// TestBuildDiskFaults takes the builder's spill files away under it (a full
// or failing temp disk does the same): the pack fails with the cause, and
// can then be neither extended nor finished.
func TestBuildDiskFaults(t *testing.T) {
	k := packtest.Key(5)
	for _, tc := range []struct {
		name    string
		gone    string // what is removed before Close
		workers int    // 1: the runs are on disk when AddJSON returns
	}{{"fail/runs-gone", "run-*", 1}, {"fail/temp-dir-gone", "", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			b, err := pack.NewBuilder(packtest.Meta(k), packtest.Signer{Priv: k}, pack.Options{TempDir: tmp, Workers: tc.workers, SortMemory: 8 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			fw, err := b.Create("agents/a/metric.ndjson")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				if err := fw.AddJSON([]byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("y", 40)))); err != nil {
					t.Fatal(err)
				}
			}
			dirs, _ := filepath.Glob(filepath.Join(tmp, "monsys-pack-*"))
			if len(dirs) != 1 {
				t.Fatalf("temp dirs %q", dirs)
			}
			if tc.gone == "" {
				if err := os.RemoveAll(dirs[0]); err != nil {
					t.Fatal(err)
				}
			} else {
				runs, _ := filepath.Glob(filepath.Join(dirs[0], tc.gone))
				if len(runs) == 0 {
					t.Fatal("no runs were spilled")
				}
				for _, r := range runs {
					os.Remove(r)
				}
			}
			// The fault shows where the files are next needed: at Close when
			// the workers still have records to spill, else at Finish.
			var pe *os.PathError
			err = fw.Close()
			if err != nil {
				if !errors.As(err, &pe) {
					t.Fatalf("Close = %v, want the file error", err)
				}
				if _, err := b.Create("agents/b/metric.ndjson"); !errors.As(err, &pe) {
					t.Fatalf("Create after the fault = %v", err)
				}
			}
			if _, err := b.Finish(context.Background(), io.Discard); !errors.As(err, &pe) {
				t.Fatalf("Finish after the fault = %v", err)
			}
			if _, err := b.Finish(context.Background(), io.Discard); err == nil {
				t.Fatal("a second Finish succeeded")
			}
		})
	}
}

// TestBuildManyFiles builds a pack of 400 files, written to in turns with
// runs spilled from three workers (plus an empty file and a file created
// last): the Go verifier accepts it, and every file holds exactly its own
// records, sorted, as the single-worker build without spills does.
func TestBuildManyFiles(t *testing.T) {
	k := packtest.Key(7)
	const files, perFile = 400, 30
	record := func(f, i int) string {
		return fmt.Sprintf(`{"seq":"%d","file":%d,"v":%d.5}`, (i*7)%perFile, f, i)
	}
	fill := func(b *pack.Builder) error {
		fws := make([]*pack.FileWriter, files)
		for f := range fws {
			var err error
			if fws[f], err = b.Create(fmt.Sprintf("agents/ag_%03d/metric.ndjson", f)); err != nil {
				return err
			}
		}
		empty, err := b.Create("agents/empty.ndjson")
		if err != nil {
			return err
		}
		for i := range perFile {
			for f, fw := range fws {
				if err := fw.AddJSON([]byte(record(f, i))); err != nil {
					return err
				}
			}
		}
		if err := addAll(b, "agents/last.ndjson", 3, func(i int) string { return fmt.Sprint(3 - i) }); err != nil {
			return err
		}
		for _, fw := range append(fws, empty) {
			if err := fw.Close(); err != nil {
				return err
			}
		}
		return nil
	}
	want := buildWith(t, k, pack.Options{Workers: 1, SortMemory: 64 << 20}, fill)
	got := buildWith(t, k, pack.Options{Workers: 3, SortMemory: 48 << 10}, fill)
	if !bytes.Equal(got, want) {
		t.Fatal("the spilled, three-worker pack differs from the in-memory one")
	}
	r, err := verify.VerifyReader(bytes.NewReader(got), verify.Options{})
	if err != nil || !r.OK {
		t.Fatalf("verify: %v %+v", err, r)
	}
	if n := len(r.Manifest.Files); n != files+2 {
		t.Fatalf("%d files in the manifest", n)
	}
	ms, err := packtest.Unpack(got)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]string{}
	for _, m := range ms {
		body[m.Hdr.Name] = string(m.Body)
	}
	if body["data/agents/empty.ndjson"] != "" || body["data/agents/last.ndjson"] != "1\n2\n3\n" {
		t.Fatalf("empty %q, last %q", body["data/agents/empty.ndjson"], body["data/agents/last.ndjson"])
	}
	for _, f := range []int{0, 1, 137, files - 1} {
		var lines []string
		for i := range perFile {
			l, err := canon.Transform([]byte(record(f, i)))
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(l)+"\n")
		}
		slices.Sort(lines)
		if got, want := body[fmt.Sprintf("data/agents/ag_%03d/metric.ndjson", f)], strings.Join(lines, ""); got != want {
			t.Fatalf("file %d holds %q, want %q", f, got, want)
		}
	}
}

// TestFinishCancelled: a context that ends while Finish merges the data
// stops it with the context's error, and nothing is written.
func TestFinishCancelled(t *testing.T) {
	k := packtest.Key(8)
	b, err := pack.NewBuilder(packtest.Meta(k), packtest.Signer{Priv: k}, pack.Options{Workers: 2, SortMemory: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := addAll(b, "agents/a/metric.ndjson", 70000, func(i int) string { return fmt.Sprintf(`{"i":%d}`, i) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if _, err := b.Finish(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Finish = %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes written", out.Len())
	}
}
