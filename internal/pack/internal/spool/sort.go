package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/monsys/hub/internal/canon"
)

// lineOverhead approximates the bookkeeping cost of one buffered line
// (its slice header, and the line list's growth) for the sort memory
// budget.
const lineOverhead = 32

// fileKey prefixes a file's lines in the lanes: its number in four base-128
// digits, each with the top bit set, so that the prefix sorts as the id
// does and holds neither '\n' (runs are split at newlines) nor 0x00 (the
// sort's end-of-line mark).
type fileKey [4]byte

const maxFiles = 1 << 28

func newFileKey(id int) fileKey {
	return fileKey{0x80 | byte(id>>21&0x7f), 0x80 | byte(id>>14&0x7f), 0x80 | byte(id>>7&0x7f), 0x80 | byte(id&0x7f)}
}

func (k fileKey) id() int {
	return int(k[0]&0x7f)<<21 | int(k[1]&0x7f)<<14 | int(k[2]&0x7f)<<7 | int(k[3]&0x7f)
}

// sorter holds a lane's canonical lines: they collect in memory until the
// lane's budget is exceeded, then are sorted and spilled to a run file. Its
// memory is what it holds, not what its lines need: every chunk's capacity
// plus lineOverhead a line.
type sorter struct {
	lines  [][]byte
	arena  []byte   // lines live in chunks of up to maxChunk bytes
	chunks [][]byte // every chunk the lines use, for reuse after a spill
	mem    int64
	runs   []string
}

// Buffered lines are written into chunks that start at minChunk bytes and
// double up to maxChunk: one allocation per chunk instead of one per line.
const (
	minChunk = 64 << 10
	maxChunk = 1 << 20
)

// room makes sure the current chunk has n bytes free, reusing a chunk of
// the lane's pool when one is big enough.
func (s *sorter) room(n int, p *pool) {
	if cap(s.arena)-len(s.arena) >= n {
		return
	}
	size := max(min(maxChunk, max(minChunk, 2*cap(s.arena))), n)
	s.newChunk(p.chunk(size))
}

func (s *sorter) newChunk(c []byte) {
	s.arena = c
	s.chunks = append(s.chunks, c)
	s.mem += int64(cap(c))
}

// addJSON canonicalizes raw straight into the sorter's chunk, as one line
// behind key.
func (s *sorter) addJSON(t *canon.Transformer, key fileKey, raw []byte, p *pool) error {
	// Canonical JSON is rarely longer than its input (only numbers such as
	// 1e20 grow), so this much room almost always holds the line.
	s.room(len(key)+len(raw)+64, p)
	start := len(s.arena)
	out, err := t.Append(append(s.arena, key[:]...), raw)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if cap(out) != cap(s.arena) {
		// The line outgrew the chunk and out is a new array: keep the line
		// alone in a chunk of its own.
		line := out[start:]
		s.newChunk(append(make([]byte, 0, len(line)), line...))
		start = 0
	} else {
		s.arena = out
	}
	s.lines = append(s.lines, s.arena[start:len(s.arena):len(s.arena)])
	s.mem += lineOverhead
	return nil
}

// spill writes the buffered lines as one sorted run in dir; their chunks
// and line list go back to the pool.
func (s *sorter) spill(dir string, p *pool) error {
	if len(s.lines) == 0 {
		return nil
	}
	name, err := p.writeRun(dir, s.lines)
	for _, c := range s.chunks {
		p.put(c)
	}
	p.putLines(s.lines)
	s.lines, s.arena, s.chunks, s.mem = p.takeLines(), nil, nil, 0
	if err != nil {
		return err
	}
	s.runs = append(s.runs, name)
	return nil
}

// pool keeps what a lane's spills leave behind for the next lines: chunks
// (up to limit bytes of them), one line list, the sort's scratch and the
// run writer's buffer. Reusing them spares the allocator, the zeroing of
// fresh memory and the page faults behind it.
type pool struct {
	free      [][]byte
	freeBytes int64
	limit     int64
	lines     [][]byte
	keys      []keyed
	bw        *bufio.Writer
}

// chunk returns an empty chunk of at least n bytes, a pooled one when it
// is big enough.
func (p *pool) chunk(n int) []byte {
	if k := len(p.free); k > 0 && cap(p.free[k-1]) >= n {
		c := p.free[k-1]
		p.free = p.free[:k-1]
		p.freeBytes -= int64(cap(c))
		return c[:0]
	}
	return make([]byte, 0, n)
}

func (p *pool) put(c []byte) {
	if cap(c) < maxChunk || p.freeBytes+int64(cap(c)) > p.limit {
		return // small chunks are cheap to make; the pool stays within the budget
	}
	p.free = append(p.free, c)
	p.freeBytes += int64(cap(c))
}

func (p *pool) putLines(l [][]byte) {
	if cap(l) > cap(p.lines) {
		clear(l[:cap(l)]) // drop the references to the chunks
		p.lines = l[:0]
	}
}

func (p *pool) takeLines() [][]byte {
	l := p.lines
	p.lines = nil
	return l
}

// writeRun sorts lines and writes them to a new run file in dir.
func (p *pool) writeRun(dir string, lines [][]byte) (string, error) {
	p.keys = sortLinesWith(lines, p.keys)
	return writeTemp(dir, "run-*", func(w io.Writer) error {
		if p.bw == nil {
			p.bw = bufio.NewWriterSize(w, 256<<10)
		}
		p.bw.Reset(w)
		for _, l := range lines {
			p.bw.Write(l)
		}
		return p.bw.Flush()
	})
}

// writeTemp creates a file in dir, has write fill it and closes it.
func writeTemp(dir, pattern string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("pack: spill sorted run: %w", err)
	}
	return f.Name(), nil
}

// maxFanIn bounds how many runs one merge reads at once (each holds an open
// file and a 64 KiB buffer): more runs are first merged into bigger ones.
const maxFanIn = 64

// reduceRuns merges runs, maxFanIn at a time, into new runs in dir until at
// most maxFanIn are left, removing the ones it merged.
func reduceRuns(dir string, runs []string) ([]string, error) {
	for len(runs) > maxFanIn {
		group := runs[:maxFanIn]
		name, err := writeTemp(dir, "run-*", func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 256<<10)
			if err := mergeRuns(group, nil, bw); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return runs, err
		}
		for _, r := range group {
			os.Remove(r)
		}
		runs = append(runs[maxFanIn:], name)
	}
	return runs, nil
}

type runReader struct {
	r    *bufio.Reader
	f    *os.File
	mem  [][]byte // lines still to come of an in-memory run (r and f nil)
	line []byte   // valid until the next call of next
	long []byte   // a line longer than the reader's buffer
}

type runHeap []*runReader

// mergeRuns k-way merges sorted run files and sorted in-memory lines
// (tails) into w, one whole line per Write.
func mergeRuns(runs []string, tails [][][]byte, w io.Writer) error {
	h := make(runHeap, 0, len(runs)+len(tails))
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
	for _, tail := range tails {
		if len(tail) > 0 {
			h = append(h, &runReader{mem: tail[1:], line: tail[0]})
		}
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
func sortLines(lines [][]byte) { sortLinesWith(lines, nil) }

// sortLinesWith is sortLines with scratch space to reuse; it returns it.
func sortLinesWith(lines [][]byte, scratch []keyed) []keyed {
	if len(lines) < 2 {
		return scratch
	}
	if cap(scratch) < len(lines) {
		scratch = make([]keyed, len(lines))
	}
	es := scratch[:len(lines)]
	for i, l := range lines {
		es[i] = keyed{chunkAt(l, 0), l}
	}
	budget := 2
	for n := len(lines); n > 1; n >>= 1 {
		budget += 2
	}
	mkqs(es, 0, budget)
	for i := range es {
		lines[i] = es[i].line
		es[i].line = nil
	}
	return scratch
}

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
