package pack

import (
	"bufio"
	"bytes"
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
)

// lineOverhead approximates the bookkeeping cost of one buffered line
// (slice header and allocation rounding) for the sort memory budget.
const lineOverhead = 32

// sorter sorts the canonical lines of one data file: lines collect in
// memory; when the builder's budget is exceeded they are sorted and spilled
// to a run file; finish merges the runs into the final spool file.
type sorter struct {
	dir   string
	lines [][]byte
	mem   int64
	runs  []string
}

func (s *sorter) add(line []byte) int64 {
	s.lines = append(s.lines, line)
	n := int64(len(line)) + lineOverhead
	s.mem += n
	return n
}

// spill writes the buffered lines as one sorted run and returns the memory
// it freed.
func (s *sorter) spill() (int64, error) {
	if len(s.lines) == 0 {
		return 0, nil
	}
	f, err := os.CreateTemp(s.dir, "run-*")
	if err != nil {
		return 0, fmt.Errorf("pack: spill sorted run: %w", err)
	}
	s.runs = append(s.runs, f.Name())
	slices.SortFunc(s.lines, bytes.Compare)
	w := bufio.NewWriterSize(f, 256<<10)
	for _, l := range s.lines {
		if _, err := w.Write(l); err != nil {
			f.Close()
			return 0, fmt.Errorf("pack: spill sorted run: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("pack: spill sorted run: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("pack: spill sorted run: %w", err)
	}
	freed := s.mem
	s.lines, s.mem = nil, 0
	return freed, nil
}

// spooled is a finished data file: sorted lines on disk, hashed and counted.
type spooled struct {
	path    string // relative to data/
	file    string // spool file on disk
	size    int64
	records int64
	sha256  string
}

// countingHash hashes, counts bytes and counts lines of what is written.
type countingHash struct {
	h     hash.Hash
	size  int64
	lines int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.size += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// finish writes all lines, sorted, to a new spool file, and removes runs.
func (s *sorter) finish(rel string) (*spooled, error) {
	f, err := os.CreateTemp(s.dir, "data-*")
	if err != nil {
		return nil, fmt.Errorf("pack: spool %q: %w", rel, err)
	}
	ch := &countingHash{h: sha256.New()}
	w := bufio.NewWriterSize(io.MultiWriter(f, ch), 256<<10)
	if len(s.runs) == 0 {
		slices.SortFunc(s.lines, bytes.Compare)
		for _, l := range s.lines {
			w.Write(l)
		}
		s.lines, s.mem = nil, 0
	} else {
		if _, err := s.spill(); err != nil {
			f.Close()
			return nil, err
		}
		err = mergeRuns(s.runs, w)
		for _, r := range s.runs {
			os.Remove(r)
		}
		s.runs = nil
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pack: merge %q: %w", rel, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("pack: spool %q: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("pack: spool %q: %w", rel, err)
	}
	return &spooled{
		path: rel, file: f.Name(), size: ch.size, records: ch.lines,
		sha256: hex.EncodeToString(ch.h.Sum(nil)),
	}, nil
}

type runReader struct {
	r    *bufio.Reader
	f    *os.File
	line []byte
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bytes.Compare(h[i].line, h[j].line) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRuns k-way merges sorted run files into w.
func mergeRuns(runs []string, w io.Writer) error {
	h := make(runHeap, 0, len(runs))
	defer func() {
		for _, r := range h {
			r.f.Close()
		}
	}()
	for _, name := range runs {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rr := &runReader{r: bufio.NewReaderSize(f, 64<<10), f: f}
		if err := rr.next(); err == io.EOF {
			f.Close()
			continue
		} else if err != nil {
			f.Close()
			return err
		}
		h = append(h, rr)
	}
	heap.Init(&h)
	for h.Len() > 0 {
		top := h[0]
		if _, err := w.Write(top.line); err != nil {
			return err
		}
		switch err := top.next(); {
		case err == io.EOF:
			top.f.Close()
			heap.Pop(&h)
		case err != nil:
			return err
		default:
			heap.Fix(&h, 0)
		}
	}
	return nil
}

func (r *runReader) next() error {
	line, err := r.r.ReadBytes('\n')
	if err == io.EOF && len(line) > 0 {
		return io.ErrUnexpectedEOF // runs hold only complete lines
	}
	if err != nil {
		return err
	}
	r.line = line
	return nil
}
