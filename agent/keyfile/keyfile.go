// Package keyfile keeps the agent's Ed25519 signing key on disk as SPEC 6
// demands: exactly the 32-byte raw seed, no header, readable by the agent's
// user only. Like ssh, it refuses a key file that others could read.
package keyfile

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileName is the key file's name inside the state directory (SPEC 6).
const FileName = "agent-signing.key"

// SeedSize is the exact size of a key file: the raw Ed25519 seed.
const SeedSize = ed25519.SeedSize

// Sentinel errors; every returned error wraps one of them or an *os.PathError.
var (
	// ErrNotExist means there is no key file yet.
	ErrNotExist = errors.New("signing key file does not exist")
	// ErrSize means the file is not exactly SeedSize bytes.
	ErrSize = errors.New("signing key file must be exactly 32 bytes")
	// ErrInsecure means group or others may read the file, or it is not a
	// regular file owned by the agent's user (Windows: its ACL grants more
	// than SYSTEM and Administrators).
	ErrInsecure = errors.New("signing key file permissions are too open")
	// ErrExist means Create found a key file already in place.
	ErrExist = errors.New("signing key file already exists")
)

// Path is the key file's path in stateDir.
func Path(stateDir string) string { return filepath.Join(stateDir, FileName) }

// Load checks the key file at path and returns the key it holds. It refuses
// (ErrInsecure, ErrSize) rather than repair: a key that others could have
// read must be rotated, not silently re-protected.
func Load(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load key %q: %w", path, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("load key %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load key %q: not a regular file (%v): %w", path, fi.Mode().Type(), ErrInsecure)
	}
	if err := checkAccess(path, fi); err != nil {
		return nil, fmt.Errorf("load key %q: %w", path, err)
	}
	if fi.Size() != SeedSize {
		return nil, fmt.Errorf("load key %q: size %d: %w", path, fi.Size(), ErrSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load key %q: %w", path, err)
	}
	defer f.Close()
	// Read one byte more than needed to catch a file that grew after Lstat.
	buf := make([]byte, SeedSize+1)
	n, err := io.ReadFull(f, buf)
	if n != SeedSize || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("load key %q: read %d bytes: %w", path, n, ErrSize)
	}
	return ed25519.NewKeyFromSeed(buf[:SeedSize]), nil
}

// Generate reads a fresh seed from rand.
func Generate(rand io.Reader) (ed25519.PrivateKey, error) {
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Create writes key's seed to path, which must not exist yet (ErrExist).
// The file is created with owner-only access from its first byte, synced, and
// moved into place atomically, so a crash leaves either no key or the whole key.
func Create(path string, key ed25519.PrivateKey) error {
	if err := write(path, key.Seed(), false); err != nil {
		return fmt.Errorf("create key %q: %w", path, err)
	}
	return nil
}

// Replace atomically writes key's seed over the key file at path.
func Replace(path string, key ed25519.PrivateKey) error {
	if err := write(path, key.Seed(), true); err != nil {
		return fmt.Errorf("replace key %q: %w", path, err)
	}
	return nil
}

// LoadOrCreate loads the key at path, or, when there is none, generates one
// from rand and creates the file. created reports the latter.
func LoadOrCreate(path string, rand io.Reader) (key ed25519.PrivateKey, created bool, err error) {
	key, err = Load(path)
	if !errors.Is(err, ErrNotExist) {
		return key, false, err
	}
	key, err = Generate(rand)
	if err != nil {
		return nil, false, err
	}
	if err := Create(path, key); err != nil {
		if errors.Is(err, ErrExist) {
			// Another process won the race; use its key.
			key, err = Load(path)
			return key, false, err
		}
		return nil, false, err
	}
	return key, true, nil
}
