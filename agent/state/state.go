// Package state keeps what the agent learns from the hub and must survive a
// restart: its agent id, the highest batch seq it has assigned, the pin state
// and the last contact. Updates are read-modify-write under a file lock and
// written atomically.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/monsys/hub/agent/internal/flock"
	"github.com/monsys/hub/internal/atomicfile"
)

// FileName is the state file in the state directory.
const FileName = "state.json"

const lockName = "state.lock"

// State is the persisted agent state.
type State struct {
	AgentID string `json:"agent_id,omitempty"`
	// LastSeq is the highest seq ever put in a batch header; the next one
	// is max(unix_nanos_now, LastSeq+1).
	LastSeq int64 `json:"last_seq"`
	// LastAcked is the lowercase hex SHA-256 of the last body the hub
	// acknowledged (202, or 200 duplicate): the "prev" of the next batch
	// sent (SPEC 4.2). "" before the first.
	LastAcked string `json:"last_acked_sha256,omitempty"`
	// SigningPinned and SigningSetAt are the hub's last word on the pin.
	SigningPinned bool   `json:"signing_pubkey_pinned"`
	SigningSetAt  string `json:"signing_set_at,omitempty"`
	// RegisteredPubkey is the base64 public key last accepted by register.
	RegisteredPubkey string    `json:"registered_pubkey,omitempty"`
	RegisteredAt     time.Time `json:"registered_at,omitzero"`
	// LastContact is the last time the hub answered 2xx.
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Rejected counts batches the hub refused as malformed (400/413) and
	// that were set aside rather than retried forever.
	Rejected int64 `json:"rejected_batches,omitempty"`
}

// Store reads and writes the state file of one state directory.
type Store struct {
	dir string
}

// NewStore returns the store for stateDir.
func NewStore(stateDir string) *Store { return &Store{dir: stateDir} }

// Load returns the state; a missing file is the zero state.
func (s *Store) Load() (State, error) {
	var st State
	raw, err := os.ReadFile(filepath.Join(s.dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("load state: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("load state %q: %w", filepath.Join(s.dir, FileName), err)
	}
	return st, nil
}

// Update applies fn to the current state under the lock and saves the result.
func (s *Store) Update(fn func(*State) error) (State, error) {
	l, err := flock.Acquire(filepath.Join(s.dir, lockName))
	if err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	defer l.Unlock()
	st, err := s.Load()
	if err != nil {
		return State{}, err
	}
	if err := fn(&st); err != nil {
		return State{}, err
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, FileName), append(raw, '\n'), 0o600); err != nil {
		return State{}, fmt.Errorf("update state: %w", err)
	}
	return st, nil
}
