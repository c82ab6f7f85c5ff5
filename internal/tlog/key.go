package tlog

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signature algorithms of c2sp.org/signed-note verifier keys.
const (
	AlgEd25519     = 0x01 // plain Ed25519 note signature (the log key)
	AlgCosignature = 0x04 // c2sp.org/tlog-cosignature cosignature/v1 (witnesses)
)

// VerifierKey returns the c2sp.org/signed-note verifier key
// "<name>+<hash>+<base64>" of an Ed25519 log key: what hub.json's log_vkey
// holds and auditors pass to --log-key.
func VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("%w: %q is not a valid note name (no spaces, no '+')", ErrConfig, name)
	}
	vk, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("%w: log verifier key for %q: %w", ErrConfig, name, err)
	}
	return vk, nil
}

// VKey is a parsed verifier key.
type VKey struct {
	Name string
	Hash uint32
	Alg  byte
	Key  []byte // the public key after the algorithm byte
}

var keyHashRE = regexp.MustCompile(`^[0-9a-fA-F]{8}$`)

// ParseVKey parses a c2sp.org/signed-note verifier key strictly: a valid
// name, eight hex digits of key hash that match the name and key, standard
// base64 of the algorithm byte and a 32-byte key.
func ParseVKey(s string) (VKey, error) {
	name, rest, ok1 := strings.Cut(s, "+")
	h, k64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !ValidName(name) || !keyHashRE.MatchString(h) {
		return VKey{}, fmt.Errorf("malformed verifier key %q", s)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(k64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize {
		return VKey{}, fmt.Errorf("malformed verifier key %q", s)
	}
	var hash uint32
	fmt.Sscanf(h, "%08x", &hash)
	if hash != KeyHash(name, key) {
		return VKey{}, fmt.Errorf("verifier key %q: key hash does not match", s)
	}
	return VKey{Name: name, Hash: hash, Alg: key[0], Key: key[1:]}, nil
}

// KeyHash is the c2sp.org/signed-note key ID of a name and an
// algorithm-prefixed key.
func KeyHash(name string, algKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(algKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ValidName reports whether name is a valid note key name: non-empty UTF-8
// without spaces or '+'.
func ValidName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// noteSigner adapts a Signer to note.Signer for one signing call.
type noteSigner struct {
	ctx  context.Context
	name string
	hash uint32
	s    Signer
}

func (n noteSigner) Name() string    { return n.name }
func (n noteSigner) KeyHash() uint32 { return n.hash }
func (n noteSigner) Sign(msg []byte) ([]byte, error) {
	return n.s.SignContext(n.ctx, msg, crypto.Hash(0))
}

// logKey is the log's key: its note name (the origin) and verifier.
type logKey struct {
	signer   Signer
	name     string
	hash     uint32
	vkey     string
	verifier note.Verifier
}

func newLogKey(origin string, s Signer) (*logKey, error) {
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the log key is %T, not Ed25519", ErrConfig, s.Public())
	}
	vk, err := VerifierKey(origin, pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		return nil, fmt.Errorf("%w: log verifier key: %w", ErrConfig, err)
	}
	return &logKey{signer: s, name: origin, hash: v.KeyHash(), vkey: vk, verifier: v}, nil
}

func (k *logKey) sign(ctx context.Context, text string) ([]byte, error) {
	b, err := note.Sign(&note.Note{Text: text}, noteSigner{ctx: ctx, name: k.name, hash: k.hash, s: k.signer})
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	// A KMS or envelope signer is outside this process: check what it returned.
	if _, err := note.Open(b, note.VerifierList(k.verifier)); err != nil {
		return nil, fmt.Errorf("tlog: the log key's signature does not verify: %w", err)
	}
	return b, nil
}
