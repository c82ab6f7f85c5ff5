package sig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

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
// encoded again and compared; a canonical encoding is then of small order
// exactly when it is in smallOrder.
func checkPoint(b []byte) error {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return errNotOnCurve
	}
	if !bytes.Equal(p.Bytes(), b) {
		return errNonCanonical
	}
	if smallOrder[[32]byte(b)] {
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
	if goodKeys.has(pub) {
		return nil
	}
	if err := checkPoint(pub); err != nil {
		return fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	goodKeys.add(pub)
	return nil
}

// keySet remembers public keys that passed checkPoint, so that the many
// signatures of one agent (every batch it sends, every batch of a pack)
// decode and check its key once. It holds at most maxGoodKeys and starts
// again empty when full: a key it forgot is checked again, never trusted
// unchecked.
type keySet struct {
	mu   sync.RWMutex
	keys map[[ed25519.PublicKeySize]byte]struct{}
}

const maxGoodKeys = 4096

var goodKeys = keySet{keys: map[[ed25519.PublicKeySize]byte]struct{}{}}

func (s *keySet) has(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	s.mu.RLock()
	_, ok := s.keys[[ed25519.PublicKeySize]byte(pub)]
	s.mu.RUnlock()
	return ok
}

func (s *keySet) add(pub []byte) {
	s.mu.Lock()
	if len(s.keys) >= maxGoodKeys {
		clear(s.keys)
	}
	s.keys[[ed25519.PublicKeySize]byte(pub)] = struct{}{}
	s.mu.Unlock()
}

// smallOrder holds the canonical encodings of the eight points of small
// order: the multiples of a point of order 8 (TestSmallOrderSet checks them
// against the table of every small-order encoding). checkPoint and
// fastValid both refuse a point by it.
var smallOrder = func() map[[32]byte]bool {
	b, err := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	if err != nil {
		panic(err)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		panic(err)
	}
	set := map[[32]byte]bool{}
	q := edwards25519.NewIdentityPoint()
	for range 8 {
		set[[32]byte(q.Bytes())] = true
		q.Add(q, p)
	}
	if len(set) != 8 || q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		panic("sig: the point of order 8 is not")
	}
	return set
}()

// fastValid reports whether signature is valid under every rule of
// VerifyEd25519 using only what crypto/ed25519 computes anyway, for a key
// already checked: crypto/ed25519 refuses S >= L and compares the
// canonical encoding of R' = [S]B - [k]A with R's bytes, so when it
// accepts, R is the canonical encoding of a point, and that point is of
// small order exactly when R is one of the eight encodings above. It
// answers false for anything else; VerifyEd25519 then runs every check
// one by one, and its error names the rule.
func fastValid(pub, msg, signature []byte) bool {
	return len(signature) == ed25519.SignatureSize && goodKeys.has(pub) &&
		!smallOrder[[32]byte(signature[:32])] && ed25519.Verify(ed25519.PublicKey(pub), msg, signature)
}

// VerifyEd25519 is the one Ed25519 verification of the project (SPEC 3):
// RFC 8032 section 5.1.7 with the cofactorless equation [S]B = R + [k]A,
// and also refusing a public key or R that is not a canonical point encoding
// or is of small order, and S >= L. Hub, agent, Go verifier and pack builder
// all call it; verify.py applies the same rules (internal/pack/verify.py).
// A bad key wraps ErrBadKey; anything else wraps ErrInvalid.
func VerifyEd25519(pub, msg, signature []byte) error {
	if fastValid(pub, msg, signature) {
		return nil
	}
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
