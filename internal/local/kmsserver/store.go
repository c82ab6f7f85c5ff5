package kmsserver

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/monsys/hub/internal/atomicfile"
)

const (
	keyFileName = "keys.json"
	fileFormat  = "monsys-localkms/v1"
)

// keyFile is the on-disk form of the state (docs/local-kms.md).
type keyFile struct {
	Format  string      `json:"format"`
	Keys    []fileKey   `json:"keys"`
	Aliases []fileAlias `json:"aliases"`
}

type fileKey struct {
	KeyID        string    `json:"key_id"`
	KeySpec      string    `json:"key_spec"`
	KeyUsage     string    `json:"key_usage"`
	Description  string    `json:"description"`
	CreationDate time.Time `json:"creation_date"`
	KeyState     string    `json:"key_state"`
	Tags         []tag     `json:"tags,omitempty"`
	// Material is the AES-256 key, the Ed25519 seed or the P-256 scalar
	// (big-endian, 32 bytes); base64 in JSON.
	Material []byte `json:"material"`
}

type fileAlias struct {
	AliasName       string    `json:"alias_name"`
	TargetKeyID     string    `json:"target_key_id"`
	CreationDate    time.Time `json:"creation_date"`
	LastUpdatedDate time.Time `json:"last_updated_date"`
}

// load reads dir/keys.json, creating dir (0700) when it does not exist.
// A missing file is an empty store.
func load(dir string) (*state, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create directory: %w", err)
	}
	path := filepath.Join(dir, keyFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), path, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read key file: %w", err)
	}
	st, err := decodeKeyFile(b)
	if err != nil {
		return nil, "", fmt.Errorf("%w %q: %w", ErrBadStore, path, err)
	}
	return st, path, nil
}

func decodeKeyFile(b []byte) (*state, error) {
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if f.Format != fileFormat {
		return nil, fmt.Errorf("format %q, want %q", f.Format, fileFormat)
	}
	st := newState()
	for _, fk := range f.Keys {
		if !uuidRE.MatchString(fk.KeyID) {
			return nil, fmt.Errorf("key id %q is not a lowercase UUID", fk.KeyID)
		}
		if _, dup := st.keys[fk.KeyID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", fk.KeyID)
		}
		info, ok := specs[fk.KeySpec]
		if !ok || info.usage != fk.KeyUsage {
			return nil, fmt.Errorf("key %q: key spec %q with key usage %q", fk.KeyID, fk.KeySpec, fk.KeyUsage)
		}
		k := key{
			id:          fk.KeyID,
			spec:        fk.KeySpec,
			usage:       fk.KeyUsage,
			description: fk.Description,
			created:     fk.CreationDate,
			state:       fk.KeyState,
			tags:        fk.Tags,
		}
		if fk.KeyState != stateEnabled && fk.KeyState != stateDisabled {
			return nil, fmt.Errorf("key %q: unknown key state %q", fk.KeyID, fk.KeyState)
		}
		if err := k.setMaterial(fk.Material); err != nil {
			return nil, err
		}
		st.keys[k.id] = k
	}
	for _, fa := range f.Aliases {
		if err := checkAliasName(fa.AliasName); err != nil {
			return nil, err
		}
		if _, dup := st.aliases[fa.AliasName]; dup {
			return nil, fmt.Errorf("alias %q appears twice", fa.AliasName)
		}
		if _, ok := st.keys[fa.TargetKeyID]; !ok {
			return nil, fmt.Errorf("alias %q targets unknown key %q", fa.AliasName, fa.TargetKeyID)
		}
		st.aliases[fa.AliasName] = alias{target: fa.TargetKeyID, created: fa.CreationDate, updated: fa.LastUpdatedDate}
	}
	return st, nil
}

func encodeKeyFile(st *state) ([]byte, error) {
	f := keyFile{Format: fileFormat, Keys: []fileKey{}, Aliases: []fileAlias{}}
	for _, k := range st.keys {
		m, err := k.material()
		if err != nil {
			return nil, err
		}
		fk := fileKey{
			KeyID:        k.id,
			KeySpec:      k.spec,
			KeyUsage:     k.usage,
			Description:  k.description,
			CreationDate: k.created,
			KeyState:     k.state,
			Tags:         k.tags,
			Material:     m,
		}
		f.Keys = append(f.Keys, fk)
	}
	// Stable order keeps the file diffable and the output reproducible.
	slices.SortFunc(f.Keys, func(a, b fileKey) int {
		return cmp.Or(a.CreationDate.Compare(b.CreationDate), strings.Compare(a.KeyID, b.KeyID))
	})
	for name, a := range st.aliases {
		f.Aliases = append(f.Aliases, fileAlias{AliasName: name, TargetKeyID: a.target, CreationDate: a.created, LastUpdatedDate: a.updated})
	}
	slices.SortFunc(f.Aliases, func(a, b fileAlias) int { return strings.Compare(a.AliasName, b.AliasName) })
	return json.MarshalIndent(f, "", "  ")
}

// save writes the key file atomically (internal/atomicfile): mode 0600 from
// its first byte, synced, renamed over the old one, the directory synced.
func save(path string, st *state) error {
	b, err := encodeKeyFile(st)
	if err != nil {
		return fmt.Errorf("kmsserver: encode key file: %w", err)
	}
	defer clear(b)
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("kmsserver: save key file: %w", err)
	}
	return nil
}
