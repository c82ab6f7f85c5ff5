package sig_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/sig"
)

// FuzzParseHeader holds Parse to its contract: it never panics, it fails with
// ErrMissing or ErrMalformed only, and a success is always 64 bytes whose
// standard padded base64 is exactly the header without surrounding white space.
// The seed corpus is under testdata/fuzz/FuzzParseHeader.
func FuzzParseHeader(f *testing.F) {
	f.Add(sig.Sign(key(f, 1), []byte(body)))
	f.Add("")
	f.Add(base64.RawStdEncoding.EncodeToString(make([]byte, 64)))
	f.Fuzz(func(t *testing.T, header string) {
		raw, err := sig.Parse(header)
		if err != nil {
			if !errors.Is(err, sig.ErrMissing) && !errors.Is(err, sig.ErrMalformed) {
				t.Fatalf("Parse(%q): unexpected error class %v", header, err)
			}
			if raw != nil {
				t.Fatalf("Parse(%q) returned bytes with an error", header)
			}
			return
		}
		if len(raw) != 64 {
			t.Fatalf("Parse(%q) = %d bytes, want 64", header, len(raw))
		}
		if got, want := base64.StdEncoding.EncodeToString(raw), strings.TrimSpace(header); got != want {
			t.Fatalf("Parse(%q) does not round-trip: re-encoded %q", header, got)
		}
	})
}
