package verify_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

var fuzzLimits = verify.Limits{
	MaxMembers: 64, MaxMemberSize: 1 << 20, MaxManifestSize: 1 << 20,
	MaxLineageSize: 1 << 16, MaxSmallSize: 1 << 12, MaxDocSize: 1 << 20,
}

// FuzzReadArchive feeds arbitrary bytes to the archive reader and the
// checks behind it. Seeds: testdata/fuzz/FuzzReadArchive and a real pack.
func FuzzReadArchive(f *testing.F) {
	k := packtest.Key(1)
	b, _, err := packtest.Build(packtest.Meta(k), packtest.Signer{Priv: k}, packtest.Files(), pack.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := verify.ReadArchive(bytes.NewReader(data), fuzzLimits)
		if c.Fatal && len(c.Problems) == 0 {
			t.Fatal("fatal without a problem")
		}
		if len(c.Members)+len(c.Files) > fuzzLimits.MaxMembers {
			t.Fatalf("%d members read past the cap", len(c.Members)+len(c.Files))
		}
		for p := range c.Files {
			if !verify.PathSafe(p) {
				t.Fatalf("unsafe data path %q accepted", p)
			}
		}
		r := verify.Verify(c, verify.Options{})
		if r.OK && len(c.Problems) > 0 {
			t.Fatal("OK despite archive problems")
		}
		js, err := r.JSON()
		if err != nil || !json.Valid(js) {
			t.Fatalf("JSON report: %v", err)
		}
		if text := r.Text(); r.OK != !strings.Contains(text, "✗") {
			t.Fatalf("text and verdict disagree:\n%s", text)
		}
	})
}

func TestLimits(t *testing.T) {
	k := packtest.Key(1)
	b := buildPack(t, packtest.Meta(k), k)
	tests := []struct {
		name string
		lim  verify.Limits
		want string
	}{
		{"fail/member-count", verify.Limits{MaxMembers: 5, MaxMemberSize: 1 << 20, MaxManifestSize: 1 << 20, MaxLineageSize: 1 << 20, MaxSmallSize: 1 << 20, MaxDocSize: 1 << 20},
			"✗ Too many entries in archive (limit 5)"},
		{"fail/member-size", verify.Limits{MaxMembers: 100, MaxMemberSize: 100, MaxManifestSize: 1 << 20, MaxLineageSize: 1 << 20, MaxSmallSize: 1 << 20, MaxDocSize: 1 << 20},
			"✗ Entry too large: manifest.json (1068 bytes, limit 100)"},
		{"fail/manifest-size", verify.Limits{MaxMembers: 100, MaxMemberSize: 1 << 20, MaxManifestSize: 100, MaxLineageSize: 1 << 20, MaxSmallSize: 1 << 20, MaxDocSize: 1 << 20},
			"✗ Missing manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := verify.VerifyReader(bytes.NewReader(b), verify.Options{Limits: tt.lim})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || !strings.Contains(r.Text(), tt.want+"\n") {
				t.Fatalf("text:\n%s\nwant line %q", r.Text(), tt.want)
			}
		})
	}
}
