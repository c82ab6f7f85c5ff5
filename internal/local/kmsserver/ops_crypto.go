package kmsserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// maxMessage is the Sign/Verify Message limit and the Encrypt Plaintext
// limit (AWS KMS API reference).
const maxMessage = 4096

func dryRun() error {
	return &apiError{
		status: http.StatusPreconditionFailed,
		code:   excDryRun,
		msg:    "The request would have succeeded, but the DryRun option is set.",
	}
}

type getPublicKeyResponse struct {
	KeyId                 string
	PublicKey             []byte
	CustomerMasterKeySpec string
	KeySpec               string
	KeyUsage              string
	SigningAlgorithms     []string `json:",omitempty"`
	EncryptionAlgorithms  []string `json:",omitempty"`
}

func (s *Server) getPublicKey(body []byte) (any, error) {
	return s.keyOp(body, true, false, func(_ *state, k key) (any, error) {
		if err := s.usable(k); err != nil {
			return nil, err
		}
		var pub crypto.PublicKey
		switch k.spec {
		case specP256:
			pub = k.ec.Public()
		case specEd25519:
			pub = k.ed.Public()
		default:
			return nil, fail(excUnsupported, "%s is a symmetric key and has no public key.", s.keyARN(k.id))
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("kmsserver: marshal public key: %w", err)
		}
		return &getPublicKeyResponse{
			KeyId:                 s.keyARN(k.id),
			PublicKey:             der,
			CustomerMasterKeySpec: k.spec,
			KeySpec:               k.spec,
			KeyUsage:              k.usage,
			SigningAlgorithms:     specs[k.spec].signing,
		}, nil
	})
}

type signRequest struct {
	KeyId            string
	Message          []byte
	MessageType      string
	SigningAlgorithm string
	GrantTokens      []string
	DryRun           bool
}

type signResponse struct {
	KeyId            string
	Signature        []byte
	SigningAlgorithm string
}

// checkSignRequest validates a Sign or Verify request against the key it
// names and returns the key and the effective MessageType.
func (s *Server) checkSignRequest(st *state, req *signRequest) (key, string, error) {
	msgType := req.MessageType
	if msgType == "" {
		msgType = msgRaw
	}
	switch {
	case req.Message == nil:
		return key{}, "", fail(excValidation, "Message is required")
	case len(req.Message) > maxMessage:
		return key{}, "", fail(excValidation, "Message is %d bytes; the limit is %d", len(req.Message), maxMessage)
	case req.SigningAlgorithm == "":
		return key{}, "", fail(excValidation, "SigningAlgorithm is required")
	case !slices.Contains(knownSigning, req.SigningAlgorithm):
		return key{}, "", fail(excValidation, "SigningAlgorithm %q is not a valid signing algorithm", req.SigningAlgorithm)
	case !slices.Contains(knownMessageTypes, msgType):
		return key{}, "", fail(excValidation, "MessageType %q is not a valid message type", msgType)
	}
	k, err := s.resolve(st, req.KeyId, true)
	if err != nil {
		return key{}, "", err
	}
	if err := s.usable(k); err != nil {
		return key{}, "", err
	}
	if k.usage != usageSign {
		return key{}, "", fail(excInvalidKeyUsage, "%s key usage is %s which is not valid for signing.", s.keyARN(k.id), k.usage)
	}
	if !slices.Contains(specs[k.spec].signing, req.SigningAlgorithm) {
		return key{}, "", fail(excInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", req.SigningAlgorithm, k.spec)
	}
	if err := checkMessageType(req.SigningAlgorithm, msgType, len(req.Message)); err != nil {
		return key{}, "", err
	}
	if req.DryRun {
		return key{}, "", dryRun()
	}
	return k, msgType, nil
}

// checkMessageType applies the MessageType rules of Sign and Verify: a
// DIGEST must have the length of the algorithm's hash; ED25519_SHA_512
// requires RAW and ED25519_PH_SHA_512 requires DIGEST; EXTERNAL_MU is for
// ML-DSA keys only.
func checkMessageType(alg, msgType string, n int) error {
	switch {
	case msgType == msgExternalMu:
		return fail(excValidation, "MessageType EXTERNAL_MU is valid only for ML-DSA keys")
	case alg == algEd25519 && msgType != msgRaw:
		return fail(excValidation, "SigningAlgorithm ED25519_SHA_512 requires MessageType RAW")
	case alg == algEd25519ph && msgType != msgDigest:
		return fail(excValidation, "SigningAlgorithm ED25519_PH_SHA_512 requires MessageType DIGEST")
	case alg == algEd25519ph && n != sha512.Size:
		return fail(excValidation, "Digest is %d bytes; %s requires %d", n, alg, sha512.Size)
	case alg == algECDSA256 && msgType == msgDigest && n != sha256.Size:
		return fail(excValidation, "Digest is %d bytes; %s requires %d", n, alg, sha256.Size)
	}
	return nil
}

// signMessage computes the signature KMS would return.
//
// ED25519_PH_SHA_512 follows the AWS documentation of Sign: with
// MessageType DIGEST, "KMS still performs the SHA-512 prehash described in
// Step 1 of Section 7.8.1 in FIPS 186-5", so the 64-byte digest is hashed
// once more and the result is an Ed25519ph signature of the digest.
func signMessage(k key, alg, msgType string, msg []byte) ([]byte, error) {
	switch alg {
	case algECDSA256:
		digest := msg
		if msgType == msgRaw {
			h := sha256.Sum256(msg)
			digest = h[:]
		}
		// Always crypto/rand: a predictable ECDSA nonce leaks the key.
		return ecdsa.SignASN1(rand.Reader, k.ec, digest)
	case algEd25519:
		return ed25519.Sign(k.ed, msg), nil
	case algEd25519ph:
		h := sha512.Sum512(msg)
		return k.ed.Sign(nil, h[:], &ed25519.Options{Hash: crypto.SHA512})
	}
	return nil, fmt.Errorf("kmsserver: signing algorithm %q not implemented", alg)
}

func (s *Server) sign(body []byte) (any, error) {
	var req signRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return s.view(func(st *state) (any, error) {
		k, msgType, err := s.checkSignRequest(st, &req)
		if err != nil {
			return nil, err
		}
		sig, err := signMessage(k, req.SigningAlgorithm, msgType, req.Message)
		if err != nil {
			return nil, err
		}
		return &signResponse{KeyId: s.keyARN(k.id), Signature: sig, SigningAlgorithm: req.SigningAlgorithm}, nil
	})
}

// checkEncryptionKey applies the checks shared by Encrypt and
// GenerateDataKey to the key a request names.
func (s *Server) checkEncryptionKey(k key, alg string) error {
	if err := s.usable(k); err != nil {
		return err
	}
	if k.usage != usageEncrypt {
		return fail(excInvalidKeyUsage, "%s key usage is %s which is not valid for encryption.", s.keyARN(k.id), k.usage)
	}
	if !slices.Contains(specs[k.spec].encryption, alg) {
		return fail(excInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.spec)
	}
	return nil
}

func checkEncryptionAlgorithm(alg string) (string, error) {
	if alg == "" {
		return algSymmetric, nil
	}
	if !slices.Contains(knownEncryption, alg) {
		return "", fail(excValidation, "EncryptionAlgorithm %q is not a valid encryption algorithm", alg)
	}
	return alg, nil
}

// noRecipient rejects the Nitro Enclaves Recipient parameter.
func noRecipient(r json.RawMessage) error {
	if len(r) > 0 && string(r) != "null" {
		return fail(excUnsupported, "Recipient is not supported by local KMS")
	}
	return nil
}

type encryptRequest struct {
	KeyId               string
	Plaintext           []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
	GrantTokens         []string
	DryRun              bool
}

type encryptResponse struct {
	CiphertextBlob      []byte
	KeyId               string
	EncryptionAlgorithm string
}

func (s *Server) encrypt(body []byte) (any, error) {
	var req encryptRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.Plaintext) == 0 || len(req.Plaintext) > maxMessage {
		return nil, fail(excValidation, "Plaintext is %d bytes; it must be 1 to %d", len(req.Plaintext), maxMessage)
	}
	alg, err := checkEncryptionAlgorithm(req.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if err := checkContext(req.EncryptionContext); err != nil {
		return nil, err
	}
	return s.view(func(st *state) (any, error) {
		k, err := s.resolve(st, req.KeyId, true)
		if err != nil {
			return nil, err
		}
		if err := s.checkEncryptionKey(k, alg); err != nil {
			return nil, err
		}
		if req.DryRun {
			return nil, dryRun()
		}
		nonce, err := s.randBytes(gcmNonceSize)
		if err != nil {
			return nil, err
		}
		blob, err := seal(k.aes, k.id, req.EncryptionContext, nonce, req.Plaintext)
		if err != nil {
			return nil, err
		}
		return &encryptResponse{CiphertextBlob: blob, KeyId: s.keyARN(k.id), EncryptionAlgorithm: alg}, nil
	})
}

type decryptRequest struct {
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	KeyId               string
	EncryptionAlgorithm string
	GrantTokens         []string
	DryRun              bool
	Recipient           json.RawMessage
}

type decryptResponse struct {
	KeyId               string
	Plaintext           []byte
	EncryptionAlgorithm string
}

func (s *Server) decrypt(body []byte) (any, error) {
	var req decryptRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.CiphertextBlob) == 0 || len(req.CiphertextBlob) > maxBlob {
		return nil, fail(excValidation, "CiphertextBlob is %d bytes; it must be 1 to %d", len(req.CiphertextBlob), maxBlob)
	}
	alg, err := checkEncryptionAlgorithm(req.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if err := checkContext(req.EncryptionContext); err != nil {
		return nil, err
	}
	if err := noRecipient(req.Recipient); err != nil {
		return nil, err
	}
	return s.view(func(st *state) (any, error) {
		id, blobErr := blobKeyID(req.CiphertextBlob)
		if req.KeyId != "" {
			named, err := s.resolve(st, req.KeyId, true)
			if err != nil {
				return nil, err
			}
			if named.usage != usageEncrypt {
				return nil, fail(excInvalidKeyUsage, "%s key usage is %s which is not valid for decryption.", s.keyARN(named.id), named.usage)
			}
			if blobErr == nil && id != named.id {
				return nil, fail(excIncorrectKey, "The key ID in the request does not identify the KMS key that encrypted the ciphertext.")
			}
		}
		if blobErr != nil {
			return nil, fail(excInvalidCipher, "The ciphertext is invalid.")
		}
		// A blob naming an unknown or non-encryption key cannot be
		// decrypted; it is reported as invalid ciphertext.
		k, ok := st.keys[id]
		if !ok || k.usage != usageEncrypt {
			return nil, fail(excInvalidCipher, "The ciphertext is invalid.")
		}
		if err := s.checkEncryptionKey(k, alg); err != nil {
			return nil, err
		}
		if req.DryRun {
			return nil, dryRun()
		}
		pt, err := open(k.aes, req.EncryptionContext, req.CiphertextBlob)
		if err != nil {
			return nil, fail(excInvalidCipher, "The ciphertext is invalid.")
		}
		return &decryptResponse{KeyId: s.keyARN(k.id), Plaintext: pt, EncryptionAlgorithm: alg}, nil
	})
}
