package verify_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
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

func TestVerifyStrict(t *testing.T) {
	raw, err := os.ReadFile("../pack/testdata/rfc8032.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Name, Public, Message, Signature string
			Valid                            bool
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		pub, _ := hex.DecodeString(v.Public)
		msg, _ := hex.DecodeString(v.Message)
		sig, _ := hex.DecodeString(v.Signature)
		if got := verify.VerifyStrict(pub, msg, sig); got != v.Valid {
			t.Errorf("%s: VerifyStrict = %v, want %v", v.Name, got, v.Valid)
		}
	}
	identity := append([]byte{1}, make([]byte, 31)...)
	weak := map[string][]byte{
		"identity":      identity,
		"order-2":       append(append([]byte{0xec}, bytes.Repeat([]byte{0xff}, 30)...), 0x7f),
		"order-4":       make([]byte, 32),
		"non-canonical": append(append([]byte{0xed}, bytes.Repeat([]byte{0xff}, 30)...), 0x7f),
	}
	for name, pub := range weak {
		if verify.KeyOK(pub) {
			t.Errorf("KeyOK(%s) = true", name)
		}
	}
	sig := append(bytes.Clone(identity), make([]byte, 32)...)
	if verify.VerifyStrict(identity, []byte("any message"), sig) {
		t.Error("small-order key accepted")
	}
}
