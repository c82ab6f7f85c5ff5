package kmsserver

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Key specs, usages and states (AWS KMS API reference, KeyMetadata).
const (
	specSymmetric = "SYMMETRIC_DEFAULT"
	specP256      = "ECC_NIST_P256"
	specEd25519   = "ECC_NIST_EDWARDS25519"

	usageEncrypt = "ENCRYPT_DECRYPT"
	usageSign    = "SIGN_VERIFY"

	stateEnabled  = "Enabled"
	stateDisabled = "Disabled"

	algSymmetric  = "SYMMETRIC_DEFAULT"
	algECDSA256   = "ECDSA_SHA_256"
	algEd25519    = "ED25519_SHA_512"
	algEd25519ph  = "ED25519_PH_SHA_512"
	msgRaw        = "RAW"
	msgDigest     = "DIGEST"
	msgExternalMu = "EXTERNAL_MU"
)

// specInfo describes a key spec this server implements.
type specInfo struct {
	usage      string
	signing    []string
	encryption []string
}

var specs = map[string]specInfo{
	specSymmetric: {usage: usageEncrypt, encryption: []string{algSymmetric}},
	specP256:      {usage: usageSign, signing: []string{algECDSA256}},
	specEd25519:   {usage: usageSign, signing: []string{algEd25519, algEd25519ph}},
}

// Values AWS defines but this server does not implement: they get
// UnsupportedOperationException rather than ValidationException, so that a
// caller can tell "wrong" from "not here".
var (
	knownSpecs = []string{
		"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
		"ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519",
		"SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512",
		"SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512",
		"ML_KEM_768", "ML_KEM_1024",
	}
	knownUsages = []string{
		"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC",
		"KEY_AGREEMENT", "ENCAPSULATE_DECAPSULATE",
	}
	knownSigning = []string{
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
		"RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384",
		"ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512",
		"ED25519_PH_SHA_512",
	}
	knownEncryption = []string{
		"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE",
	}
	knownMessageTypes = []string{msgRaw, msgDigest, msgExternalMu}
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// key is one KMS key. It is a value type: state mutations copy it.
type key struct {
	id          string
	spec        string
	usage       string
	description string
	created     time.Time
	state       string
	tags        []tag

	aes []byte             // SYMMETRIC_DEFAULT: 32-byte AES-256 key
	ec  *ecdsa.PrivateKey  // ECC_NIST_P256
	ed  ed25519.PrivateKey // ECC_NIST_EDWARDS25519
}

type tag struct {
	TagKey   string
	TagValue string
}

type alias struct {
	target  string
	created time.Time
	updated time.Time
}

// state is everything the server knows; mutations work on a clone and
// replace it only once persisted.
type state struct {
	keys    map[string]key   // by key id
	aliases map[string]alias // by full name, "alias/..."
}

func newState() *state {
	return &state{keys: map[string]key{}, aliases: map[string]alias{}}
}

func (st *state) clone() *state {
	return &state{keys: maps.Clone(st.keys), aliases: maps.Clone(st.aliases)}
}

// material returns the secret bytes persisted for a key: the AES key, the
// Ed25519 seed or the P-256 scalar.
func (k key) material() ([]byte, error) {
	switch k.spec {
	case specSymmetric:
		return slices.Clone(k.aes), nil
	case specEd25519:
		return slices.Clone(k.ed.Seed()), nil
	case specP256:
		return k.ec.Bytes()
	}
	return nil, fmt.Errorf("kmsserver: key %q: unknown key spec %q", k.id, k.spec)
}

// setMaterial is the inverse of material.
func (k *key) setMaterial(b []byte) error {
	switch k.spec {
	case specSymmetric:
		if len(b) != 32 {
			return fmt.Errorf("key %q: AES key is %d bytes, want 32", k.id, len(b))
		}
		k.aes = slices.Clone(b)
	case specEd25519:
		if len(b) != ed25519.SeedSize {
			return fmt.Errorf("key %q: Ed25519 seed is %d bytes, want %d", k.id, len(b), ed25519.SeedSize)
		}
		k.ed = ed25519.NewKeyFromSeed(b)
	case specP256:
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
		if err != nil {
			return fmt.Errorf("key %q: P-256 scalar: %w", k.id, err)
		}
		k.ec = priv
	default:
		return fmt.Errorf("key %q: unknown key spec %q", k.id, k.spec)
	}
	return nil
}

// generate fills in fresh key material from the server's random source.
func (s *Server) generate(k *key) error {
	switch k.spec {
	case specSymmetric, specEd25519:
		b, err := s.randBytes(32)
		if err != nil {
			return err
		}
		defer clear(b)
		return k.setMaterial(b)
	case specP256:
		// Rejection sampling (FIPS 186-5 A.2.2): a 32-byte string that is not
		// in [1, n-1] is drawn again. It is done here rather than with
		// ecdsa.GenerateKey because Go 1.26 ignores a custom reader there,
		// and WithRand must make keys reproducible.
		for range 64 {
			b, err := s.randBytes(32)
			if err != nil {
				return err
			}
			err = k.setMaterial(b)
			clear(b)
			if err == nil {
				return nil
			}
		}
		return errors.New("kmsserver: random source yields no valid P-256 scalar")
	}
	return fmt.Errorf("kmsserver: cannot generate key spec %q", k.spec)
}

// resolve finds a key by key id, key ARN, alias name or alias ARN.
// allowAlias is false where AWS accepts only a key id or key ARN.
func (s *Server) resolve(st *state, ident string, allowAlias bool) (key, error) {
	if ident == "" {
		return key{}, fail(excValidation, "KeyId is required")
	}
	if len(ident) > 2048 {
		return key{}, fail(excValidation, "KeyId is longer than 2048 characters")
	}
	id := ident
	if rest, ok := strings.CutPrefix(ident, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[0] != "aws" || parts[1] != "kms" {
			return key{}, fail(excNotFound, "Invalid arn %q", ident)
		}
		if parts[2] != s.region || parts[3] != s.account {
			return key{}, fail(excNotFound, "Key %q does not exist", ident)
		}
		id = parts[4]
		if kid, ok := strings.CutPrefix(id, "key/"); ok {
			id = kid
		} else if !strings.HasPrefix(id, "alias/") {
			return key{}, fail(excNotFound, "Invalid arn %q", ident)
		}
	}
	if strings.HasPrefix(id, "alias/") {
		if !allowAlias {
			return key{}, fail(excValidation, "%q is an alias; specify a key ID or key ARN", ident)
		}
		a, ok := st.aliases[id]
		if !ok {
			return key{}, fail(excNotFound, "Alias %s is not found.", s.aliasARN(id))
		}
		id = a.target
	}
	k, ok := st.keys[id]
	if !ok {
		return key{}, fail(excNotFound, "Key %q does not exist", s.keyARN(id))
	}
	return k, nil
}

// usable enforces the key-state table for cryptographic operations
// ("Key states of KMS keys", AWS KMS Developer Guide).
// keyOp is the preamble of every operation on the one key a request names
// in KeyId: it decodes the request, resolves the key (an alias too when
// allowAlias) under the state lock, for reading or, when write, for an
// update, and runs fn.
func (s *Server) keyOp(body []byte, allowAlias, write bool, fn func(st *state, k key) (any, error)) (any, error) {
	var req keyIDRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	run := s.view
	if write {
		run = s.update
	}
	return run(func(st *state) (any, error) {
		k, err := s.resolve(st, req.KeyId, allowAlias)
		if err != nil {
			return nil, err
		}
		return fn(st, k)
	})
}

func (s *Server) usable(k key) error {
	if k.state != stateEnabled {
		return fail(excDisabled, "%s is disabled.", s.keyARN(k.id))
	}
	return nil
}

// view runs fn under the read lock.
func (s *Server) view(fn func(st *state) (any, error)) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(s.st)
}

// update runs fn on a copy of the state and, if fn succeeds and the copy
// is persisted, makes it current. A failed write changes nothing.
func (s *Server) update(fn func(st *state) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.st.clone()
	out, err := fn(next)
	if err != nil {
		return nil, err
	}
	if s.path != "" {
		if err := save(s.path, next); err != nil {
			return nil, err
		}
	}
	s.st = next
	return out, nil
}
