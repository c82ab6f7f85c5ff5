package kmssign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

// Signing modes of pack-signing keys (SPEC 7), chosen by configuration.
const (
	ModeKMS         = "kms"          // an ECC_NIST_EDWARDS25519 KMS key per tenant key
	ModeKMSEnvelope = "kms-envelope" // a seed encrypted under a symmetric KMS key
)

// VaultAPI is the part of the KMS client the vaults call.
type VaultAPI interface {
	API
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, optFns ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ VaultAPI = (*kms.Client)(nil)

// ErrVault reports a vault reference or key that cannot be used.
var ErrVault = errors.New("kmssign: pack-signing key")

// VaultOption tunes a vault.
type VaultOption func(*KeyVault) error

// WithSigner makes ModeKMS create each key with PackKeyPolicy(signer): only
// that role (the pack function's) may sign with it. Without it keys get
// KMS's default key policy, which leaves their use to IAM (the local KMS).
func WithSigner(signer string) VaultOption {
	return func(v *KeyVault) error {
		p, err := PackKeyPolicy(signer)
		v.policy = p
		return err
	}
}

// NewVault returns the vault of mode. wrapKeyID (the symmetric key) is
// required for ModeKMSEnvelope and must be empty for ModeKMS.
func NewVault(mode string, api VaultAPI, wrapKeyID string, opts ...VaultOption) (hub.KeyVault, error) {
	if api == nil {
		return nil, errors.New("kmssign: nil KMS API")
	}
	switch mode {
	case ModeKMS:
		v := &KeyVault{api: api}
		for _, o := range opts {
			if err := o(v); err != nil {
				return nil, err
			}
		}
		return v, nil
	case ModeKMSEnvelope:
		if wrapKeyID == "" {
			return nil, fmt.Errorf("%w: mode %q needs a symmetric wrapping key", ErrVault, mode)
		}
		return &EnvelopeVault{api: api, wrapKeyID: wrapKeyID, rand: rand.Reader}, nil
	}
	return nil, fmt.Errorf("%w: unknown signing mode %q, want %q or %q", ErrVault, mode, ModeKMS, ModeKMSEnvelope)
}

// KeyVault keeps each pack-signing key as an Ed25519 KMS key: the private
// key never leaves KMS. Its reference is the key's ARN.
type KeyVault struct {
	api    VaultAPI
	policy string // key policy of new keys; "" for KMS's default
}

var _ hub.KeyVault = (*KeyVault)(nil)

// NewKey implements hub.KeyVault: CreateKey ECC_NIST_EDWARDS25519, named
// by its description, with the vault's key policy. The policy leaves the
// caller no PutKeyPolicy, on purpose (the pack function cannot widen a key
// it signs with), hence BypassPolicyLockoutSafetyCheck; the account keeps
// PutKeyPolicy, so the key stays manageable.
func (v *KeyVault) NewKey(ctx context.Context, tenantID, keyID string) (string, ed25519.PublicKey, error) {
	in := &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeSignVerify,
		Description: aws.String("monsys pack signing " + tenantID + " " + keyID)}
	if v.policy != "" {
		in.Policy, in.BypassPolicyLockoutSafetyCheck = aws.String(v.policy), true
	}
	out, err := v.api.CreateKey(ctx, in)
	if err != nil {
		return "", nil, fmt.Errorf("kmssign: create pack-signing key %q of %q: %w", keyID, tenantID, err)
	}
	ref := aws.ToString(out.KeyMetadata.Arn)
	if ref == "" {
		ref = aws.ToString(out.KeyMetadata.KeyId)
	}
	s, err := v.Signer(ctx, tenantID, keyID, ref)
	if err != nil {
		return "", nil, err
	}
	return ref, s.(*PackSigner).Public(), nil
}

// Signer implements hub.KeyVault.
func (v *KeyVault) Signer(ctx context.Context, _, keyID, ref string) (pack.Signer, error) {
	s, err := New(ctx, v.api, ref)
	if err != nil {
		return nil, err
	}
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %q (%s) is not an Ed25519 key", ErrVault, keyID, ref)
	}
	return &PackSigner{pub: pub, sign: func(ctx context.Context, digest []byte) ([]byte, error) {
		return s.SignContext(ctx, digest, crypto.Hash(0))
	}}, nil
}

// PackSigner is a pack.Signer that also tells its public key.
type PackSigner struct {
	pub  ed25519.PublicKey
	sign func(ctx context.Context, digest []byte) ([]byte, error)
}

var _ pack.Signer = (*PackSigner)(nil)

// SignDigest implements pack.Signer: pure Ed25519 over the 32-byte digest.
func (p *PackSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("%w: digest of %d bytes, want 32", ErrBadInput, len(digest))
	}
	return p.sign(ctx, digest)
}

// Public returns the Ed25519 public key.
func (p *PackSigner) Public() ed25519.PublicKey { return p.pub }

// EnvelopeVault keeps each pack-signing key as a 32-byte Ed25519 seed
// encrypted under a symmetric KMS key, with an encryption context naming
// the tenant and the key id. The seed is decrypted only to sign, then wiped.
// Its reference is "v1:<base64 public key>:<base64 ciphertext>".
type EnvelopeVault struct {
	api       VaultAPI
	wrapKeyID string
	rand      io.Reader
}

var _ hub.KeyVault = (*EnvelopeVault)(nil)

func envelopeContext(tenantID, keyID string) map[string]string {
	return map[string]string{"monsys:tenant": tenantID, "monsys:key_id": keyID, "monsys:purpose": "pack-signing"}
}

// NewKey implements hub.KeyVault.
func (v *EnvelopeVault) NewKey(ctx context.Context, tenantID, keyID string) (string, ed25519.PublicKey, error) {
	k, err := seal(ctx, v.api, v.wrapKeyID, envelopeContext(tenantID, keyID), v.rand)
	if err != nil {
		return "", nil, fmt.Errorf("kmssign: seal the seed of %q for %q: %w", keyID, tenantID, err)
	}
	return "v1:" + k.String(), k.pub, nil
}

// Signer implements hub.KeyVault; nothing is decrypted until SignDigest.
func (v *EnvelopeVault) Signer(_ context.Context, tenantID, keyID, ref string) (pack.Signer, error) {
	rest, ok := strings.CutPrefix(ref, "v1:")
	if !ok {
		return nil, fmt.Errorf("%w: %q: malformed envelope reference", ErrVault, keyID)
	}
	k, err := parseSealed(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrVault, keyID, err)
	}
	return &PackSigner{pub: k.pub, sign: func(ctx context.Context, digest []byte) ([]byte, error) {
		sig, err := k.sign(ctx, v.api, v.wrapKeyID, envelopeContext(tenantID, keyID), digest)
		if _, bad := err.(sealedError); bad {
			return nil, fmt.Errorf("%w: %q: %w", ErrVault, keyID, err)
		} else if err != nil {
			return nil, fmt.Errorf("kmssign: decrypt seed of %q: %w", keyID, err)
		}
		return sig, nil
	}}, nil
}
