package kmsserver

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Ciphertext blob, format version 1:
//
//	version   1 byte   = 0x01
//	idLen     1 byte   = length of the key id (36)
//	keyID     idLen    ASCII key id (a UUID) of the KMS key
//	nonce     12 bytes AES-GCM nonce
//	sealed    rest     AES-256-GCM ciphertext || 16-byte tag
//
// The AAD is the header (version, idLen, keyID) followed by the canonical
// encryption context, so neither the key id nor the context can be changed
// without the tag failing.
const (
	blobVersion  = 0x01
	gcmNonceSize = 12
	gcmTagSize   = 16
	maxBlob      = 6144 // CiphertextBlob limit of Decrypt
)

var errBadBlob = errors.New("malformed ciphertext blob")

// canonicalContext encodes an encryption context unambiguously: a 4-byte
// big-endian pair count, then for each pair in byte order of the keys the
// 4-byte length and bytes of the key, then of the value. A nil and an
// empty context both encode as four zero bytes.
func canonicalContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ctx[k])))
		b = append(b, ctx[k]...)
	}
	return b
}

func blobHeader(keyID string) []byte {
	return append([]byte{blobVersion, byte(len(keyID))}, keyID...)
}

func newGCM(aesKey []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, fmt.Errorf("kmsserver: aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext under the key's AES key; nonce is 12 random bytes.
func seal(aesKey []byte, keyID string, ctx map[string]string, nonce, plaintext []byte) ([]byte, error) {
	if len(nonce) != gcmNonceSize {
		return nil, fmt.Errorf("kmsserver: nonce is %d bytes, want %d", len(nonce), gcmNonceSize)
	}
	aead, err := newGCM(aesKey)
	if err != nil {
		return nil, err
	}
	header := blobHeader(keyID)
	aad := append(slices.Clone(header), canonicalContext(ctx)...)
	out := append(header, nonce...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// blobKeyID returns the key id a blob names, without authenticating it.
func blobKeyID(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != blobVersion {
		return "", errBadBlob
	}
	n := int(blob[1])
	if len(blob) < 2+n+gcmNonceSize+gcmTagSize {
		return "", errBadBlob
	}
	id := string(blob[2 : 2+n])
	if !uuidRE.MatchString(id) {
		return "", errBadBlob
	}
	return id, nil
}

// open authenticates and decrypts a blob made by seal.
func open(aesKey []byte, ctx map[string]string, blob []byte) ([]byte, error) {
	id, err := blobKeyID(blob)
	if err != nil {
		return nil, err
	}
	hl := 2 + len(id)
	aead, err := newGCM(aesKey)
	if err != nil {
		return nil, err
	}
	aad := append(slices.Clone(blob[:hl]), canonicalContext(ctx)...)
	nonce := blob[hl : hl+gcmNonceSize]
	return aead.Open(nil, nonce, blob[hl+gcmNonceSize:], aad)
}

// checkContext bounds the encryption context (AWS: at most 8192
// characters in total; here, bytes of keys and values).
func checkContext(ctx map[string]string) error {
	n := 0
	for k, v := range ctx {
		if k == "" {
			return fail(excValidation, "EncryptionContext keys must not be empty")
		}
		n += len(k) + len(v)
	}
	if n > 8192 {
		return fail(excValidation, "EncryptionContext is longer than 8192 bytes")
	}
	return nil
}
