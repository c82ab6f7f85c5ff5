package verify_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

// TestLineageRotation: a pack generated before a rotation still verifies
// once the lineage records the rotation; a pack claiming a generated_at
// outside its key's window fails; an unendorsed rotation is a warning.
func TestLineageRotation(t *testing.T) {
	ctx := context.Background()
	k1, k2 := packtest.Key(1), packtest.Key(2)
	rotation := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	l1, err := pack.NewLineage("sk_1", pubOf(k1), packtest.KeyFrom)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := l1.Rotate(ctx, "sk_2", pubOf(k2), rotation, packtest.Signer{Priv: k1})
	if err != nil {
		t.Fatal(err)
	}
	unendorsed, err := l1.Rotate(ctx, "sk_2", pubOf(k2), rotation, nil)
	if err != nil {
		t.Fatal(err)
	}
	script := packtest.VerifyPy(t)

	before := buildPack(t, packtest.Meta(k1), k1) // generated 2026-05-01 with sk_1

	// The same pack, re-issued by the builder after the rotation: Meta carries
	// today's lineage; the pack holds it as of generated_at.
	metaAfter := packtest.Meta(k1)
	metaAfter.Lineage = l2
	reissued := buildPack(t, metaAfter, k1)

	// A pack of June, signed by sk_2 under the rotated lineage.
	june := packtest.Meta(k2)
	june.SigningKeyID, june.Lineage = "sk_2", l2
	june.PeriodStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	june.PeriodEnd = time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)
	june.GeneratedAt = time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	junePack := buildPack(t, june, k2)

	juneUnendorsed := june
	juneUnendorsed.Lineage = unendorsed
	juneUnendorsedPack := buildPack(t, juneUnendorsed, k2)

	// The May pack carrying the full rotated lineage, sk_1 closed on 06-01.
	withFull := func(generatedAt string) []byte {
		ms := unpack(t, before)
		setLineage(t, ms, lineageJSON(t, l2))
		if generatedAt != "" {
			editManifest(t, ms, func(m map[string]any) { m["generated_at"] = generatedAt })
		}
		resign(t, ms, k1)
		return repack(t, ms)
	}

	tests := []struct {
		name string
		pack []byte
		exit int
		want string // a line of the output
	}{
		{"ok/before-rotation", before, 0, "✓ Signing key active at generated_at (key lineage)"},
		{"ok/reissued-after-rotation", reissued, 0, "✓ Signing key active at generated_at (key lineage)"},
		{"ok/retired-key-full-lineage", withFull(""), 0, "✓ Signing key active at generated_at (key lineage)"},
		{"ok/rotation-instant-inclusive", withFull("2026-06-01T00:00:00Z"), 0, "✓ Signing key active at generated_at (key lineage)"},
		{"ok/new-key-after-rotation", junePack, 0, "✓ Period: 2026-06-01 → 2026-06-30"},
		{"ok/unendorsed-rotation-warns", juneUnendorsedPack, 0,
			"⚠ Key lineage: sk_2 is not endorsed by the previous key sk_1 (a rotation after compromise?)"},
		{"fail/generated-after-key-retired", withFull("2026-07-01T00:00:00Z"), 1,
			"✗ Signing key sk_1 not active at generated_at 2026-07-01T00:00:00Z (active 2026-01-01T00:00:00Z → 2026-06-01T00:00:00Z)"},
		{"fail/generated-before-key-existed", withFull("2025-12-31T23:59:59Z"), 1,
			"✗ Signing key sk_1 not active at generated_at 2025-12-31T23:59:59Z (active 2026-01-01T00:00:00Z → 2026-06-01T00:00:00Z)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "pack.tar.gz", tc.pack)
			g := runGo(t, path, "")
			if g.exit != tc.exit || !slices.Contains(strings.Split(g.text, "\n"), tc.want) {
				t.Fatalf("Go verifier: exit %d, want %d and line %q:\n%s", g.exit, tc.exit, tc.want, g.text)
			}
			for _, backend := range backends {
				p := runPy(t, script, backend, path, "")
				if p.exit != g.exit || p.text != g.text || !slices.Equal(p.codes, g.codes) {
					t.Fatalf("verify.py (%s) disagrees: exit %d\n%s--- Go\n%s", backend, p.exit, p.text, g.text)
				}
			}
		})
	}
	if string(before) != string(reissued) {
		t.Error("re-issuing the May pack after the rotation changed its bytes")
	}
}
