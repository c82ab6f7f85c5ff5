package sig_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/sig"
)

// key is a fixed test key: the seed is 32 bytes of 0x01.
func key(t testing.TB, fill byte) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = fill
	}
	return ed25519.NewKeyFromSeed(seed)
}

const body = `[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1743501600000000000,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-04-01T10:00:00Z","name":"cpu","value":0.25}]`

func TestParse(t *testing.T) {
	priv := key(t, 1)
	good := sig.Sign(priv, []byte(body))
	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil || len(raw) != 64 {
		t.Fatalf("Sign gave %q (%d bytes, %v)", good, len(raw), err)
	}
	urlSafe := base64.URLEncoding.EncodeToString(raw)
	if urlSafe == good {
		t.Fatal("test signature has no + or /; pick another body")
	}
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"ok/standard-padded", good, nil},
		{"ok/surrounding-spaces", "  " + good + " ", nil},
		{"ok/surrounding-tab", "\t" + good + "\t", nil},
		{"fail/empty", "", sig.ErrMissing},
		{"fail/only-whitespace", " \t ", sig.ErrMissing},
		{"fail/not-base64", "not base64 at all!", sig.ErrMalformed},
		{"fail/url-safe", urlSafe, sig.ErrMalformed},
		{"fail/raw-url-safe", base64.RawURLEncoding.EncodeToString(raw), sig.ErrMalformed},
		{"fail/unpadded", base64.RawStdEncoding.EncodeToString(raw), sig.ErrMalformed},
		{"fail/63-bytes", base64.StdEncoding.EncodeToString(raw[:63]), sig.ErrMalformed},
		{"fail/65-bytes", base64.StdEncoding.EncodeToString(append(raw[:64:64], 0)), sig.ErrMalformed},
		{"fail/32-bytes", base64.StdEncoding.EncodeToString(raw[:32]), sig.ErrMalformed},
		{"fail/128-bytes", base64.StdEncoding.EncodeToString(append(raw[:64:64], raw...)), sig.ErrMalformed},
		{"fail/inner-space", good[:40] + " " + good[40:], sig.ErrMalformed},
		{"fail/inner-newline", good[:40] + "\n" + good[40:], sig.ErrMalformed},
		{"fail/inner-crlf", good[:40] + "\r\n" + good[40:], sig.ErrMalformed},
		{"fail/trailing-garbage", good + "AAAA", sig.ErrMalformed},
		{"fail/double-padding", good + "==", sig.ErrMalformed},
		{"fail/non-zero-padding-bits", good[:85] + nextB64(good[85]) + "=", sig.ErrMalformed},
		{"fail/very-long", strings.Repeat("A", 10000), sig.ErrMalformed},
		{"fail/prefixed-scheme", "ed25519=" + good, sig.ErrMalformed},
		{"fail/hex", "0a1b", sig.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sig.Parse(tt.header)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if string(got) != string(raw) {
					t.Fatalf("Parse gave %x, want %x", got, raw)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("Parse returned %d bytes with an error", len(got))
			}
		})
	}
}

// nextB64 returns another base64 alphabet character than c, so that the
// final character carries non-zero padding bits.
func nextB64(c byte) string {
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(a, c)
	return string(a[(i+1)%64])
}

func TestVerifyHeader(t *testing.T) {
	priv, other := key(t, 1), key(t, 2)
	pub := []byte(priv.Public().(ed25519.PublicKey))
	b := []byte(body)
	good := sig.Sign(priv, b)
	flipped := []byte(body)
	flipped[len(flipped)/2] ^= 0x01
	raw, _ := base64.StdEncoding.DecodeString(good)
	badSig := append([]byte(nil), raw...)
	badSig[10] ^= 0x80
	// A signature of the raw body (not of its digest) is not what SPEC 3 signs.
	undigested := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b))

	tests := []struct {
		name   string
		pub    []byte
		body   []byte
		header string
		want   error
	}{
		{"ok/signed-digest", pub, b, good, nil},
		{"ok/whitespace-around-header", pub, b, " " + good + "  ", nil},
		{"ok/empty-body", pub, nil, sig.Sign(priv, nil), nil},
		{"fail/missing", pub, b, "", sig.ErrMissing},
		{"fail/malformed", pub, b, "####", sig.ErrMalformed},
		{"fail/wrong-key", []byte(other.Public().(ed25519.PublicKey)), b, good, sig.ErrInvalid},
		{"fail/flipped-body-byte", pub, flipped, good, sig.ErrInvalid},
		{"fail/appended-body-byte", pub, append([]byte(body), ' '), good, sig.ErrInvalid},
		{"fail/trailing-newline-in-body", pub, append([]byte(body), '\n'), good, sig.ErrInvalid},
		{"fail/flipped-signature-bit", pub, b, base64.StdEncoding.EncodeToString(badSig), sig.ErrInvalid},
		{"fail/signature-over-raw-body", pub, b, undigested, sig.ErrInvalid},
		{"fail/all-zero-signature", pub, b, base64.StdEncoding.EncodeToString(make([]byte, 64)), sig.ErrInvalid},
		{"fail/short-key", pub[:31], b, good, sig.ErrBadKey},
		{"fail/long-key", append(append([]byte(nil), pub...), 0), b, good, sig.ErrBadKey},
		{"fail/no-key", nil, b, good, sig.ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sig.VerifyHeader(tt.pub, tt.body, tt.header)
			if tt.want == nil && err != nil {
				t.Fatalf("VerifyHeader: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyHeader error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDigest(t *testing.T) {
	// SHA-256 of the empty string and of "abc" (FIPS 180-2 examples).
	tests := []struct {
		name, in, want string
	}{
		{"ok/empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"ok/abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sig.Digest([]byte(tt.in))
			if got := hexString(d[:]); got != tt.want {
				t.Fatalf("Digest(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func hexString(b []byte) string {
	const h = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, h[c>>4], h[c&15])
	}
	return string(out)
}

func TestParsePublicKey(t *testing.T) {
	pub := []byte(key(t, 3).Public().(ed25519.PublicKey))
	std := base64.StdEncoding.EncodeToString(pub)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"ok/standard", std, true},
		{"fail/empty", "", false},
		{"fail/unpadded", base64.RawStdEncoding.EncodeToString(pub), false},
		{"fail/url-safe-alphabet", base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff}), false},
		{"fail/31-bytes", base64.StdEncoding.EncodeToString(pub[:31]), false},
		{"fail/33-bytes", base64.StdEncoding.EncodeToString(append(append([]byte(nil), pub...), 0)), false},
		{"fail/hex", hexString(pub), false},
		{"fail/pem", "-----BEGIN PUBLIC KEY-----", false},
		{"fail/embedded-lf", std[:20] + "\n" + std[20:], false},
		{"fail/embedded-crlf", std[:20] + "\r\n" + std[20:], false},
		{"fail/trailing-lf", std + "\n", false},
		{"fail/leading-space", " " + std, false},
		{"fail/trailing-space", std + " ", false},
		{"fail/non-zero-padding-bits", std[:42] + nextB64(std[42]) + "=", false},
		{"fail/zero-bytes-order-4", base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
		{"fail/identity", b64hex(t, "0100000000000000000000000000000000000000000000000000000000000000"), false},
		{"fail/identity-lf", b64lf(b64hex(t, "0100000000000000000000000000000000000000000000000000000000000000")), false},
		{"fail/order-2", b64hex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), false},
		{"fail/order-8", b64hex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), false},
		{"fail/non-canonical-identity-y-over-p", b64hex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), false},
		{"fail/not-on-curve", b64hex(t, "0200000000000000000000000000000000000000000000000000000000000000"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sig.ParsePublicKey(tt.in)
			if tt.ok {
				if err != nil || string(got) != string(pub) {
					t.Fatalf("ParsePublicKey = %x, %v; want %x", got, err, pub)
				}
				return
			}
			if !errors.Is(err, sig.ErrBadKey) {
				t.Fatalf("ParsePublicKey error = %v, want ErrBadKey", err)
			}
		})
	}
}

// TestSignRoundTrip checks that what Sign writes, Parse and Verify accept,
// for bodies of many sizes.
func TestSignRoundTrip(t *testing.T) {
	priv := key(t, 4)
	pub := []byte(priv.Public().(ed25519.PublicKey))
	for _, n := range []int{0, 1, 2, 63, 64, 65, 1000, 256 << 10} {
		b := []byte(strings.Repeat("x", n))
		h := sig.Sign(priv, b)
		if len(h) != 88 || !strings.HasSuffix(h, "==") {
			t.Fatalf("len %d: header %q is not 88 characters of padded base64", n, h)
		}
		if err := sig.VerifyHeader(pub, b, h); err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if h2 := sig.Sign(priv, b); h2 != h {
			t.Fatalf("len %d: Ed25519 is deterministic, got %q then %q", n, h, h2)
		}
	}
}

// TestEncodePublicKey: what the agent registers (EncodePublicKey) is what
// the hub reads (ParsePublicKey), the key's exact bytes.
func TestEncodePublicKey(t *testing.T) {
	for n := range byte(8) {
		pub := key(t, n+10).Public().(ed25519.PublicKey)
		s := sig.EncodePublicKey(pub)
		got, err := sig.ParsePublicKey(s)
		if err != nil || !bytes.Equal(got, pub) {
			t.Fatalf("ParsePublicKey(EncodePublicKey(%x)) = %x, %v", pub, got, err)
		}
	}
}

func b64hex(t *testing.T, h string) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(unhex(t, h))
}

// b64lf breaks a base64 string in two lines, as a PEM body would be.
func b64lf(s string) string { return s[:22] + "\n" + s[22:] }

// TestKeylessForgery is the attack of issue 10: with a small-order public key
// pinned (32 zero bytes, or the identity), the constant signature R = B, S = 1
// passes plain Ed25519 verification for a share of all bodies, with no private
// key at all. Strict verification refuses the key, so no body verifies.
func TestKeylessForgery(t *testing.T) {
	forged := append(unhex(t, "5866666666666666666666666666666666666666666666666666666666666666"), make([]byte, 32)...)
	forged[32] = 1
	header := base64.StdEncoding.EncodeToString(forged)
	for _, k := range []struct{ name, pub string }{
		{"fail/zero-bytes", "0000000000000000000000000000000000000000000000000000000000000000"},
		{"fail/identity", "0100000000000000000000000000000000000000000000000000000000000000"},
	} {
		t.Run(k.name, func(t *testing.T) {
			pub := unhex(t, k.pub)
			forgedBodies := 0
			for i := range 64 {
				b := []byte(`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":` + strconv.Itoa(1743501600000000000+i) + `,"agent_version":"1.4.2"}]`)
				d := sig.Digest(b)
				if ed25519.Verify(pub, d[:], forged) {
					forgedBodies++ // plain Ed25519 is fooled
				}
				if err := sig.VerifyHeader(pub, b, header); !errors.Is(err, sig.ErrBadKey) {
					t.Fatalf("body %d: VerifyHeader = %v, want ErrBadKey", i, err)
				}
			}
			if forgedBodies == 0 {
				t.Fatal("the forgery fooled crypto/ed25519 for no body: the test shows nothing")
			}
			t.Logf("plain Ed25519 accepted the forged header for %d of 64 bodies", forgedBodies)
		})
	}
}
