package tlogtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/monsys/hub/internal/tlog"
)

// ErrCrash is what Faulty returns once it has "crashed".
var ErrCrash = errors.New("tlogtest: injected crash")

// Faulty wraps a log's stores and crashes before its FailAt-th write
// (StoreHead, Settle, WriteTile, WriteCheckpoint; Submit is not counted):
// that write and every call after it fail with ErrCrash, as if the process
// died there. FailAt 0 never crashes and only counts.
type Faulty struct {
	inner   tlog.Stores
	failAt  int
	mu      sync.Mutex
	writes  int
	crashed bool
	log     []string
}

// NewFaulty wraps inner.
func NewFaulty(inner tlog.Stores, failAt int) *Faulty { return &Faulty{inner: inner, failAt: failAt} }

// Writes returns how many writes went through.
func (f *Faulty) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Crashed reports whether the crash happened.
func (f *Faulty) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// Log lists the writes that went through, in order ("tile tile/0/000.p/3", ...).
func (f *Faulty) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *Faulty) call() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrash
	}
	return nil
}

func (f *Faulty) write(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrash
	}
	if f.failAt > 0 && f.writes+1 == f.failAt {
		f.crashed = true
		return fmt.Errorf("before %s: %w", what, ErrCrash)
	}
	f.writes++
	f.log = append(f.log, what)
	return nil
}

// Stores returns the wrapped stores.
func (f *Faulty) Stores() tlog.Stores {
	return tlog.Stores{Heads: faultyHeads{f}, Pool: faultyPool{f}, Lookup: faultyLookup{f}, Tiles: faultyTiles{f}, Checkpoints: faultyCheckpoints{f}}
}

type faultyHeads struct{ f *Faulty }

func (h faultyHeads) LoadHead(ctx context.Context) (tlog.Head, error) {
	if err := h.f.call(); err != nil {
		return tlog.Head{}, err
	}
	return h.f.inner.Heads.LoadHead(ctx)
}

func (h faultyHeads) StoreHead(ctx context.Context, old int64, next tlog.Head) error {
	if err := h.f.write(fmt.Sprintf("head %d complete=%v", next.Size, next.Complete)); err != nil {
		return err
	}
	return h.f.inner.Heads.StoreHead(ctx, old, next)
}

type faultyPool struct{ f *Faulty }

func (p faultyPool) Submit(ctx context.Context, id tlog.ID, entry []byte, at time.Time) error {
	if err := p.f.call(); err != nil {
		return err
	}
	return p.f.inner.Pool.Submit(ctx, id, entry, at)
}

func (p faultyPool) Pending(ctx context.Context, max int) ([]tlog.Pending, error) {
	if err := p.f.call(); err != nil {
		return nil, err
	}
	return p.f.inner.Pool.Pending(ctx, max)
}

func (p faultyPool) Settle(ctx context.Context, first int64, ids []tlog.ID) error {
	if err := p.f.write(fmt.Sprintf("settle %d+%d", first, len(ids))); err != nil {
		return err
	}
	return p.f.inner.Pool.Settle(ctx, first, ids)
}

type faultyLookup struct{ f *Faulty }

func (l faultyLookup) Lookup(ctx context.Context, ids []tlog.ID) ([]tlog.Stored, error) {
	if err := l.f.call(); err != nil {
		return nil, err
	}
	return l.f.inner.Lookup.Lookup(ctx, ids)
}

type faultyTiles struct{ f *Faulty }

func (t faultyTiles) ReadTile(ctx context.Context, path string) ([]byte, error) {
	if err := t.f.call(); err != nil {
		return nil, err
	}
	return t.f.inner.Tiles.ReadTile(ctx, path)
}

func (t faultyTiles) WriteTile(ctx context.Context, path string, data []byte) error {
	if err := t.f.write("tile " + path); err != nil {
		return err
	}
	return t.f.inner.Tiles.WriteTile(ctx, path, data)
}

type faultyCheckpoints struct{ f *Faulty }

func (c faultyCheckpoints) ReadCheckpoint(ctx context.Context) ([]byte, string, error) {
	if err := c.f.call(); err != nil {
		return nil, "", err
	}
	return c.f.inner.Checkpoints.ReadCheckpoint(ctx)
}

func (c faultyCheckpoints) WriteCheckpoint(ctx context.Context, note []byte, version string) error {
	if err := c.f.write("checkpoint"); err != nil {
		return err
	}
	return c.f.inner.Checkpoints.WriteCheckpoint(ctx, note, version)
}
