package sig

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Why a public key or R is refused; each wraps ErrBadKey (for a key) or
// ErrInvalid (for R) in what VerifyEd25519 and CheckPublicKey return.
var (
	errNotOnCurve   = errors.New("not the encoding of a curve point")
	errNonCanonical = errors.New("not the canonical encoding of its point")
	errSmallOrder   = errors.New("a point of small order")
)

// checkPoint decodes b as RFC 8032 section 5.1.3 does, strictly: it must be the
// canonical encoding (y < p; x = 0 only with the sign bit clear) of a curve
// point, and the point must not be one of the eight of small order. The
// edwards25519 decoder accepts non-canonical encodings, so the point is
// encoded again and compared.
func checkPoint(b []byte) error {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return errNotOnCurve
	}
	if !bytes.Equal(p.Bytes(), b) {
		return errNonCanonical
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errSmallOrder
	}
	return nil
}

// CheckPublicKey reports whether pub can be an agent's or a pack's Ed25519
// key (SPEC 3): 32 bytes, the canonical encoding of a point that is not of
// small order. A small-order key lets one signature verify for many
// messages without any private key; such a key is never pinned or trusted.
// Errors wrap ErrBadKey.
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	if err := checkPoint(pub); err != nil {
		return fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return nil
}

// VerifyEd25519 is the one Ed25519 verification of the project (SPEC 3):
// RFC 8032 section 5.1.7 with the cofactorless equation [S]B = R + [k]A,
// and also refusing a public key or R that is not a canonical point encoding
// or is of small order, and S >= L. Hub, agent, Go verifier and pack builder
// all call it; verify.py applies the same rules (internal/pack/verify.py).
// A bad key wraps ErrBadKey; anything else wraps ErrInvalid.
func VerifyEd25519(pub, msg, signature []byte) error {
	if err := CheckPublicKey(pub); err != nil {
		return err
	}
	if len(signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalid, len(signature), ed25519.SignatureSize)
	}
	if err := checkPoint(signature[:32]); err != nil {
		return fmt.Errorf("%w: R is %w", ErrInvalid, err)
	}
	if _, err := new(edwards25519.Scalar).SetCanonicalBytes(signature[32:]); err != nil {
		return fmt.Errorf("%w: S is not below the group order", ErrInvalid)
	}
	// crypto/ed25519 computes R' = [S]B - [k]A and compares its encoding
	// with R: the cofactorless equation of RFC 8032.
	if !ed25519.Verify(ed25519.PublicKey(pub), msg, signature) {
		return ErrInvalid
	}
	return nil
}
