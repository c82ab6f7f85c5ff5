package kmsserver_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecrypt(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	sym := createKey(t, client, types.KeySpecSymmetricDefault)
	other := createKey(t, client, types.KeySpecSymmetricDefault)
	signer := createKey(t, client, types.KeySpecEccNistEdwards25519)
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/hub/envelope"), TargetKeyId: sym.KeyId}); err != nil {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{0x5a}, 32)
	encCtx := map[string]string{"tenant": "t1", "key_id": "k-2025-03"}

	tests := []struct {
		name       string
		encryptKey *string
		plaintext  []byte
		encCtx     map[string]string
		alg        types.EncryptionAlgorithmSpec
		encWant    errCheck
		decryptKey *string // nil: rely on the key id inside the blob
		decCtx     map[string]string
		decWant    errCheck
	}{
		{name: "ok/no-context", encryptKey: sym.KeyId, plaintext: seed},
		{name: "ok/context", encryptKey: sym.KeyId, plaintext: seed, encCtx: encCtx, decCtx: encCtx},
		{name: "ok/context-copy-same-pairs", encryptKey: sym.KeyId, plaintext: seed, encCtx: encCtx, decCtx: map[string]string{"key_id": "k-2025-03", "tenant": "t1"}},
		{name: "ok/by-alias-decrypt-by-arn", encryptKey: aws.String("alias/hub/envelope"), plaintext: seed, decryptKey: sym.Arn},
		{name: "ok/decrypt-by-alias", encryptKey: sym.KeyId, plaintext: seed, decryptKey: aws.String("alias/hub/envelope")},
		{name: "ok/plaintext-4096", encryptKey: sym.KeyId, plaintext: bytes.Repeat([]byte{1}, 4096)},
		{name: "ok/explicit-algorithm", encryptKey: sym.KeyId, plaintext: seed, alg: types.EncryptionAlgorithmSpecSymmetricDefault},
		{name: "fail/plaintext-4097", encryptKey: sym.KeyId, plaintext: bytes.Repeat([]byte{1}, 4097), encWant: wantCode("ValidationException")},
		{name: "fail/plaintext-empty", encryptKey: sym.KeyId, plaintext: []byte{}, encWant: wantCode("ValidationException")},
		{name: "fail/sign-verify-key", encryptKey: signer.KeyId, plaintext: seed, encWant: wantType[*types.InvalidKeyUsageException]()},
		{name: "fail/rsa-algorithm", encryptKey: sym.KeyId, plaintext: seed, alg: types.EncryptionAlgorithmSpecRsaesOaepSha256, encWant: wantType[*types.InvalidKeyUsageException]()},
		{name: "fail/unknown-algorithm", encryptKey: sym.KeyId, plaintext: seed, alg: "AES_GCM", encWant: wantCode("ValidationException")},
		{name: "fail/unknown-key", encryptKey: aws.String("alias/none"), plaintext: seed, encWant: wantType[*types.NotFoundException]()},
		{name: "fail/missing-context", encryptKey: sym.KeyId, plaintext: seed, encCtx: encCtx, decWant: wantType[*types.InvalidCiphertextException]()},
		{name: "fail/unexpected-context", encryptKey: sym.KeyId, plaintext: seed, decCtx: encCtx, decWant: wantType[*types.InvalidCiphertextException]()},
		{name: "fail/other-context-value", encryptKey: sym.KeyId, plaintext: seed, encCtx: encCtx, decCtx: map[string]string{"tenant": "t2", "key_id": "k-2025-03"}, decWant: wantType[*types.InvalidCiphertextException]()},
		{name: "fail/extra-context-pair", encryptKey: sym.KeyId, plaintext: seed, encCtx: encCtx, decCtx: map[string]string{"tenant": "t1", "key_id": "k-2025-03", "x": ""}, decWant: wantType[*types.InvalidCiphertextException]()},
		{name: "fail/context-boundary-shift", encryptKey: sym.KeyId, plaintext: seed, encCtx: map[string]string{"ab": "c"}, decCtx: map[string]string{"a": "bc"}, decWant: wantType[*types.InvalidCiphertextException]()},
		{name: "fail/decrypt-with-other-key", encryptKey: sym.KeyId, plaintext: seed, decryptKey: other.KeyId, decWant: wantType[*types.IncorrectKeyException]()},
		{name: "fail/decrypt-with-sign-key", encryptKey: sym.KeyId, plaintext: seed, decryptKey: signer.KeyId, decWant: wantType[*types.InvalidKeyUsageException]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: tt.encryptKey, Plaintext: tt.plaintext, EncryptionContext: tt.encCtx, EncryptionAlgorithm: tt.alg})
			check(t, err, tt.encWant)
			if err != nil {
				return
			}
			if aws.ToString(enc.KeyId) != aws.ToString(sym.Arn) || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
				t.Errorf("Encrypt = KeyId %q, %s", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
			}
			if bytes.Contains(enc.CiphertextBlob, tt.plaintext) {
				t.Error("ciphertext blob contains the plaintext")
			}
			dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: tt.decCtx, KeyId: tt.decryptKey})
			check(t, err, tt.decWant)
			if err != nil {
				return
			}
			if !bytes.Equal(dec.Plaintext, tt.plaintext) || aws.ToString(dec.KeyId) != aws.ToString(sym.Arn) {
				t.Errorf("Decrypt = KeyId %q, plaintext %x", aws.ToString(dec.KeyId), dec.Plaintext)
			}
		})
	}
}

func TestDecryptTampered(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	sym := createKey(t, client, types.KeySpecSymmetricDefault)
	other := createKey(t, client, types.KeySpecSymmetricDefault)
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("ed25519 seed bytes"), EncryptionContext: map[string]string{"tenant": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	blob := enc.CiphertextBlob
	flip := func(i int) []byte {
		b := slices.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	// The blob of another key with this key's id written into its header.
	otherEnc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: other.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	relabelled := slices.Clone(otherEnc.CiphertextBlob)
	copy(relabelled[2:38], aws.ToString(sym.KeyId))

	invalid := wantType[*types.InvalidCiphertextException]()
	tests := []struct {
		name string
		blob []byte
		want errCheck
	}{
		{name: "ok/untouched", blob: blob},
		{name: "fail/version-byte", blob: flip(0), want: invalid},
		{name: "fail/key-id-length", blob: flip(1), want: invalid},
		{name: "fail/key-id-char", blob: flip(5), want: invalid},
		{name: "fail/nonce", blob: flip(38), want: invalid},
		{name: "fail/ciphertext", blob: flip(50), want: invalid},
		{name: "fail/tag", blob: flip(len(blob) - 1), want: invalid},
		{name: "fail/truncated", blob: blob[:len(blob)-1], want: invalid},
		{name: "fail/header-only", blob: blob[:38], want: invalid},
		{name: "fail/appended-byte", blob: append(slices.Clone(blob), 0), want: invalid},
		{name: "fail/relabelled-key-id", blob: relabelled, want: invalid},
		{name: "fail/garbage", blob: []byte("definitely not a ciphertext blob"), want: invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: tt.blob, EncryptionContext: map[string]string{"tenant": "t1"}})
			check(t, err, tt.want)
		})
	}

	t.Run("fail/disabled-key", func(t *testing.T) {
		if _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: sym.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "t1"}})
		check(t, err, wantType[*types.DisabledException]())
	})
}
