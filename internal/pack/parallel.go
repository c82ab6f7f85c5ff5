package pack

import (
	"fmt"
	"sync"

	"github.com/monsys/hub/internal/canon"
)

// batchBytes is how many bytes of raw records AddJSON collects before a
// worker canonicalizes them.
const batchBytes = 256 << 10

// job is a batch of raw records for one worker: raw holds them back to
// back, items says where each ends and which file it goes to.
type job struct {
	raw   []byte
	items []item
	lines []byte // the worker's canonical output
	ends  []int
}

type item struct {
	fw  *FileWriter
	end int
	n   int64 // record number in its file, for errors
}

// workers canonicalize batches of AddJSON records on several goroutines, so
// that a pack uses the machine's cores. Lines reach the sorters under the
// builder's lock; their order does not matter, as every file is sorted.
type workers struct {
	b     *Builder
	jobs  chan *job
	free  chan *job
	cur   *job
	wg    sync.WaitGroup // jobs in flight
	done  sync.WaitGroup // worker goroutines
	errMu sync.Mutex
	err   error
}

func newWorkers(b *Builder, n int) *workers {
	w := &workers{b: b, jobs: make(chan *job, n), free: make(chan *job, 2*n+1)}
	for range 2*n + 1 {
		w.free <- &job{}
	}
	w.cur = <-w.free
	w.done.Add(n)
	for range n {
		go w.run()
	}
	return w
}

func (w *workers) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

func (w *workers) firstErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// add queues one raw record of fw.
func (w *workers) add(fw *FileWriter, raw []byte) error {
	if err := w.firstErr(); err != nil {
		return err
	}
	fw.n++
	j := w.cur
	j.raw = append(j.raw, raw...)
	j.items = append(j.items, item{fw: fw, end: len(j.raw), n: fw.n})
	if len(j.raw) >= batchBytes {
		w.dispatch()
	}
	return nil
}

func (w *workers) dispatch() {
	if len(w.cur.items) == 0 {
		return
	}
	w.wg.Add(1)
	w.jobs <- w.cur
	w.cur = <-w.free
}

// flush hands over the current batch and waits until every batch is in the
// sorters; it returns the first error any record had.
func (w *workers) flush() error {
	w.dispatch()
	w.wg.Wait()
	return w.firstErr()
}

// stop ends the worker goroutines.
func (w *workers) stop() {
	w.wg.Wait()
	close(w.jobs)
	w.done.Wait()
}

func (w *workers) run() {
	defer w.done.Done()
	var t canon.Transformer
	for j := range w.jobs {
		w.canonicalize(&t, j)
		j.raw, j.items, j.lines, j.ends = j.raw[:0], j.items[:0], j.lines[:0], j.ends[:0]
		w.free <- j
		w.wg.Done()
	}
}

func (w *workers) canonicalize(t *canon.Transformer, j *job) {
	start := 0
	for _, it := range j.items {
		var err error
		j.lines, err = t.Append(j.lines, j.raw[start:it.end])
		if err != nil {
			w.fail(fmt.Errorf("pack: record %d of %q: %w", it.n, it.fw.path, err))
			return
		}
		j.lines = append(j.lines, '\n')
		j.ends = append(j.ends, len(j.lines))
		start = it.end
	}
	b := w.b
	b.mu.Lock()
	defer b.mu.Unlock()
	from := 0
	for i, it := range j.items {
		line := j.lines[from:j.ends[i]]
		from = j.ends[i]
		b.mem += it.fw.s.add(line)
		if b.mem <= b.opts.SortMemory {
			continue
		}
		// Over the budget: wait for a run being written to free its memory
		// (its lines still count), then take the biggest open file's lines
		// out and write them as a run without the lock, so that the other
		// workers go on canonicalizing meanwhile.
		for b.spilling {
			b.spilled.Wait()
		}
		if b.mem <= b.opts.SortMemory {
			continue
		}
		fw := b.largestOpen()
		if fw == nil || b.heldMem() > fw.s.mem {
			if err := b.spillLargest(); err != nil {
				w.fail(err)
				return
			}
			continue
		}
		lines, freed := fw.s.detach()
		b.spilling = true
		b.mu.Unlock()
		name, err := writeRun(b.dir, lines)
		b.mu.Lock()
		b.mem -= freed
		b.spilling = false
		b.spilled.Broadcast()
		if err != nil {
			w.fail(err)
			return
		}
		fw.s.runs = append(fw.s.runs, name) // the file stays open until every job is done
	}
}
