// Package spool is the evidence-pack builder's engine: an external sort
// of canonical NDJSON lines into deflate segments, and the gzip stream
// that splices them.
//
// A Spool collects the records of many files, known by number. Each record
// is canonicalized (RFC 8785, internal/canon) into a line of a lane's
// buffer; a lane over its share of the memory budget sorts its buffer and
// spills it to a run file. Seal merges every run and the lanes' last lines
// once: the lines come out grouped by file, each file's sorted, and each
// file is hashed, counted and deflated into its own segment of one segment
// file. Gzip then writes one gzip member from plain bytes and those
// segments. What the files are called, what goes in them and how the
// archive around them is laid out is internal/pack's; its errors read as
// the builder's ("pack: ...").
package spool

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
)

// MaxFiles is how many files one Spool holds.
const MaxFiles = maxFiles

// ErrLevel reports a deflate level klauspost/compress does not have.
var ErrLevel = errors.New("spool: invalid deflate level")

// Options tune a Spool; New fills in the zero values.
type Options struct {
	// TempDir is where New makes the spool's own directory of runs and
	// segments (default os.TempDir()).
	TempDir string
	// Memory bounds the bytes of lines held in memory, shared evenly by
	// the lanes (default 16 MiB).
	Memory int64
	// Workers is how many goroutines canonicalize records, each into its
	// own lane (default GOMAXPROCS; 1 canonicalizes in the caller).
	Workers int
	// Level is the deflate level of the segments and of Gzip.
	Level int
}

// DefaultMemory is Options.Memory's default.
const DefaultMemory = 16 << 20

// Spool holds the lines of numbered files until Seal. It is not safe for
// concurrent use; Close removes its files.
type Spool struct {
	opts    Options
	dir     string
	names   []string // by file number, for errors
	counts  []int64  // records added, by file number
	lanes   []*lane
	workers *workers      // nil: records are canonicalized in the caller
	zw      *flate.Writer // deflates segments, then Gzip's own bytes
	segs    *os.File      // the segment file, once sealed
	err     error         // a bad record or a failed spill: the spool is broken
	closed  bool
}

// New makes a Spool in a new directory under opts.TempDir.
func New(opts Options) (*Spool, error) {
	if opts.Memory <= 0 {
		opts.Memory = DefaultMemory
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	zw, err := flate.NewWriter(io.Discard, opts.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: %d", ErrLevel, opts.Level)
	}
	dir, err := os.MkdirTemp(opts.TempDir, "monsys-pack-*")
	if err != nil {
		return nil, fmt.Errorf("pack: temp dir: %w", err)
	}
	s := &Spool{opts: opts, dir: dir, zw: zw}
	for range opts.Workers {
		s.lanes = append(s.lanes, newLane(dir, opts.Memory/int64(opts.Workers)))
	}
	if opts.Workers > 1 {
		s.workers = newWorkers(s.lanes)
	}
	return s, nil
}

// NewFile adds a file and returns its number: 0, 1, 2... name is only for
// errors.
func (s *Spool) NewFile(name string) (int, error) {
	if len(s.names) >= maxFiles {
		return 0, fmt.Errorf("more than %d data files", maxFiles)
	}
	s.names = append(s.names, name)
	s.counts = append(s.counts, 0)
	return len(s.names) - 1, nil
}

// Err is the error that broke the spool, if any: a record that does not
// canonicalize or a spill that failed, as Add or Flush returned it.
func (s *Spool) Err() error { return s.err }

// Add canonicalizes raw as the next line of file. raw is not retained. With
// workers the record is canonicalized in the background and its error
// comes back from a later Add or from Flush.
func (s *Spool) Add(file int, raw []byte) error {
	if s.workers != nil {
		s.counts[file]++
		if err := s.workers.add(file, raw, s.counts[file]); err != nil {
			return s.describe(err)
		}
		return nil
	}
	if s.err != nil {
		return fmt.Errorf("pack: a data file failed: %w", s.err)
	}
	s.counts[file]++
	if err := s.lanes[0].add(file, raw, s.counts[file]); err != nil {
		s.err = s.describe(err)
		return s.err
	}
	return nil
}

// Flush waits until every record added is in its lane and returns the
// first error any had.
func (s *Spool) Flush() error {
	if s.workers == nil {
		return nil
	}
	if err := s.workers.flush(); err != nil {
		err = s.describe(err)
		if s.err == nil {
			s.err = err
		}
		return err
	}
	return nil
}

// describe names the file of a record error.
func (s *Spool) describe(err error) error {
	var re *recordError
	if errors.As(err, &re) {
		return fmt.Errorf("pack: record %d of %q: %w", re.n, s.names[re.file], re.err)
	}
	return err
}

// Seal merges every lane's runs and last lines once and deflates each
// file's lines into its segment of the segment file, hashing, checksumming
// and counting them on the way. It returns the segments by file number;
// nothing can be added after it.
func (s *Spool) Seal(ctx context.Context) ([]Segment, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.segs != nil {
		return nil, errors.New("pack: spool sealed twice")
	}
	var runs []string
	var tails [][][]byte
	for _, l := range s.lanes {
		r, t := l.take()
		runs = append(runs, r...)
		if len(t) > 0 {
			tails = append(tails, t)
		}
	}
	defer func() {
		for _, r := range runs {
			os.Remove(r) // merged or not, they are done with
		}
	}()
	// The lanes' last lines are sorted side by side, a core each.
	var wg sync.WaitGroup
	for _, t := range tails[min(1, len(tails)):] {
		wg.Go(func() { sortLines(t) })
	}
	if len(tails) > 0 {
		sortLines(tails[0])
	}
	wg.Wait()
	var err error
	if runs, err = reduceRuns(s.dir, runs); err != nil {
		return nil, fmt.Errorf("pack: merge runs: %w", err)
	}
	if s.segs, err = os.CreateTemp(s.dir, "segments-*"); err != nil {
		return nil, fmt.Errorf("pack: segment file: %w", err)
	}
	segw := bufio.NewWriterSize(s.segs, 256<<10)
	g := newSegmenter(s.zw, &countWriter{w: segw})
	d := &demux{ctx: ctx, g: g, cur: -1}
	err = mergeRuns(runs, tails, d)
	if d.cur >= 0 {
		g.End()
	}
	got, gerr := g.Close()
	if err == nil {
		err = gerr
	}
	if err == nil {
		err = segw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("pack: write data files: %w", err)
	}
	empty := sha256.Sum256(nil)
	out := make([]Segment, len(s.names))
	for i := range out {
		out[i] = Segment{SHA256: hex.EncodeToString(empty[:])}
	}
	for i, seg := range got {
		out[d.ids[i]] = seg
	}
	return out, nil
}

// demux passes merged lines, one whole line a Write, to a segmenter
// without their file key, ending a file's segment where the key changes.
// It stops the merge when ctx ends.
type demux struct {
	ctx   context.Context
	g     *segmenter
	cur   int   // the current file's number, -1 before the first line
	ids   []int // the number of each file ended, in order
	lines int
}

func (d *demux) Write(line []byte) (int, error) {
	var k fileKey
	if len(line) < len(k) {
		return 0, fmt.Errorf("pack: merged line of %d bytes has no file key", len(line))
	}
	copy(k[:], line)
	if d.lines++; d.lines%(64<<10) == 0 {
		if err := d.ctx.Err(); err != nil {
			return 0, err
		}
	}
	if id := k.id(); id != d.cur {
		if d.cur >= 0 {
			d.g.End()
		}
		d.cur = id
		d.ids = append(d.ids, id)
	}
	d.g.Write(line[len(k):])
	return len(line), nil
}

// Close stops the workers and removes the spool's files. It is safe to
// call more than once.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.workers != nil {
		s.workers.stop()
	}
	if s.segs != nil {
		s.segs.Close()
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("pack: remove temp dir: %w", err)
	}
	return nil
}
