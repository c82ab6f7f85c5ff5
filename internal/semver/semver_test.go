package semver_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/semver"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want semver.Version
		err  bool
	}{
		{name: "ok/plain", in: "1.4.2", want: semver.Version{Major: 1, Minor: 4, Patch: 2}},
		{name: "ok/zero", in: "0.0.0", want: semver.Version{}},
		{name: "ok/v-prefix", in: "v1.4.2", want: semver.Version{Major: 1, Minor: 4, Patch: 2}},
		{name: "ok/pre-release", in: "1.4.2-rc.1", want: semver.Version{Major: 1, Minor: 4, Patch: 2, Pre: []string{"rc", "1"}}},
		{name: "ok/pre-release-and-build", in: "1.4.2-rc.1+build.5", want: semver.Version{Major: 1, Minor: 4, Patch: 2, Pre: []string{"rc", "1"}}},
		{name: "ok/build-only", in: "1.4.2+20260401", want: semver.Version{Major: 1, Minor: 4, Patch: 2}},
		{name: "ok/build-leading-zeros", in: "1.0.0+001", want: semver.Version{Major: 1}},
		{name: "ok/build-with-hyphen", in: "1.0.0+exp.sha-5114f85", want: semver.Version{Major: 1}},
		{name: "ok/pre-release-hyphens", in: "1.0.0-x-y-z.--", want: semver.Version{Major: 1, Pre: []string{"x-y-z", "--"}}},
		{name: "ok/pre-release-alnum-leading-zero", in: "1.0.0-0A.is.legal", want: semver.Version{Major: 1, Pre: []string{"0A", "is", "legal"}}},
		{name: "ok/pre-release-zero", in: "1.0.0-0", want: semver.Version{Major: 1, Pre: []string{"0"}}},
		{name: "ok/max-uint64", in: "18446744073709551615.0.0", want: semver.Version{Major: 18446744073709551615}},

		{name: "fail/empty", in: "", err: true},
		{name: "fail/v-only", in: "v", err: true},
		{name: "fail/double-v", in: "vv1.2.3", err: true},
		{name: "fail/major-only", in: "1", err: true},
		{name: "fail/major-minor", in: "1.2", err: true},
		{name: "fail/four-parts", in: "1.2.3.4", err: true},
		{name: "fail/leading-zero-major", in: "01.2.3", err: true},
		{name: "fail/leading-zero-minor", in: "1.02.3", err: true},
		{name: "fail/leading-zero-patch", in: "1.2.03", err: true},
		{name: "fail/empty-part", in: "1..3", err: true},
		{name: "fail/letters", in: "a.b.c", err: true},
		{name: "fail/negative", in: "-1.2.3", err: true},
		{name: "fail/plus-sign", in: "+1.2.3", err: true},
		{name: "fail/space", in: "1.2.3 ", err: true},
		{name: "fail/inner-space", in: "1. 2.3", err: true},
		{name: "fail/empty-pre-release", in: "1.2.3-", err: true},
		{name: "fail/empty-build", in: "1.2.3+", err: true},
		{name: "fail/empty-pre-release-identifier", in: "1.2.3-a..b", err: true},
		{name: "fail/trailing-dot-pre-release", in: "1.2.3-a.", err: true},
		{name: "fail/leading-zero-numeric-pre-release", in: "1.2.3-01", err: true},
		{name: "fail/non-ascii-pre-release", in: "1.2.3-\u00e4", err: true},
		{name: "fail/underscore-pre-release", in: "1.2.3-a_b", err: true},
		{name: "fail/plus-in-build", in: "1.2.3+a+b", err: true},
		{name: "fail/pre-release-then-empty", in: "1.2.3-+b", err: true},
		{name: "fail/overflow", in: "18446744073709551616.0.0", err: true},
		{name: "fail/unicode-digits", in: "\u0661.2.3", err: true},
		{name: "fail/capital-v", in: "V1.2.3", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := semver.Parse(tt.in)
			if tt.err {
				if !errors.Is(err, semver.ErrInvalid) {
					t.Fatalf("Parse(%q) error = %v, want ErrInvalid", tt.in, err)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) && tt.in != "" {
					t.Fatalf("error %q does not quote the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.Major != tt.want.Major || got.Minor != tt.want.Minor || got.Patch != tt.want.Patch || !slices.Equal(got.Pre, tt.want.Pre) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// precedence is the example list of semver.org section 11, lowest first,
// extended with the core examples of 11.2.
var precedence = []string{
	"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
	"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
}

func TestComparePrecedence(t *testing.T) {
	vs := make([]semver.Version, len(precedence))
	for i, s := range precedence {
		v, err := semver.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := semver.Compare(vs[i], vs[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", precedence[i], precedence[j], got, want)
			}
			if got := semver.Less(precedence[i], precedence[j]); got != (i < j) {
				t.Errorf("Less(%s, %s) = %v, want %v", precedence[i], precedence[j], got, i < j)
			}
		}
	}
	// A shuffled copy sorts back into the list.
	shuffled := slices.Clone(vs)
	slices.Reverse(shuffled)
	shuffled[0], shuffled[5] = shuffled[5], shuffled[0]
	slices.SortFunc(shuffled, semver.Compare)
	for i := range shuffled {
		if semver.Compare(shuffled[i], vs[i]) != 0 {
			t.Fatalf("sorted position %d holds %+v, want %s", i, shuffled[i], precedence[i])
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       int
	}{
		{"ok/build-metadata-ignored", "1.0.0+a", "1.0.0+b", 0},
		{"ok/v-prefix-equal", "v1.4.2", "1.4.2", 0},
		{"ok/numeric-not-lexical-major", "10.0.0", "9.0.0", 1},
		{"ok/numeric-not-lexical-minor", "1.10.0", "1.9.0", 1},
		{"ok/numeric-not-lexical-patch", "1.0.10", "1.0.9", 1},
		{"ok/numeric-identifier-below-alphanumeric", "1.0.0-1", "1.0.0-a", -1},
		{"ok/ascii-order-of-alphanumerics", "1.0.0-B", "1.0.0-a", -1},
		{"ok/longer-pre-release-higher", "1.0.0-a.b.c", "1.0.0-a.b", 1},
		{"ok/pre-release-below-release", "1.0.0-rc.99", "1.0.0", -1},
		{"ok/pre-release-above-lower-patch", "1.0.1-alpha", "1.0.0", 1},
		{"ok/big-numeric-identifiers", "1.0.0-18446744073709551616", "1.0.0-18446744073709551615", 1},
		{"ok/same-length-numeric-identifiers", "1.0.0-29", "1.0.0-30", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := semver.Parse(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := semver.Parse(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := semver.Compare(a, b); got != tt.want {
				t.Fatalf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := semver.Compare(b, a); got != -tt.want {
				t.Fatalf("Compare(%s, %s) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestLess(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       bool
	}{
		{"ok/downgrade", "1.4.1", "1.4.2", true},
		{"ok/upgrade", "1.4.2", "1.4.1", false},
		{"ok/equal", "1.4.2", "1.4.2", false},
		{"ok/pre-release-of-same", "1.4.2-rc.1", "1.4.2", true},
		{"fail/unparsable-left", "garbage", "1.4.2", false},
		{"fail/unparsable-right", "1.4.2", "garbage", false},
		{"fail/both-unparsable", "b", "a", false},
		{"fail/empty-left", "", "1.0.0", false},
		{"fail/empty-right", "1.0.0", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := semver.Less(tt.a, tt.b); got != tt.want {
				t.Fatalf("Less(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestMax(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"ok/second-higher", "1.4.1", "1.4.2", "1.4.2"},
		{"ok/first-higher", "2.0.0", "1.9.9", "2.0.0"},
		{"ok/equal-keeps-first", "1.0.0+a", "1.0.0+b", "1.0.0+a"},
		{"ok/release-beats-pre-release", "1.0.0-rc.1", "1.0.0", "1.0.0"},
		{"ok/empty-loses", "", "1.0.0", "1.0.0"},
		{"ok/empty-loses-right", "1.0.0", "", "1.0.0"},
		{"fail/unparsable-left-loses", "nightly", "0.0.1", "0.0.1"},
		{"fail/unparsable-right-loses", "0.0.1", "nightly", "0.0.1"},
		{"fail/both-unparsable-keeps-first", "nightly", "dev", "nightly"},
		{"fail/both-empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := semver.Max(tt.a, tt.b); got != tt.want {
				t.Fatalf("Max(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
