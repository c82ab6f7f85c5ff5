package sig_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"filippo.io/edwards25519"

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

// belowLE reports whether the little-endian number a is below b.
func belowLE(a []byte, b [32]byte) bool {
	for i := 31; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// canonicalPoint is the part of the key rule that can be said without curve
// arithmetic: y (the low 255 bits) below p, and not one of the fourteen
// encodings of the small-order points.
func canonicalPoint(b []byte) bool {
	y := slices.Clone(b)
	y[31] &= 0x7f
	if !belowLE(y, fieldP) {
		return false
	}
	for _, e := range lowOrderEncodings {
		if hex.EncodeToString(b) == e.hex {
			return false
		}
	}
	return true
}

// FuzzParsePublicKey holds ParsePublicKey to SPEC 4.1: it never panics, fails
// with ErrBadKey only, and accepts only the exact standard padded base64 of
// 32 bytes that encode a point canonically and are not of small order. The
// seed corpus is under testdata/fuzz/FuzzParsePublicKey.
func FuzzParsePublicKey(f *testing.F) {
	pub := key(f, 1).Public().(ed25519.PublicKey)
	std := base64.StdEncoding.EncodeToString(pub)
	f.Add(std)
	f.Add(std[:20] + "\n" + std[20:])
	f.Add(std + "\r\n")
	f.Add(base64.RawStdEncoding.EncodeToString(pub))
	for _, e := range lowOrderEncodings {
		raw, _ := hex.DecodeString(e.hex)
		f.Add(base64.StdEncoding.EncodeToString(raw))
	}
	f.Fuzz(func(t *testing.T, in string) {
		raw, err := sig.ParsePublicKey(in)
		if err != nil {
			if !errors.Is(err, sig.ErrBadKey) || raw != nil {
				t.Fatalf("ParsePublicKey(%q) = %x, %v", in, raw, err)
			}
			return
		}
		if len(raw) != 32 || base64.StdEncoding.EncodeToString(raw) != in {
			t.Fatalf("ParsePublicKey(%q) accepted something other than padded base64 of 32 bytes", in)
		}
		if !canonicalPoint(raw) {
			t.Fatalf("ParsePublicKey(%q) accepted a non-canonical or small-order encoding %x", in, raw)
		}
		if err := sig.CheckPublicKey(raw); err != nil {
			t.Fatalf("ParsePublicKey accepted %x, CheckPublicKey refuses it: %v", raw, err)
		}
	})
}

// FuzzVerifyEd25519 holds VerifyEd25519 to SPEC 3: it never panics, and what
// it accepts crypto/ed25519 accepts too, with a canonical key and R that are
// not of small order, and S below L. The seed corpus is the RFC 8032 TEST 1
// vector, a forgery under the identity key, and the vectors under
// testdata/fuzz/FuzzVerifyEd25519.
func FuzzVerifyEd25519(f *testing.F) {
	tv := func(h string) []byte { b, _ := hex.DecodeString(h); return b }
	f.Add(tv("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), []byte{},
		tv("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
	forged := append(edwards25519.NewGeneratorPoint().Bytes(), make([]byte, 32)...)
	forged[32] = 1
	f.Add(tv("0100000000000000000000000000000000000000000000000000000000000000"), []byte("any"), forged)
	f.Fuzz(func(t *testing.T, pub, msg, signature []byte) {
		sig.ForgetKeys()
		err := sig.VerifyEd25519(pub, msg, signature)
		if again := sig.VerifyEd25519(pub, msg, signature); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("again, the key known: %v; first: %v", again, err)
		}
		if err != nil {
			if !errors.Is(err, sig.ErrBadKey) && !errors.Is(err, sig.ErrInvalid) {
				t.Fatalf("unexpected error class %v", err)
			}
			return
		}
		switch {
		case !ed25519.Verify(pub, msg, signature):
			t.Fatal("accepted what crypto/ed25519 refuses")
		case !canonicalPoint(pub) || !canonicalPoint(signature[:32]):
			t.Fatalf("accepted a non-canonical or small-order A or R: %x %x", pub, signature[:32])
		case !belowLE(signature[32:], orderL):
			t.Fatal("accepted S >= L")
		}
	})
}
