package verify

import (
	"crypto/ed25519"
	"math/big"

	"filippo.io/edwards25519"
)

var (
	fieldP    = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	orderL, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
)

func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

// KeyOK reports whether pub is the canonical encoding (y < p) of a point
// that is not of small order. crypto/ed25519 accepts small-order keys, for
// which one signature can verify for every message; packs never use them.
func KeyOK(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	y := make([]byte, 32)
	copy(y, pub)
	y[31] &= 0x7f
	if leInt(y).Cmp(fieldP) >= 0 {
		return false
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return false
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1
}

// VerifyStrict is RFC 8032 Ed25519 verification (cofactorless, S < L) that
// also rejects weak keys (KeyOK). verify.py applies the same rules.
func VerifyStrict(pub, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || !KeyOK(pub) {
		return false
	}
	if leInt(sig[32:]).Cmp(orderL) >= 0 {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
}
