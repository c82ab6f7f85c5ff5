package pack

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
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
	arena []byte // lines are copied into chunks of arenaChunk bytes
	mem   int64
	runs  []string
}

// Buffered lines are copied into chunks that start at minChunk bytes and
// double up to maxChunk: one allocation per chunk instead of one per line,
// and a file with few lines (a pack has many) holds little.
const (
	minChunk = 4 << 10
	maxChunk = 1 << 20
)

// add copies line into the sorter and returns the memory it now takes.
func (s *sorter) add(line []byte) int64 {
	if cap(s.arena)-len(s.arena) < len(line) {
		size := min(maxChunk, max(minChunk, 2*cap(s.arena)))
		s.arena = make([]byte, 0, max(size, len(line)))
	}
	start := len(s.arena)
	s.arena = append(s.arena, line...)
	s.lines = append(s.lines, s.arena[start:len(s.arena):len(s.arena)])
	n := int64(len(line)) + lineOverhead
	s.mem += n
	return n
}

// spill writes the buffered lines as one sorted run and returns the memory
// it freed.
func (s *sorter) spill() (int64, error) {
	lines, freed := s.detach()
	if len(lines) == 0 {
		return freed, nil
	}
	name, err := writeRun(s.dir, lines)
	if err != nil {
		return freed, err
	}
	s.runs = append(s.runs, name)
	return freed, nil
}

// detach takes the buffered lines out of the sorter, to be written as a run
// by writeRun (possibly without the builder's lock), and returns the memory
// they took.
func (s *sorter) detach() ([][]byte, int64) {
	lines, freed := s.lines, s.mem
	s.lines, s.arena, s.mem = nil, nil, 0
	return lines, freed
}

// writeRun sorts lines and writes them to a new run file in dir.
func writeRun(dir string, lines [][]byte) (string, error) {
	f, err := os.CreateTemp(dir, "run-*")
	if err != nil {
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	sortLines(lines)
	w := bufio.NewWriterSize(f, 256<<10)
	for _, l := range lines {
		w.Write(l)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	return f.Name(), nil
}

// spooled is a finished data file: sorted lines, hashed and counted, in
// memory (lines) while the builder's budget allows, else on disk (file).
type spooled struct {
	path    string   // relative to data/
	file    string   // spool file on disk, when lines and runs are nil
	lines   [][]byte // sorted lines kept in memory
	runs    []string // sorted runs, merged again when the archive is written
	tail    [][]byte // with runs: the last, sorted lines, kept in memory
	mem     int64    // budget the lines take
	size    int64
	records int64
	sha256  string
}

// toDisk writes what a finished file holds in memory to disk and returns
// the memory freed: the tail of a file with runs as one more run, or a whole
// file as a spool file.
func (sp *spooled) toDisk(dir string) (int64, error) {
	if sp.tail != nil {
		name, err := writeRun(dir, sp.tail)
		if err != nil {
			return 0, err
		}
		freed := sp.mem
		sp.runs, sp.tail, sp.mem = append(sp.runs, name), nil, 0
		return freed, nil
	}
	f, err := os.CreateTemp(dir, "data-*")
	if err != nil {
		return 0, fmt.Errorf("pack: spool %q: %w", sp.path, err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	for _, l := range sp.lines {
		w.Write(l)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("pack: spool %q: %w", sp.path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("pack: spool %q: %w", sp.path, err)
	}
	freed := sp.mem
	sp.file, sp.lines, sp.mem = f.Name(), nil, 0
	return freed, nil
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

// finishInMemory sorts the lines of a file that never spilled and keeps
// them, hashed and counted, in memory.
func (s *sorter) finishInMemory(rel string) *spooled {
	sortLines(s.lines)
	h := sha256.New()
	var size int64
	buf := make([]byte, 0, 64<<10) // hash in blocks, not line by line
	for _, l := range s.lines {
		if len(buf)+len(l) > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = append(buf, l...)
		size += int64(len(l))
	}
	h.Write(buf)
	if s.lines == nil {
		s.lines = [][]byte{} // in memory, with no lines
	}
	sp := &spooled{path: rel, lines: s.lines, mem: s.mem, size: size, records: int64(len(s.lines)),
		sha256: hex.EncodeToString(h.Sum(nil))}
	s.lines, s.arena, s.mem = nil, nil, 0
	return sp
}

// finish sorts the lines still buffered (they stay in memory, as the tail)
// and merges them with the runs once to hash and count the file; Finish
// merges them again into the archive. Reading runs twice costs less than
// writing the merged file once.
func (s *sorter) finish(rel string) (*spooled, error) {
	sortLines(s.lines)
	tail := s.lines
	if tail == nil {
		tail = [][]byte{}
	}
	ch := &countingHash{h: sha256.New()}
	aw := newAsyncWriter(ch)
	w := bufio.NewWriterSize(aw, 256<<10)
	err := mergeRuns(s.runs, tail, w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := aw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pack: merge %q: %w", rel, err)
	}
	sp := &spooled{path: rel, runs: s.runs, tail: tail, mem: s.mem, size: ch.size, records: ch.lines,
		sha256: hex.EncodeToString(ch.h.Sum(nil))}
	s.runs, s.lines, s.arena, s.mem = nil, nil, nil, 0
	return sp, nil
}

type runReader struct {
	r    *bufio.Reader
	f    *os.File
	mem  [][]byte // lines still to come of an in-memory run (r and f nil)
	line []byte   // valid until the next call of next
	long []byte   // a line longer than the reader's buffer
}

type runHeap []*runReader

// mergeRuns k-way merges sorted run files and the sorted lines of tail into w.
func mergeRuns(runs []string, tail [][]byte, w io.Writer) error {
	h := make(runHeap, 0, len(runs))
	defer func() {
		for _, r := range h {
			r.close()
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
	if len(tail) > 0 {
		h = append(h, &runReader{mem: tail[1:], line: tail[0]})
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for len(h) > 0 {
		top := h[0]
		if _, err := w.Write(top.line); err != nil {
			return err
		}
		switch err := top.next(); {
		case err == io.EOF:
			top.close()
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
			siftDown(h, 0)
		case err != nil:
			return err
		default:
			siftDown(h, 0)
		}
	}
	return nil
}

// siftDown restores the heap order below i (a hand-written container/heap
// step: no interface calls on the merge's hot path). Equal lines are equal
// bytes, so their order does not matter.
func siftDown(h runHeap, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && bytes.Compare(h[r].line, h[l].line) < 0 {
			m = r
		}
		if bytes.Compare(h[m].line, h[i].line) >= 0 {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (r *runReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// next reads the next line without copying it when it fits the buffer.
func (r *runReader) next() error {
	if r.f == nil {
		if len(r.mem) == 0 {
			return io.EOF
		}
		r.line, r.mem = r.mem[0], r.mem[1:]
		return nil
	}
	line, err := r.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.r.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err == io.EOF && len(line) > 0 {
		return io.ErrUnexpectedEOF // runs hold only complete lines
	}
	if err != nil {
		return err
	}
	r.line = line
	return nil
}

// sortLines sorts lines by bytes.Compare. The lines of one data file share
// long prefixes (`{"agent_id":"…","cpu":…`) where byte-wise comparisons
// spend most of their time, so this is a multikey quicksort (Bentley and
// Sedgewick) on 8-byte chunks: lines are partitioned three ways on the
// chunk at depth d, and the equal part moves on to d+8, never comparing
// the bytes they are known to share. Each line's current chunk sits beside
// it in an array, so partitioning reads memory in order. Canonical lines
// hold no 0x00 byte, so a chunk that runs past the end of a line
// (zero-padded) ends the line.
func sortLines(lines [][]byte) {
	if len(lines) < 2 {
		return
	}
	es := make([]keyed, len(lines))
	for i, l := range lines {
		es[i] = keyed{chunkAt(l, 0), l}
	}
	budget := 2
	for n := len(lines); n > 1; n >>= 1 {
		budget += 2
	}
	if len(es) < parallelSort || runtime.GOMAXPROCS(0) < 2 {
		mkqs(es, 0, budget)
		for i := range es {
			lines[i] = es[i].line
		}
		return
	}
	// Two halves on two cores, then one merge.
	half := len(es) / 2
	a, b := es[:half], es[half:]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		mkqs(a, 0, budget)
	}()
	mkqs(b, 0, budget)
	wg.Wait()
	i, j := 0, 0
	for k := range lines {
		if j == len(b) || (i < len(a) && bytes.Compare(a[i].line, b[j].line) <= 0) {
			lines[k] = a[i].line
			i++
		} else {
			lines[k] = b[j].line
			j++
		}
	}
}

// parallelSort is the number of lines from which sortLines uses two cores.
const parallelSort = 1 << 15

// keyed is a line and its 8 bytes at the current sort depth.
type keyed struct {
	key  uint64
	line []byte
}

func chunkAt(l []byte, d int) uint64 {
	if d+8 <= len(l) {
		return binary.BigEndian.Uint64(l[d:])
	}
	var k uint64
	for j := d; j < d+8; j++ {
		k <<= 8
		if j < len(l) {
			k |= uint64(l[j])
		}
	}
	return k
}

func tail(l []byte, d int) []byte { return l[min(d, len(l)):] }

// mkqs sorts a, whose lines share their first d bytes and whose keys are
// their chunks at d.
func mkqs(a []keyed, d, budget int) {
	for len(a) > 1 {
		if len(a) <= 12 || budget == 0 {
			// Small or unlucky partitions: a plain sort of what follows the
			// d bytes they share.
			slices.SortFunc(a, func(x, y keyed) int {
				if x.key != y.key {
					if x.key < y.key {
						return -1
					}
					return 1
				}
				return bytes.Compare(tail(x.line, d), tail(y.line, d))
			})
			return
		}
		budget--
		x, y, z := a[0].key, a[len(a)/2].key, a[len(a)-1].key
		p := max(min(x, y), min(max(x, y), z)) // median of three
		lt, i, gt := 0, 0, len(a)
		for i < gt {
			switch k := a[i].key; {
			case k < p:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case k > p:
				gt--
				a[i], a[gt] = a[gt], a[i]
			default:
				i++
			}
		}
		mkqs(a[:lt], d, budget)
		mkqs(a[gt:], d, budget)
		a = a[lt:gt]
		if p&0xff == 0 {
			// The equal lines end inside this chunk; they are identical unless
			// they hold 0x00 bytes, which canonical JSON never does.
			slices.SortFunc(a, func(x, y keyed) int { return bytes.Compare(tail(x.line, d), tail(y.line, d)) })
			return
		}
		d += 8
		for i := range a {
			a[i].key = chunkAt(a[i].line, d)
		}
	}
}

// asyncWriter passes what it is given to w on another goroutine, in 256 KiB
// blocks, two at a time: merging runs (the producer) and hashing or
// compressing (w) then use two cores. Errors of w are returned by Close;
// blocks after the first error are dropped.
type asyncWriter struct {
	w    io.Writer
	free chan []byte
	full chan []byte
	done chan struct{}
	err  error // set by run, read after done
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, free: make(chan []byte, 2), full: make(chan []byte, 2), done: make(chan struct{})}
	for range 2 {
		a.free <- make([]byte, 0, 256<<10)
	}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.full {
		if a.err == nil {
			_, a.err = a.w.Write(b)
		}
		a.free <- b[:0]
	}
}

// Write copies p into blocks and queues them.
func (a *asyncWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		b := <-a.free
		k := min(len(p), cap(b))
		a.full <- append(b, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// Close waits until every block is written and returns the first error.
func (a *asyncWriter) Close() error {
	close(a.full)
	<-a.done
	return a.err
}
