// Package sig implements the agent payload signature of SPEC section 3:
// signature = base64(Ed25519_sign(SHA-256(body))), carried in X-Monsys-Signature.
package sig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Header is the HTTP header that carries the payload signature.
const Header = "X-Monsys-Signature"

// maxHeaderLen bounds the header before decoding: 64 bytes encode to 88 characters.
const maxHeaderLen = 128

var (
	// ErrMissing means the request carried no signature header.
	ErrMissing = errors.New("signature missing")
	// ErrMalformed means the header is not standard base64 of exactly 64 bytes.
	ErrMalformed = errors.New("signature malformed")
	// ErrInvalid means the signature does not verify for the body and the pinned key.
	ErrInvalid = errors.New("signature invalid")
	// ErrBadKey means a public key is not 32 raw bytes.
	ErrBadKey = errors.New("bad ed25519 public key")
)

// Digest is the message that is signed: the SHA-256 of the exact body bytes.
func Digest(body []byte) [sha256.Size]byte { return sha256.Sum256(body) }

// Sign returns the header value for body, signed with priv.
func Sign(priv ed25519.PrivateKey, body []byte) string {
	d := Digest(body)
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, d[:]))
}

// Parse decodes a header value into a 64-byte signature. An empty value is
// ErrMissing; anything but padded standard base64 of 64 bytes is ErrMalformed.
func Parse(header string) ([]byte, error) {
	h := strings.TrimSpace(header)
	if h == "" {
		return nil, ErrMissing
	}
	if len(h) > maxHeaderLen {
		return nil, fmt.Errorf("%w: header is %d characters long", ErrMalformed, len(h))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64: %v", ErrMalformed, err)
	}
	if len(raw) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrMalformed, len(raw), ed25519.SignatureSize)
	}
	// The decoder skips CR and LF even in strict mode; only the canonical
	// encoding of the 64 bytes is a signature header.
	if base64.StdEncoding.EncodeToString(raw) != h {
		return nil, fmt.Errorf("%w: contains characters outside the base64 alphabet", ErrMalformed)
	}
	return raw, nil
}

// VerifyDigest checks a parsed signature against the raw 32-byte public key,
// for a caller that already holds the body's SHA-256.
func VerifyDigest(pub []byte, digest [sha256.Size]byte, signature []byte) error {
	return VerifyEd25519(pub, digest[:], signature)
}

// VerifyHeader parses header and verifies it over body: the whole of SPEC 3 for a hub.
func VerifyHeader(pub []byte, body []byte, header string) error {
	s, err := Parse(header)
	if err != nil {
		return err
	}
	return VerifyDigest(pub, Digest(body), s)
}

// EncodePublicKey is the signing_pubkey of SPEC 4.1: the standard padded
// base64 of the raw 32-byte key, what ParsePublicKey reads.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey decodes a signing_pubkey (SPEC 4.1): exactly the standard
// padded base64 of 32 bytes, nothing else (the decoder alone would skip
// CR and LF), that CheckPublicKey accepts.
func ParsePublicKey(b64 string) ([]byte, error) {
	if len(b64) != base64.StdEncoding.EncodedLen(ed25519.PublicKeySize) {
		return nil, fmt.Errorf("%w: %d characters, want %d of standard padded base64", ErrBadKey, len(b64), base64.StdEncoding.EncodedLen(ed25519.PublicKeySize))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64: %v", ErrBadKey, err)
	}
	if len(raw) != ed25519.PublicKeySize || base64.StdEncoding.EncodeToString(raw) != b64 {
		return nil, fmt.Errorf("%w: not the standard padded base64 of 32 bytes", ErrBadKey)
	}
	if err := CheckPublicKey(raw); err != nil {
		return nil, err
	}
	return raw, nil
}
