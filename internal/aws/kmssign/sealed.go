package kmssign

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// sealed is an Ed25519 key in SPEC 7's kms-envelope mode: a 32-byte seed
// encrypted under the symmetric envelope key with an encryption context
// naming its use, and its public key kept beside the ciphertext. The pack
// keys (EnvelopeVault) and the log key (EnvelopeLogSigner) are sealed so;
// the seed is decrypted only to sign, then wiped.
type sealed struct {
	pub  ed25519.PublicKey
	blob []byte
}

// sealedError is what is wrong with a sealed key itself, not KMS's answer.
type sealedError string

func (e sealedError) Error() string { return string(e) }

// seal makes a random seed (from rand) and seals it under wrapKeyID with ec.
func seal(ctx context.Context, api EnvelopeAPI, wrapKeyID string, ec map[string]string, rand io.Reader) (sealed, error) {
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return sealed{}, fmt.Errorf("new seed: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	pub := ed25519.PublicKey(append([]byte(nil), priv[32:]...))
	out, err := api.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(wrapKeyID), Plaintext: seed, EncryptionContext: ec})
	if err != nil {
		return sealed{}, err
	}
	return sealed{pub: pub, blob: out.CiphertextBlob}, nil
}

// String is the sealed key's part of a reference: "<base64 public key>:<base64 ciphertext>".
func (s sealed) String() string {
	return base64.StdEncoding.EncodeToString(s.pub) + ":" + base64.StdEncoding.EncodeToString(s.blob)
}

// parseSealed reads what String writes.
func parseSealed(ref string) (sealed, error) {
	pub64, blob64, ok := strings.Cut(ref, ":")
	if !ok || strings.Contains(blob64, ":") {
		return sealed{}, sealedError("malformed envelope reference")
	}
	pub, err := base64.StdEncoding.DecodeString(pub64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return sealed{}, sealedError("malformed public key in the envelope reference")
	}
	blob, err := base64.StdEncoding.DecodeString(blob64)
	if err != nil || len(blob) == 0 {
		return sealed{}, sealedError("malformed ciphertext in the envelope reference")
	}
	return sealed{pub: pub, blob: blob}, nil
}

// sign decrypts the seed with ec, checks that it holds the recorded public
// key, signs msg (pure Ed25519) and wipes the seed. A KMS error is returned
// as it is; a seed that is not the key's is a sealedError.
func (s sealed) sign(ctx context.Context, api EnvelopeAPI, wrapKeyID string, ec map[string]string, msg []byte) ([]byte, error) {
	out, err := api.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(wrapKeyID), CiphertextBlob: s.blob, EncryptionContext: ec})
	if err != nil {
		return nil, err
	}
	seed := out.Plaintext
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, sealedError(fmt.Sprintf("unsealed seed of %d bytes", len(seed)))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	if !ed25519.PublicKey(priv[32:]).Equal(s.pub) {
		return nil, sealedError("the sealed seed does not hold the recorded public key")
	}
	return ed25519.Sign(priv, msg), nil
}
