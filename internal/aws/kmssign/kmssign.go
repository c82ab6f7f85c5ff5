// Package kmssign adapts an asymmetric KMS signing key to crypto.Signer.
//
// It supports the two key specs the hub uses: ECC_NIST_P256 (the mTLS CA,
// signing digests with ECDSA_SHA_256, so that x509.CreateCertificate works)
// and ECC_NIST_EDWARDS25519 (pack signing, pure Ed25519 with
// ED25519_SHA_512 over the RAW message). The private key never leaves KMS.
package kmssign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/sig"
)

// API is the part of the KMS client a Signer uses.
type API interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var _ API = (*kms.Client)(nil)

var (
	// ErrUnsupportedKey: the KMS key is not a P-256 or Ed25519 signing key.
	ErrUnsupportedKey = errors.New("kmssign: unsupported key")
	// ErrUnsupportedOpts: the signer options ask for a hash or variant the
	// key cannot provide.
	ErrUnsupportedOpts = errors.New("kmssign: unsupported signer options")
	// ErrBadInput: the digest or message does not fit the key's algorithm.
	ErrBadInput = errors.New("kmssign: bad signing input")
	// ErrBadSignature: KMS returned a signature that does not verify under
	// the public key fetched by New.
	ErrBadSignature = errors.New("kmssign: signature from KMS does not verify")
)

// Timeout bounds each KMS call made by Sign, which has no context.
const Timeout = 30 * time.Second

// maxRawMessage is the KMS limit for a RAW Message.
const maxRawMessage = 4096

// Signer is a crypto.Signer whose private key is a KMS key.
// It is safe for concurrent use if the API is.
type Signer struct {
	api   API
	keyID string
	pub   crypto.PublicKey
	alg   types.SigningAlgorithmSpec
}

var _ crypto.Signer = (*Signer)(nil)

// New fetches the public key of keyID (key id, key ARN, alias name or
// alias ARN) once and returns a Signer for it.
func New(ctx context.Context, api API, keyID string) (*Signer, error) {
	if api == nil {
		return nil, errors.New("kmssign: nil KMS API")
	}
	if keyID == "" {
		return nil, fmt.Errorf("%w: empty key id", ErrUnsupportedKey)
	}
	out, err := api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, fmt.Errorf("kmssign: get public key of %q: %w", keyID, err)
	}
	if out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("%w: key %q has key usage %q, want SIGN_VERIFY", ErrUnsupportedKey, keyID, out.KeyUsage)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: parse public key: %w", ErrUnsupportedKey, keyID, err)
	}
	s := &Signer{api: api, keyID: keyID, pub: pub}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() || out.KeySpec != types.KeySpecEccNistP256 {
			return nil, fmt.Errorf("%w: key %q has key spec %q, want ECC_NIST_P256 or ECC_NIST_EDWARDS25519", ErrUnsupportedKey, keyID, out.KeySpec)
		}
		s.alg = types.SigningAlgorithmSpecEcdsaSha256
	case ed25519.PublicKey:
		if out.KeySpec != types.KeySpecEccNistEdwards25519 {
			return nil, fmt.Errorf("%w: key %q has an Ed25519 public key but key spec %q", ErrUnsupportedKey, keyID, out.KeySpec)
		}
		s.alg = types.SigningAlgorithmSpecEd25519Sha512
	default:
		return nil, fmt.Errorf("%w: key %q has key spec %q, want ECC_NIST_P256 or ECC_NIST_EDWARDS25519", ErrUnsupportedKey, keyID, out.KeySpec)
	}
	if !slices.Contains(out.SigningAlgorithms, s.alg) {
		return nil, fmt.Errorf("%w: key %q does not offer %s", ErrUnsupportedKey, keyID, s.alg)
	}
	return s, nil
}

// Public returns the public key: *ecdsa.PublicKey or ed25519.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// KeyID returns the key identifier the Signer was created with.
func (s *Signer) KeyID() string { return s.keyID }

// Algorithm returns the KMS signing algorithm the Signer uses.
func (s *Signer) Algorithm() types.SigningAlgorithmSpec { return s.alg }

// Sign implements crypto.Signer with a Timeout-bounded background context.
// rand is ignored: KMS supplies its own randomness.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return s.SignContext(ctx, digest, opts)
}

// SignContext signs like crypto.Signer.Sign does, under ctx.
//
// For a P-256 key, digest is a SHA-256 digest and opts.HashFunc() must be
// crypto.SHA256; the result is an ASN.1 DER ECDSA signature. For an
// Ed25519 key, digest is the whole message (at most 4096 bytes, the KMS
// RAW limit) and opts.HashFunc() must be 0, as with crypto/ed25519; the
// result is a 64-byte Ed25519 signature. Ed25519ph and Ed25519ctx are not
// offered. The signature is verified against Public before it is returned.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: key %q: nil opts", ErrUnsupportedOpts, s.keyID)
	}
	in := &kms.SignInput{KeyId: aws.String(s.keyID), Message: digest, SigningAlgorithm: s.alg}
	switch s.alg {
	case types.SigningAlgorithmSpecEcdsaSha256:
		if h := opts.HashFunc(); h != crypto.SHA256 {
			return nil, fmt.Errorf("%w: key %q signs SHA-256 digests, opts ask for %v", ErrUnsupportedOpts, s.keyID, h)
		}
		if len(digest) != sha256.Size {
			return nil, fmt.Errorf("%w: key %q: digest is %d bytes, want %d", ErrBadInput, s.keyID, len(digest), sha256.Size)
		}
		in.MessageType = types.MessageTypeDigest
	case types.SigningAlgorithmSpecEd25519Sha512:
		if h := opts.HashFunc(); h != 0 {
			return nil, fmt.Errorf("%w: key %q signs pure Ed25519 (hash 0), opts ask for %v", ErrUnsupportedOpts, s.keyID, h)
		}
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			return nil, fmt.Errorf("%w: key %q: Ed25519ctx is not supported", ErrUnsupportedOpts, s.keyID)
		}
		if len(digest) > maxRawMessage {
			return nil, fmt.Errorf("%w: key %q: message is %d bytes, KMS signs at most %d", ErrBadInput, s.keyID, len(digest), maxRawMessage)
		}
		in.MessageType = types.MessageTypeRaw
	}
	if in.Message == nil {
		in.Message = []byte{} // an empty message is still a Message
	}
	out, err := s.api.Sign(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("kmssign: sign with key %q: %w", s.keyID, err)
	}
	if !s.verify(digest, out.Signature) {
		return nil, fmt.Errorf("%w: key %q", ErrBadSignature, s.keyID)
	}
	return out.Signature, nil
}

// verify guards against a KMS answer from the wrong key or a corrupted
// response: a signature the caller cannot verify is useless anyway.
func (s *Signer) verify(msg, signature []byte) bool {
	switch p := s.pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(p, msg, signature)
	case ed25519.PublicKey:
		return sig.VerifyEd25519(p, msg, signature) == nil
	}
	return false
}
