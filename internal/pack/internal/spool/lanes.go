package spool

import (
	"fmt"
	"sync"

	"github.com/monsys/hub/internal/canon"
)

// lane canonicalizes records and keeps their lines within its share of
// Options.Memory, spilling sorted runs when it is over. Each worker
// goroutine owns one lane, so adding a line takes no lock; without workers
// the caller uses the spool's only lane. A lane keeps the lines of every
// file in one sorter, each line behind its file's number (fileKey), so
// that the number of files does not divide the budget: runs stay about
// the budget's size however many files a pack has. Seal merges every
// lane's runs and last lines once; the merged lines come out grouped by
// file, each file's sorted.
type lane struct {
	dir    string
	t      canon.Transformer
	s      sorter
	budget int64
	pool   pool
}

func newLane(dir string, budget int64) *lane {
	budget = max(budget, 1)
	return &lane{dir: dir, budget: budget, pool: pool{limit: budget}}
}

// add canonicalizes raw, record n of file, into the lane.
func (l *lane) add(file int, raw []byte, n int64) error {
	if err := l.s.addJSON(&l.t, newFileKey(file), raw, &l.pool); err != nil {
		return &recordError{file: file, n: n, err: err}
	}
	if l.s.mem > l.budget {
		return l.s.spill(l.dir, &l.pool)
	}
	return nil
}

// take removes the lane's runs and its buffered lines (not yet sorted).
func (l *lane) take() (runs []string, tail [][]byte) {
	runs, tail = l.s.runs, l.s.lines
	l.s = sorter{}
	return runs, tail
}

// recordError is a record that does not canonicalize, as a lane found it.
type recordError struct {
	file int
	n    int64
	err  error
}

func (e *recordError) Error() string {
	return fmt.Sprintf("record %d of file %d: %v", e.n, e.file, e.err)
}
func (e *recordError) Unwrap() error { return e.err }

// batchBytes is how many bytes of raw records Add collects before a
// worker canonicalizes them.
const batchBytes = 256 << 10

// job is a batch of raw records for one worker: raw holds them back to
// back, items says where each ends and which file it goes to.
type job struct {
	raw   []byte
	items []item
}

type item struct {
	file int
	end  int
	n    int64 // record number in its file, for errors
}

// workers canonicalize batches of AddJSON records on several goroutines,
// each into its own lane, so that a pack uses the machine's cores.
type workers struct {
	jobs  chan *job
	free  chan *job
	cur   *job
	wg    sync.WaitGroup // jobs in flight
	done  sync.WaitGroup // worker goroutines
	errMu sync.Mutex
	err   error
}

func newWorkers(lanes []*lane) *workers {
	n := len(lanes)
	w := &workers{jobs: make(chan *job, n), free: make(chan *job, 2*n+1)}
	for range 2*n + 1 {
		w.free <- &job{}
	}
	w.cur = <-w.free
	w.done.Add(n)
	for _, l := range lanes {
		go w.run(l)
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

// add queues raw, record n of file.
func (w *workers) add(file int, raw []byte, n int64) error {
	if err := w.firstErr(); err != nil {
		return err
	}
	j := w.cur
	j.raw = append(j.raw, raw...)
	j.items = append(j.items, item{file: file, end: len(j.raw), n: n})
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

// flush hands over the current batch and waits until every batch is in
// the lanes; it returns the first error any record had. The lanes are the
// caller's until the next add.
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

func (w *workers) run(l *lane) {
	defer w.done.Done()
	for j := range w.jobs {
		if w.firstErr() == nil {
			start := 0
			for _, it := range j.items {
				if err := l.add(it.file, j.raw[start:it.end], it.n); err != nil {
					w.fail(err)
					break
				}
				start = it.end
			}
		}
		j.raw, j.items = j.raw[:0], j.items[:0]
		w.free <- j
		w.wg.Done()
	}
}
