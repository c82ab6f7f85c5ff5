package kmssign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// The transparency log's key in kms-envelope mode (SPEC 10 by way of SPEC
// 7's mode: KMS keys without Ed25519): a 32-byte seed encrypted under the
// symmetric envelope key, with an encryption context naming the purpose
// and the log's origin, decrypted only to sign a checkpoint, then wiped.
// Its reference, MONSYS_LOG_KEY_ID in that mode, is
// "envelope:v1:<base64 public key>:<base64 ciphertext>".
const envelopeLogKeyPrefix = "envelope:v1:"

// ErrLogKey reports a log key reference or seed that cannot be used.
var ErrLogKey = errors.New("kmssign: log key")

// EnvelopeAPI is the part of the KMS client an envelope-sealed key calls.
type EnvelopeAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

func logKeyContext(origin string) map[string]string {
	return map[string]string{"monsys:purpose": "log-signing", "monsys:origin": origin}
}

// IsEnvelopeLogKey says whether ref is an envelope log key reference (else
// it names a KMS key).
func IsEnvelopeLogKey(ref string) bool { return strings.HasPrefix(ref, envelopeLogKeyPrefix) }

// SealLogKey makes a log key for origin: a random seed (from rand) sealed
// under wrapKeyID. It returns the key's reference.
func SealLogKey(ctx context.Context, api EnvelopeAPI, wrapKeyID, origin string, rand io.Reader) (string, error) {
	k, err := seal(ctx, api, wrapKeyID, logKeyContext(origin), rand)
	if err != nil {
		return "", fmt.Errorf("kmssign: seal the log key of %s: %w", origin, err)
	}
	return envelopeLogKeyPrefix + k.String(), nil
}

// EnvelopeLogSigner signs the log's checkpoints with an envelope-sealed
// key (a tlog.Signer: pure Ed25519 over the message).
type EnvelopeLogSigner struct {
	api       EnvelopeAPI
	wrapKeyID string
	origin    string
	key       sealed
}

// NewEnvelopeLogSigner parses ref; nothing is decrypted until a signature.
func NewEnvelopeLogSigner(api EnvelopeAPI, wrapKeyID, origin, ref string) (*EnvelopeLogSigner, error) {
	if api == nil || wrapKeyID == "" {
		return nil, fmt.Errorf("%w: an envelope log key needs the KMS client and the envelope key", ErrLogKey)
	}
	k, err := parseEnvelopeLogKey(ref)
	if err != nil {
		return nil, err
	}
	return &EnvelopeLogSigner{api: api, wrapKeyID: wrapKeyID, origin: origin, key: k}, nil
}

// EnvelopeLogPublicKey is the public key an envelope log key reference
// records (what monsys-admin bootstrap prints the verifier key of).
func EnvelopeLogPublicKey(ref string) (ed25519.PublicKey, error) {
	k, err := parseEnvelopeLogKey(ref)
	return k.pub, err
}

func parseEnvelopeLogKey(ref string) (sealed, error) {
	rest, ok := strings.CutPrefix(ref, envelopeLogKeyPrefix)
	if !ok {
		return sealed{}, fmt.Errorf("%w: malformed envelope reference", ErrLogKey)
	}
	k, err := parseSealed(rest)
	if err != nil {
		return sealed{}, fmt.Errorf("%w: %w", ErrLogKey, err)
	}
	return k, nil
}

// Public returns the log key's public key.
func (s *EnvelopeLogSigner) Public() crypto.PublicKey { return s.key.pub }

// SignContext signs msg with pure Ed25519 (opts must be crypto.Hash(0)):
// it decrypts the seed, checks it holds the recorded public key, signs
// and wipes it.
func (s *EnvelopeLogSigner) SignContext(ctx context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, fmt.Errorf("%w: the log key signs pure Ed25519", ErrUnsupportedOpts)
	}
	sig, err := s.key.sign(ctx, s.api, s.wrapKeyID, logKeyContext(s.origin), msg)
	if _, bad := err.(sealedError); bad {
		return nil, fmt.Errorf("%w: %w", ErrLogKey, err)
	} else if err != nil {
		return nil, fmt.Errorf("kmssign: unseal the log key of %s: %w", s.origin, err)
	}
	return sig, nil
}
