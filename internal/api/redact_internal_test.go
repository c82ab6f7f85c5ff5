package api

import (
	"testing"
	"unicode"
)

// TestRedact: redact answers as the regexp does, with or without its
// shortcut.
func TestRedact(t *testing.T) {
	for _, s := range []string{
		"", "/api/v1/ingest", "/api/v1/agents/ag_1", "token ms_abc leaked", "msa_x", "MS_x", "m\u017f_x",
		"Bearer abc", "BEARER abc", "bEaReR\tabc", "bearer", "a bearer-ish", "xbearer y", "beare r", "\xffbearer x",
	} {
		if got, want := redact(s), credential.ReplaceAllString(s, "[redacted]"); got != want {
			t.Errorf("redact(%q) = %q, the regexp gives %q", s, got, want)
		}
	}
}

// TestRedactFold: the shortcut's ASCII folding of "bearer" is the
// regexp's (?i): no other rune folds to its letters.
func TestRedactFold(t *testing.T) {
	for _, c := range "bear" {
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			if f != unicode.ToUpper(c) {
				t.Errorf("%q folds to %q: the shortcut must look for it too", c, f)
			}
		}
	}
}

// TestRedactAllocs: a path without a credential is logged without an
// allocation.
func TestRedactAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(50, func() { redact("/api/v1/ingest") }); n != 0 {
		t.Fatalf("%.0f allocations", n)
	}
}

// FuzzRedact holds redact to the regexp on any text.
func FuzzRedact(f *testing.F) {
	f.Add("/api/v1/agents/ag_1 Bearer ms_x")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := redact(s), credential.ReplaceAllString(s, "[redacted]"); got != want {
			t.Fatalf("redact(%q) = %q, the regexp gives %q", s, got, want)
		}
	})
}
