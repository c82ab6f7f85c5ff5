// Package spool keeps signed-to-be batches on disk until the hub has
// acknowledged them. A batch is written (synced, renamed into place) before it
// is sent and removed only after a 2xx, so a crash or kill at any moment loses
// nothing that reached the spool. The spool is bounded: past the bound the
// oldest batches are dropped, and every drop is counted until reported.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/monsys/hub/internal/atomicfile"
)

// DefaultMaxBytes is the default bound on the bytes of all spooled batches:
// 64 MiB, about 256 full batches or days of one-a-minute batches.
const DefaultMaxBytes int64 = 64 << 20

// MinMaxBytes is the smallest accepted bound; it holds several full batches.
const MinMaxBytes int64 = 1 << 20

const (
	suffix    = ".batch"
	dropsFile = "drops.json"
)

// Sentinel errors.
var (
	// ErrEmpty means there is no batch to send.
	ErrEmpty = errors.New("spool is empty")
	// ErrGone means the batch was dropped or removed meanwhile.
	ErrGone = errors.New("batch is no longer in the spool")
	// ErrTooLarge means a single batch exceeds the spool bound.
	ErrTooLarge = errors.New("batch larger than the spool bound")
	// ErrBound means the configured bound is below MinMaxBytes.
	ErrBound = errors.New("spool bound too small")
)

// Entry is one spooled batch.
type Entry struct {
	ID      uint64 // position in the spool; smaller is older
	Records int    // records in the batch, header excluded
	Body    []byte // the exact request body
}

// Drops counts batches dropped to keep the bound.
type Drops struct {
	Batches int64 `json:"batches"`
	Records int64 `json:"records"`
}

// Stats describes the spool's content.
type Stats struct {
	Batches   int   // batches waiting
	Bytes     int64 // their total size
	MaxBytes  int64 // the bound
	Unsent    Drops // dropped and not yet reported
	DropTotal Drops // dropped since the spool was created
}

type item struct {
	id      uint64
	records int
	size    int64
}

type dropState struct {
	Unreported Drops `json:"unreported"`
	Total      Drops `json:"total"`
}

// Spool is a directory of batch files named by increasing id. It is safe for
// concurrent use by one collector and one sender in the same process; the
// caller keeps other processes out (the agent holds a lock on the state dir).
type Spool struct {
	dir string
	max int64

	mu     sync.Mutex
	items  []item // ordered by id
	bytes  int64
	nextID uint64
	drops  dropState
}

// Open opens (creating when needed) the spool in dir with bound maxBytes.
// Temporary files left by an interrupted write are removed; they were never
// part of the spool.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes < MinMaxBytes {
		return nil, fmt.Errorf("open spool %q: bound %d: %w", dir, maxBytes, ErrBound)
	}
	if err := atomicfile.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := atomicfile.Clean(dir); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{dir: dir, max: maxBytes, nextID: 1}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %q: %w", dir, err)
	}
	for _, e := range entries {
		id, records, ok := parseName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("open spool %q: %w", dir, err)
		}
		s.items = append(s.items, item{id: id, records: records, size: fi.Size()})
		s.bytes += fi.Size()
		s.nextID = max(s.nextID, id+1)
	}
	slices.SortFunc(s.items, func(a, b item) int { return cmpUint(a.id, b.id) })
	if raw, err := os.ReadFile(filepath.Join(dir, dropsFile)); err == nil {
		if err := json.Unmarshal(raw, &s.drops); err != nil {
			return nil, fmt.Errorf("open spool: read %q: %w", dropsFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return s, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fileName(id uint64, records int) string {
	return fmt.Sprintf("%020d-%d%s", id, records, suffix)
}

func parseName(name string) (id uint64, records int, ok bool) {
	base, found := strings.CutSuffix(name, suffix)
	if !found || atomicfile.IsTemp(name) {
		return 0, 0, false
	}
	idPart, recPart, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(idPart, 10, 64)
	if err != nil || id == 0 {
		return 0, 0, false
	}
	records, err = strconv.Atoi(recPart)
	if err != nil || records < 0 {
		return 0, 0, false
	}
	return id, records, true
}

func (s *Spool) path(it item) string { return filepath.Join(s.dir, fileName(it.id, it.records)) }

// Append stores body durably as the newest batch. When the bound would be
// exceeded, the oldest batches are dropped first and counted; dropped tells
// how many this call dropped.
func (s *Spool) Append(body []byte, records int) (dropped Drops, err error) {
	size := int64(len(body))
	if size > s.max {
		return Drops{}, fmt.Errorf("spool append of %d bytes: %w", size, ErrTooLarge)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.bytes+size > s.max && len(s.items) > 0 {
		old := s.items[0]
		if err := atomicfile.Remove(s.path(old)); err != nil {
			return dropped, fmt.Errorf("spool drop: %w", err)
		}
		s.items = s.items[1:]
		s.bytes -= old.size
		dropped.Batches++
		dropped.Records += int64(old.records)
	}
	if dropped.Batches > 0 {
		s.drops.Unreported.Batches += dropped.Batches
		s.drops.Unreported.Records += dropped.Records
		s.drops.Total.Batches += dropped.Batches
		s.drops.Total.Records += dropped.Records
		if err := s.saveDrops(); err != nil {
			return dropped, err
		}
	}
	it := item{id: s.nextID, records: records, size: size}
	if err := atomicfile.Write(s.path(it), body, 0o600); err != nil {
		return dropped, fmt.Errorf("spool append: %w", err)
	}
	s.nextID++
	s.items = append(s.items, it)
	s.bytes += size
	return dropped, nil
}

func (s *Spool) saveDrops() error {
	raw, err := json.Marshal(s.drops)
	if err != nil {
		return fmt.Errorf("spool drops: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, dropsFile), raw, 0o600); err != nil {
		return fmt.Errorf("spool drops: %w", err)
	}
	return nil
}

// Head returns the oldest batch, or ErrEmpty.
func (s *Spool) Head() (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) == 0 {
		return Entry{}, ErrEmpty
	}
	it := s.items[0]
	body, err := os.ReadFile(s.path(it))
	if err != nil {
		return Entry{}, fmt.Errorf("spool head: %w", err)
	}
	return Entry{ID: it.id, Records: it.records, Body: body}, nil
}

// Remove deletes the batch id once the hub has acknowledged it. Removing a
// batch that is already gone is not an error.
func (s *Spool) Remove(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(id)
	if i < 0 {
		return nil
	}
	if err := atomicfile.Remove(s.path(s.items[i])); err != nil {
		return fmt.Errorf("spool remove: %w", err)
	}
	s.bytes -= s.items[i].size
	s.items = slices.Delete(s.items, i, i+1)
	return nil
}

// Replace atomically rewrites batch id with body (after the hub asked for a
// new seq). It returns ErrGone if the batch was dropped meanwhile.
func (s *Spool) Replace(id uint64, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("spool replace %d: %w", id, ErrGone)
	}
	if err := atomicfile.Write(s.path(s.items[i]), body, 0o600); err != nil {
		return fmt.Errorf("spool replace: %w", err)
	}
	s.bytes += int64(len(body)) - s.items[i].size
	s.items[i].size = int64(len(body))
	return nil
}

func (s *Spool) find(id uint64) int {
	i, ok := slices.BinarySearchFunc(s.items, id, func(it item, id uint64) int { return cmpUint(it.id, id) })
	if !ok {
		return -1
	}
	return i
}

// Stats returns the spool's depth, size and drop counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Batches: len(s.items), Bytes: s.bytes, MaxBytes: s.max, Unsent: s.drops.Unreported, DropTotal: s.drops.Total}
}

// AckDrops records that d (a value Stats returned in Unsent) has been put in
// an agent_status record; drops that happened since stay unreported.
func (s *Spool) AckDrops(d Drops) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Batches == 0 && d.Records == 0 {
		return nil
	}
	s.drops.Unreported.Batches = max(0, s.drops.Unreported.Batches-d.Batches)
	s.drops.Unreported.Records = max(0, s.drops.Unreported.Records-d.Records)
	return s.saveDrops()
}

// Inspect reads the spool's stats without opening it for writing, so that a
// status command can run beside the agent without disturbing it.
func Inspect(dir string) (Stats, error) {
	var st Stats
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("inspect spool %q: %w", dir, err)
	}
	for _, e := range entries {
		if _, _, ok := parseName(e.Name()); !ok || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		st.Batches++
		st.Bytes += fi.Size()
	}
	var d dropState
	if raw, err := os.ReadFile(filepath.Join(dir, dropsFile)); err == nil {
		_ = json.Unmarshal(raw, &d)
	}
	st.Unsent, st.DropTotal = d.Unreported, d.Total
	return st, nil
}
