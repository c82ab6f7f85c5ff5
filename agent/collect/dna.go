package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/monsys/hub/internal/batch"
)

// ProcessDNA is a "process_dna" record: one per distinct executable file
// running, with the processes running it.
type ProcessDNA struct {
	Type    string   `json:"type"`
	TS      string   `json:"ts"`
	Exe     string   `json:"exe"`
	SHA256  string   `json:"sha256"`
	Size    int64    `json:"size"`
	MTime   string   `json:"mtime"`
	Inode   uint64   `json:"inode,omitempty"`
	Deleted bool     `json:"deleted,omitempty"` // the file was replaced or removed since exec
	PIDs    []int32  `json:"pids"`
	Names   []string `json:"names"`
}

// Proc is one running process as a ProcSource sees it.
type Proc struct {
	PID  int32
	Name string
	// Exe is the executable's path as the kernel reports it.
	Exe string
	// Open opens the executable the process runs (on Linux via
	// /proc/<pid>/exe, which reaches the file even if it was replaced).
	Open func() (*os.File, error)
}

// ProcSource lists running processes.
type ProcSource interface {
	Procs(ctx context.Context) ([]Proc, error)
}

// fileKey identifies an executable's content cheaply: a change of inode or
// mtime or size means the file must be hashed again.
type fileKey struct {
	dev, ino uint64
	path     string // only where there are no inodes
	size     int64
	mtime    int64
}

// DNA collects process_dna records. Hashes are cached by inode and mtime,
// so a pass over unchanged processes costs a stat per process.
type DNA struct {
	Source ProcSource

	cache map[fileKey]string
	// Hashed counts files hashed (cache misses) over the collector's life.
	Hashed int
}

var _ Collector = (*DNA)(nil)

// Name implements Collector.
func (d *DNA) Name() string { return "process_dna" }

// Collect implements Collector. Processes that vanish or cannot be read
// (another user's, without privileges) are skipped.
func (d *DNA) Collect(ctx context.Context, now time.Time) ([]any, error) {
	if d.cache == nil {
		d.cache = map[fileKey]string{}
	}
	procs, err := d.Source.Procs(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect process_dna: %w", err)
	}
	byKey := map[fileKey]*ProcessDNA{}
	var order []fileKey
	seen := map[fileKey]bool{}
	for _, p := range procs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, key, err := d.one(p)
		if err != nil {
			continue
		}
		seen[key] = true
		if r, ok := byKey[key]; ok {
			r.PIDs = append(r.PIDs, p.PID)
			if !slices.Contains(r.Names, p.Name) {
				r.Names = append(r.Names, p.Name)
			}
			continue
		}
		rec.TS = batch.TS(now)
		byKey[key] = rec
		order = append(order, key)
	}
	for k := range d.cache {
		if !seen[k] {
			delete(d.cache, k) // keep the cache as large as what runs
		}
	}
	slices.SortFunc(order, func(a, b fileKey) int {
		return strings.Compare(byKey[a].Exe, byKey[b].Exe)
	})
	out := make([]any, 0, len(order))
	for _, k := range order {
		r := byKey[k]
		slices.Sort(r.PIDs)
		slices.Sort(r.Names)
		out = append(out, *r)
	}
	return out, nil
}

func (d *DNA) one(p Proc) (*ProcessDNA, fileKey, error) {
	f, err := p.Open()
	if err != nil {
		return nil, fileKey{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileKey{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fileKey{}, errors.New("not a regular file")
	}
	key := keyOf(p.Exe, fi)
	sum, ok := d.cache[key]
	if !ok {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, fileKey{}, err
		}
		sum = hex.EncodeToString(h.Sum(nil))
		d.cache[key] = sum
		d.Hashed++
	}
	exe, deleted := strings.CutSuffix(p.Exe, " (deleted)")
	return &ProcessDNA{
		Type: "process_dna", Exe: exe, SHA256: sum, Size: fi.Size(),
		MTime: fi.ModTime().UTC().Format(time.RFC3339), Inode: key.ino, Deleted: deleted,
		PIDs: []int32{p.PID}, Names: []string{p.Name},
	}, key, nil
}
