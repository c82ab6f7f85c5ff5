package tlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"filippo.io/torchwood"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// tile is one object an integration writes.
type tile struct {
	path string
	data []byte
}

// batch is what appending entries to a tree gives: the new tree and every
// hash tile and entry bundle that changed.
type batch struct {
	tree  sumtlog.Tree
	tiles []tile
}

// extend computes the tree of entries appended to the tree (n, root), whose
// tiles are in storage, with the library's stored-hash and tile functions.
func (l *Log) extend(ctx context.Context, n int64, root sumtlog.Hash, entries [][]byte) (*batch, error) {
	base := sumtlog.Tree{N: n, Hash: root}
	tr := newTileReader(l.st.Tiles)
	r := &overlay{under: torchwood.TileHashReaderWithContext(ctx, base, tr), base: sumtlog.StoredHashCount(n)}
	for i, e := range entries {
		if len(e) > MaxEntrySize {
			return nil, fmt.Errorf("%w: entry %d of the batch is %d bytes", ErrEntry, i, len(e))
		}
		hs, err := sumtlog.StoredHashes(n+int64(i), e, r)
		if err != nil {
			return nil, fmt.Errorf("tlog: hash entry %d: %w", n+int64(i), err)
		}
		r.extra = append(r.extra, hs...)
	}
	size := n + int64(len(entries))
	h, err := sumtlog.TreeHash(size, r)
	if err != nil {
		return nil, fmt.Errorf("tlog: tree hash %d: %w", size, err)
	}
	b := &batch{tree: sumtlog.Tree{N: size, Hash: h}}
	for _, t := range sumtlog.NewTiles(TileHeight, n, size) {
		data, err := sumtlog.ReadTileData(t, r)
		if err != nil {
			return nil, fmt.Errorf("tlog: tile %s: %w", torchwood.TilePath(t), err)
		}
		b.tiles = append(b.tiles, tile{torchwood.TilePath(t), data})
		if t.L != 0 {
			continue
		}
		bundle, err := l.bundle(ctx, t, n, entries, r)
		if err != nil {
			return nil, err
		}
		b.tiles = append(b.tiles, bundle)
	}
	return b, nil
}

// bundle builds the entry bundle beside level-0 tile t: the entries of the
// stored partial bundle (checked against the tree) followed by new ones.
func (l *Log) bundle(ctx context.Context, t sumtlog.Tile, n int64, entries [][]byte, r sumtlog.HashReader) (tile, error) {
	start := t.N << TileHeight
	bt := sumtlog.Tile{H: t.H, L: -1, N: t.N, W: t.W}
	var data []byte
	if old := n - start; old > 0 {
		prev := sumtlog.Tile{H: t.H, L: -1, N: t.N, W: int(old)}
		raw, err := l.st.Tiles.ReadTile(ctx, torchwood.TilePath(prev))
		if err != nil {
			return tile{}, fmt.Errorf("tlog: read %s: %w", torchwood.TilePath(prev), err)
		}
		idx := make([]int64, old)
		for i := range idx {
			idx[i] = sumtlog.StoredHashIndex(0, start+int64(i))
		}
		want, err := r.ReadHashes(idx)
		if err != nil {
			return tile{}, fmt.Errorf("tlog: read hashes of %s: %w", torchwood.TilePath(prev), err)
		}
		rest := raw
		for i := range idx {
			var e []byte
			if e, rest, err = torchwood.ReadTileEntry(rest); err != nil || sumtlog.RecordHash(e) != want[i] {
				return tile{}, fmt.Errorf("%w: %s does not hold entry %d", ErrCorrupt, torchwood.TilePath(prev), start+int64(i))
			}
		}
		if len(rest) != 0 {
			return tile{}, fmt.Errorf("%w: %s holds more than %d entries", ErrCorrupt, torchwood.TilePath(prev), old)
		}
		data = append(data, raw...)
	}
	for i := max(start, n); i < start+int64(t.W); i++ {
		var err error
		if data, err = torchwood.AppendTileEntry(data, entries[i-n]); err != nil {
			return tile{}, fmt.Errorf("%w: %w", ErrEntry, err)
		}
	}
	return tile{torchwood.TilePath(bt), data}, nil
}

// overlay reads stored hashes below base from storage and the ones an
// integration just computed from extra.
type overlay struct {
	under sumtlog.HashReader
	base  int64
	extra []sumtlog.Hash
}

func (o *overlay) ReadHashes(indexes []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(indexes))
	var low []int64
	var at []int
	for i, x := range indexes {
		switch {
		case x < o.base:
			low, at = append(low, x), append(at, i)
		case x-o.base < int64(len(o.extra)):
			out[i] = o.extra[x-o.base]
		default:
			return nil, fmt.Errorf("tlog: hash %d not computed yet", x)
		}
	}
	if len(low) > 0 {
		hs, err := o.under.ReadHashes(low)
		if err != nil {
			return nil, err
		}
		for j, h := range hs {
			out[at[j]] = h
		}
	}
	return out, nil
}

// tileReader is a torchwood.TileReader over Tiles that remembers what it
// read, so that one integration or proof reads each tile once.
type tileReader struct {
	st    Tiles
	mu    sync.Mutex
	cache map[string][]byte
}

func newTileReader(st Tiles) *tileReader { return &tileReader{st: st, cache: map[string][]byte{}} }

var _ torchwood.TileReader = (*tileReader)(nil)

func (t *tileReader) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		p := torchwood.TilePath(tl)
		t.mu.Lock()
		b, ok := t.cache[p]
		t.mu.Unlock()
		if !ok {
			var err error
			if b, err = t.st.ReadTile(ctx, p); err != nil {
				if errors.Is(err, ErrNotFound) {
					return nil, fmt.Errorf("%w: tile %s of the tree is missing", ErrCorrupt, p)
				}
				return nil, fmt.Errorf("tlog: read %s: %w", p, err)
			}
			t.mu.Lock()
			t.cache[p] = b
			t.mu.Unlock()
		}
		out[i] = b
	}
	return out, nil
}

func (t *tileReader) SaveTiles([]sumtlog.Tile, [][]byte) {}

func (t *tileReader) ReadEndpoint(context.Context, string) ([]byte, error) {
	return nil, errors.ErrUnsupported
}
