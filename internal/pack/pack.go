// Package pack is the evidence-pack format (SPEC sections 7, 8 and 9) in one
// place: the data files' paths and records, what goes in for a period, the
// manifest, its Ed25519 signature, the key lineage snapshot and the
// byte-for-byte reproducible tar.gz that holds them, with the verify.py that
// checks it. It talks to no AWS service: Build reads a period through a
// Source and signs through a Signer; Builder takes data files directly.
// The engine that sorts, spills and deflates is internal/pack/internal/spool.
package pack

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
)

// Signer signs the 32-byte SHA-256 digest of a message with pure Ed25519
// (KMS: ED25519_SHA_512, MessageType RAW, over the digest) and returns the
// 64-byte signature. The KMS adapter implements it outside this package.
type Signer interface {
	SignDigest(ctx context.Context, digest []byte) ([]byte, error)
}

// Names of the members at the root of a pack, in archive order.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	PublicKeyName = "signing_key.pub"
	LineageName   = "key_lineage.json"
	VerifyPyName  = "verify.py"
	ReadmeName    = "README.txt"
	DataDir       = "data/"
)

// FormatVersion is the manifest format_version this package writes.
const FormatVersion = 2

// Sentinel errors.
var (
	ErrInvalidMeta = errors.New("pack: invalid pack metadata")
	ErrInvalidPath = errors.New("pack: invalid data file path")
	ErrDuplicate   = errors.New("pack: data file added twice")
	ErrOpenFile    = errors.New("pack: data file still open")
	ErrClosed      = errors.New("pack: builder closed")
	ErrLineage     = errors.New("pack: invalid key lineage")
	ErrKeyInactive = errors.New("pack: signing key not active at generated_at")
	ErrSignature   = errors.New("pack: signature does not verify")
	ErrPublicKey   = errors.New("pack: invalid public key")
)

//go:embed verify.py
var verifyPy []byte

// VerifyScript returns the verify.py that goes into every pack.
func VerifyScript() []byte { return bytes.Clone(verifyPy) }
