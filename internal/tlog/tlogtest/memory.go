// Package tlogtest is the test kit of internal/tlog: in-memory stores, an
// in-memory log key, a cosigner that needs no witness, fault injection, and
// the contract every store implementation must pass (the DynamoDB and S3
// adapters run it too).
package tlogtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/monsys/hub/internal/tlog"
)

// Memory holds every store of a log in memory.
type Memory struct {
	mu      sync.Mutex
	head    *tlog.Head
	entries map[tlog.ID]*memEntry
	seq     int64
	tiles   map[string][]byte
	cp      []byte
	cpVer   int
}

type memEntry struct {
	entry      []byte
	at         time.Time
	seq        int64
	integrated bool
	index      int64
}

// NewMemory returns empty stores.
func NewMemory() *Memory {
	return &Memory{entries: map[tlog.ID]*memEntry{}, tiles: map[string][]byte{}}
}

var (
	_ tlog.HeadStore   = (*Memory)(nil)
	_ tlog.Pool        = (*Memory)(nil)
	_ tlog.Lookup      = (*Memory)(nil)
	_ tlog.Tiles       = (*Memory)(nil)
	_ tlog.Checkpoints = (*Memory)(nil)
)

// Stores returns m as every store of a Log.
func (m *Memory) Stores() tlog.Stores {
	return tlog.Stores{Heads: m, Pool: m, Lookup: m, Tiles: m, Checkpoints: m}
}

// Clone returns a deep copy: the state a backup would restore.
func (m *Memory) Clone() *Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemory()
	if m.head != nil {
		h := *m.head
		h.Batch = slices.Clone(h.Batch)
		c.head = &h
	}
	for id, e := range m.entries {
		cp := *e
		c.entries[id] = &cp
	}
	for p, b := range m.tiles {
		c.tiles[p] = b
	}
	c.seq, c.cp, c.cpVer = m.seq, m.cp, m.cpVer
	return c
}

// LoadHead implements tlog.HeadStore.
func (m *Memory) LoadHead(context.Context) (tlog.Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == nil {
		return tlog.Head{Complete: true}, nil
	}
	h := *m.head
	h.Batch = slices.Clone(h.Batch)
	return h, nil
}

// StoreHead implements tlog.HeadStore.
func (m *Memory) StoreHead(_ context.Context, old int64, next tlog.Head) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if (m.head == nil && old != 0) || (m.head != nil && m.head.Size != old) {
		return fmt.Errorf("memory: store head %d over %d: %w", next.Size, old, tlog.ErrConflict)
	}
	next.Batch = slices.Clone(next.Batch)
	m.head = &next
	return nil
}

// Submit implements tlog.Pool.
func (m *Memory) Submit(_ context.Context, id tlog.ID, entry []byte, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[id]; ok {
		return nil
	}
	m.seq++
	m.entries[id] = &memEntry{entry: bytes.Clone(entry), at: at, seq: m.seq}
	return nil
}

// Pending implements tlog.Pool: oldest first by submission time, then by order.
func (m *Memory) Pending(_ context.Context, max int) ([]tlog.Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type p struct {
		id tlog.ID
		e  *memEntry
	}
	var all []p
	for id, e := range m.entries {
		if !e.integrated {
			all = append(all, p{id, e})
		}
	}
	slices.SortFunc(all, func(a, b p) int {
		if c := a.e.at.Compare(b.e.at); c != 0 {
			return c
		}
		return int(a.e.seq - b.e.seq)
	})
	var out []tlog.Pending
	for _, x := range all[:min(max, len(all))] {
		out = append(out, tlog.Pending{ID: x.id, Entry: bytes.Clone(x.e.entry)})
	}
	return out, nil
}

// Settle implements tlog.Pool.
func (m *Memory) Settle(_ context.Context, first int64, ids []tlog.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, id := range ids {
		e, ok := m.entries[id]
		if !ok {
			return fmt.Errorf("memory: settle %s: %w", id, tlog.ErrNotFound)
		}
		if e.integrated && e.index != first+int64(i) {
			return fmt.Errorf("memory: settle %s at %d: already at %d: %w", id, first+int64(i), e.index, tlog.ErrConflict)
		}
		e.integrated, e.index = true, first+int64(i)
	}
	return nil
}

// Lookup implements tlog.Lookup.
func (m *Memory) Lookup(_ context.Context, ids []tlog.ID) ([]tlog.Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]tlog.Stored, len(ids))
	for i, id := range ids {
		e, ok := m.entries[id]
		if !ok {
			return nil, fmt.Errorf("memory: look up %s: %w", id, tlog.ErrNotFound)
		}
		out[i] = tlog.Stored{Entry: bytes.Clone(e.entry), Integrated: e.integrated, Index: e.index}
	}
	return out, nil
}

// ReadTile implements tlog.Tiles.
func (m *Memory) ReadTile(_ context.Context, path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.tiles[path]
	if !ok {
		return nil, fmt.Errorf("memory: %s: %w", path, tlog.ErrNotFound)
	}
	return bytes.Clone(b), nil
}

// WriteTile implements tlog.Tiles.
func (m *Memory) WriteTile(_ context.Context, path string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.tiles[path]; ok {
		if !bytes.Equal(b, data) {
			return fmt.Errorf("memory: %s holds other bytes: %w", path, tlog.ErrCorrupt)
		}
		return nil
	}
	m.tiles[path] = bytes.Clone(data)
	return nil
}

// TilePaths lists the stored tile paths, sorted.
func (m *Memory) TilePaths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.tiles {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ReadCheckpoint implements tlog.Checkpoints.
func (m *Memory) ReadCheckpoint(context.Context) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cp == nil {
		return nil, "", fmt.Errorf("memory: checkpoint: %w", tlog.ErrNotFound)
	}
	return bytes.Clone(m.cp), strconv.Itoa(m.cpVer), nil
}

// WriteCheckpoint implements tlog.Checkpoints.
func (m *Memory) WriteCheckpoint(_ context.Context, note []byte, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := ""
	if m.cp != nil {
		cur = strconv.Itoa(m.cpVer)
	}
	if version != cur {
		return fmt.Errorf("memory: checkpoint at version %q, not %q: %w", cur, version, tlog.ErrConflict)
	}
	m.cp = bytes.Clone(note)
	m.cpVer++
	return nil
}

// Key is an in-memory Ed25519 log key (tlog.Signer).
type Key struct{ Priv ed25519.PrivateKey }

var _ tlog.Signer = Key{}

// NewKey returns the key of a fixed seed byte, so that tests are reproducible.
func NewKey(seed byte) Key {
	return Key{Priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

// Public implements tlog.Signer.
func (k Key) Public() crypto.PublicKey { return k.Priv.Public() }

// SignContext implements tlog.Signer.
func (k Key) SignContext(_ context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.Priv.Sign(nil, msg, opts)
}

// Unwitnessed is a tlog.Cosigner for tests of the log alone: every
// checkpoint counts as cosigned and nothing is added to it.
type Unwitnessed struct{}

// Cosign implements tlog.Cosigner.
func (Unwitnessed) Cosign(_ context.Context, signed []byte, _ tlog.ProveFunc) ([]byte, error) {
	return signed, nil
}

// Quorum implements tlog.Cosigner.
func (Unwitnessed) Quorum([]byte) error { return nil }
