package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"
)

// TileHeight is the c2sp.org/tlog-tiles tile height (256 hashes per tile).
const TileHeight = torchwood.TileHeight

// Config configures a Log.
type Config struct {
	// Origin names the log (MONSYS_LOG_ORIGIN, e.g. "hub.example.com/monsys"):
	// the checkpoint's first line and the log key's note name.
	Origin string
	// MaxBatch bounds the entries one integration sequences (default 256).
	MaxBatch int
	// Rounds bounds the integrations one Integrate call runs, counting
	// lost races and full batches (default 16).
	Rounds int
	// Parallel bounds concurrent tile writes (default 8).
	Parallel int
	// Now is the clock of Submit (default time.Now).
	Now func() time.Time
}

// Stores are the log's storage ports.
type Stores struct {
	Heads       HeadStore
	Pool        Pool
	Lookup      Lookup
	Tiles       Tiles
	Checkpoints Checkpoints
}

// Log appends entries to the transparency log, publishes its checkpoint
// and gets it cosigned. It is safe for concurrent use, and any number of
// Logs (Lambdas) may share the same stores.
type Log struct {
	cfg     Config
	key     *logKey
	st      Stores
	witness Cosigner
}

// New returns a Log over st whose checkpoints signer signs and witness cosigns.
func New(cfg Config, st Stores, signer Signer, witness Cosigner) (*Log, error) {
	if !ValidName(cfg.Origin) {
		return nil, fmt.Errorf("%w: origin %q is not a valid note name (no spaces, no '+')", ErrConfig, cfg.Origin)
	}
	if st.Heads == nil || st.Pool == nil || st.Lookup == nil || st.Tiles == nil || st.Checkpoints == nil || signer == nil || witness == nil {
		return nil, fmt.Errorf("%w: a store, the signer or the cosigner is missing", ErrConfig)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 16
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 8
	}
	if cfg.MaxBatch < 1 || cfg.Rounds < 1 || cfg.Parallel < 1 {
		return nil, fmt.Errorf("%w: MaxBatch %d, Rounds %d, Parallel %d", ErrConfig, cfg.MaxBatch, cfg.Rounds, cfg.Parallel)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k, err := newLogKey(cfg.Origin, signer)
	if err != nil {
		return nil, err
	}
	return &Log{cfg: cfg, key: k, st: st, witness: witness}, nil
}

// VerifierKey is the log's verifier key (hub.json log_vkey, --log-key).
func (l *Log) VerifierKey() string { return l.key.vkey }

// Submit validates entries and adds them to the pool; the next Integrate
// sequences them. Submitting an entry again is a no-op. It returns their IDs.
func (l *Log) Submit(ctx context.Context, entries ...Entry) ([]ID, error) {
	return Submitter{Pool: l.st.Pool, Now: l.cfg.Now}.Submit(ctx, entries...)
}

// Submitter adds entries to a log's pool and nothing more: what a function
// that only submits holds (it needs neither the log key nor the witnesses).
// Log.Submit is the same.
type Submitter struct {
	Pool Pool
	Now  func() time.Time // default time.Now
}

// Submit validates entries and adds them to the pool; submitting an entry
// again is a no-op. It returns their IDs.
func (s Submitter) Submit(ctx context.Context, entries ...Entry) ([]ID, error) {
	if s.Pool == nil {
		return nil, fmt.Errorf("%w: a submitter needs the pool", ErrConfig)
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	ids := make([]ID, len(entries))
	for i, e := range entries {
		b, err := e.Bytes()
		if err != nil {
			return nil, err
		}
		ids[i] = EntryID(b)
		if err := s.Pool.Submit(ctx, ids[i], b, now()); err != nil {
			return nil, fmt.Errorf("tlog: submit %s entry %s: %w", e.Type, ids[i], err)
		}
	}
	return ids, nil
}

// Integrate completes a half-finished integration, if any, then sequences
// pending entries in batches of up to MaxBatch: one conditional write of
// the head each, then the tiles, the signed checkpoint and the pool's
// index. It returns the tree it left. Running it again, or concurrently,
// is safe: nothing is sequenced twice and nothing is lost.
func (l *Log) Integrate(ctx context.Context) (sumtlog.Tree, error) {
	var last sumtlog.Tree
	// A lost race is another integration's progress, so only races lost
	// without the head moving count against Rounds: busy writers take turns
	// instead of giving up while the log grows under them.
	conflicts, lostAt := 0, int64(-1)
	for round := 0; round < l.cfg.Rounds; round++ {
		h, err := l.st.Heads.LoadHead(ctx)
		if err != nil {
			return last, fmt.Errorf("tlog: integrate: load head: %w", err)
		}
		if lostAt >= 0 && h.Size > lostAt {
			conflicts, round = 0, 0
		}
		if !h.Complete {
			if err := l.complete(ctx, h, nil); err != nil {
				return last, err
			}
		}
		last = sumtlog.Tree{N: h.Size, Hash: h.Root}
		pend, err := l.st.Pool.Pending(ctx, l.cfg.MaxBatch)
		if err != nil {
			return last, fmt.Errorf("tlog: integrate: read pending entries: %w", err)
		}
		if len(pend) == 0 {
			return last, nil
		}
		entries := make([][]byte, len(pend))
		ids := make([]ID, len(pend))
		for i, p := range pend {
			entries[i], ids[i] = p.Entry, p.ID
		}
		b, err := l.extend(ctx, h.Size, h.Root, entries)
		if err != nil {
			return last, err
		}
		next := Head{Size: b.tree.N, Root: b.tree.Hash, Start: h.Size, PrevRoot: h.Root, Batch: ids}
		err = l.st.Heads.StoreHead(ctx, h.Size, next)
		if errors.Is(err, ErrConflict) {
			conflicts, lostAt = conflicts+1, h.Size
			if err := ctx.Err(); err != nil {
				return last, fmt.Errorf("tlog: integrate: %w", err)
			}
			continue // another integration won; it may have taken our entries
		}
		if err != nil {
			return last, fmt.Errorf("tlog: integrate: store head %d: %w", next.Size, err)
		}
		if err := l.complete(ctx, next, b); err != nil {
			return last, err
		}
		last = b.tree
		if len(pend) < l.cfg.MaxBatch {
			return last, nil
		}
	}
	if conflicts == l.cfg.Rounds {
		return last, fmt.Errorf("tlog: integrate: lost %d races in a row: %w", conflicts, ErrConflict)
	}
	return last, nil // full batches left the rest for the next run
}

// complete writes everything that follows from head h: the batch's tiles and
// entry bundles, the checkpoint, the pool's index, then the Complete flag.
// Each step is idempotent, so a run that crashed anywhere is completed by
// running it again. b is the batch when the caller just computed it.
func (l *Log) complete(ctx context.Context, h Head, b *batch) error {
	if h.Size == 0 {
		return nil
	}
	if b == nil {
		got, err := l.st.Lookup.Lookup(ctx, h.Batch)
		if err != nil {
			return fmt.Errorf("tlog: repair head %d: read batch: %w", h.Size, err)
		}
		entries := make([][]byte, len(got))
		for i, s := range got {
			if s.Integrated && s.Index != h.Start+int64(i) {
				return fmt.Errorf("%w: entry %s of the batch at %d is indexed at %d", ErrCorrupt, h.Batch[i], h.Start+int64(i), s.Index)
			}
			entries[i] = s.Entry
		}
		if b, err = l.extend(ctx, h.Start, h.PrevRoot, entries); err != nil {
			return err
		}
		if b.tree.Hash != h.Root || b.tree.N != h.Size {
			return fmt.Errorf("%w: the batch at %d does not give the head's tree %d", ErrCorrupt, h.Start, h.Size)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.cfg.Parallel)
	for _, t := range b.tiles {
		g.Go(func() error {
			if err := l.st.Tiles.WriteTile(gctx, t.path, t.data); err != nil {
				return fmt.Errorf("tlog: write %s: %w", t.path, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := l.publish(ctx, b.tree); err != nil {
		return err
	}
	if err := l.st.Pool.Settle(ctx, h.Start, h.Batch); err != nil {
		return fmt.Errorf("tlog: settle entries %d..%d: %w", h.Start, h.Size-1, err)
	}
	h.Complete = true
	if err := l.st.Heads.StoreHead(ctx, h.Size, h); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("tlog: mark head %d complete: %w", h.Size, err)
	}
	return nil
}

// publish signs and writes the checkpoint of t unless the stored one is
// already at t or beyond. A stored checkpoint of the same size with another
// hash is a fork of the log's own storage: ErrCorrupt.
func (l *Log) publish(ctx context.Context, t sumtlog.Tree) error {
	for range l.cfg.Rounds {
		cur, ver, err := l.st.Checkpoints.ReadCheckpoint(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			ver = ""
		case err != nil:
			return fmt.Errorf("tlog: read checkpoint: %w", err)
		default:
			c, _, err := l.open(cur)
			if err != nil {
				return err
			}
			if c.N > t.N {
				return nil
			}
			if c.N == t.N {
				if c.Hash != t.Hash {
					return fmt.Errorf("%w: the published checkpoint at size %d has another root hash", ErrCorrupt, t.N)
				}
				return nil
			}
		}
		signed, err := l.key.sign(ctx, torchwood.Checkpoint{Origin: l.cfg.Origin, Tree: t}.String())
		if err != nil {
			return err
		}
		err = l.st.Checkpoints.WriteCheckpoint(ctx, signed, ver)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tlog: write checkpoint %d: %w", t.N, err)
		}
		return nil
	}
	return fmt.Errorf("tlog: write checkpoint %d: %w", t.N, ErrConflict)
}

// open verifies a stored checkpoint with the log key and parses it.
func (l *Log) open(signed []byte) (torchwood.Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, note.VerifierList(l.key.verifier))
	if err != nil {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("%w: stored checkpoint: %w", ErrCorrupt, err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil || c.Origin != l.cfg.Origin {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("%w: stored checkpoint is not one of %s", ErrCorrupt, l.cfg.Origin)
	}
	return c, n, nil
}

// Cosign gets the latest checkpoint cosigned by the witnesses (those that
// have not cosigned it yet), stores their cosignatures with it, and returns
// it. Its error wraps ErrNotCosigned when the witnesses that answered are
// fewer than the quorum; each witness's refusal is named in it.
func (l *Log) Cosign(ctx context.Context) ([]byte, error) {
	for range l.cfg.Rounds {
		cur, ver, err := l.st.Checkpoints.ReadCheckpoint(ctx)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("tlog: cosign: no checkpoint yet: %w", ErrNotCosigned)
		}
		if err != nil {
			return nil, fmt.Errorf("tlog: cosign: read checkpoint: %w", err)
		}
		c, _, err := l.open(cur)
		if err != nil {
			return nil, err
		}
		if l.witness.Quorum(cur) == nil {
			return cur, nil
		}
		prove := func(ctx context.Context, old int64) (sumtlog.TreeProof, error) {
			if old < 0 || old > c.N {
				return nil, fmt.Errorf("tlog: no consistency proof from size %d to %d", old, c.N)
			}
			if old == 0 || old == c.N {
				return sumtlog.TreeProof{}, nil
			}
			return sumtlog.ProveTree(c.N, old, torchwood.TileHashReaderWithContext(ctx, c.Tree, newTileReader(l.st.Tiles)))
		}
		cosigned, cerr := l.witness.Cosign(ctx, cur, prove)
		if cosigned != nil && !bytes.Equal(cosigned, cur) {
			if c2, _, err := l.open(cosigned); err != nil || c2 != c {
				return nil, fmt.Errorf("tlog: cosign: the witnesses' answer changed the checkpoint: %w", errors.Join(err, cerr))
			}
			err := l.st.Checkpoints.WriteCheckpoint(ctx, cosigned, ver)
			if errors.Is(err, ErrConflict) {
				continue // a newer checkpoint: cosign that one
			}
			if err != nil {
				return nil, fmt.Errorf("tlog: cosign: write checkpoint %d: %w", c.N, err)
			}
		}
		if cerr != nil {
			// Concurrent integrations move the witnesses on: if a newer
			// checkpoint is out, cosign that one instead.
			if next, _, err := l.st.Checkpoints.ReadCheckpoint(ctx); err == nil {
				if c2, _, err := l.open(next); err == nil && c2.N > c.N {
					continue
				}
			}
			return cosigned, fmt.Errorf("tlog: cosign checkpoint %d: %w", c.N, cerr)
		}
		return cosigned, nil
	}
	return nil, fmt.Errorf("tlog: cosign: the checkpoint kept changing: %w", ErrConflict)
}

// Publish integrates the pending entries and gets the checkpoint cosigned:
// what the integrity cycle runs. An empty log has nothing to publish.
func (l *Log) Publish(ctx context.Context) error {
	t, err := l.Integrate(ctx)
	if err != nil {
		return err
	}
	if t.N == 0 {
		return nil
	}
	_, err = l.Cosign(ctx)
	return err
}

// Append submits entries, integrates and cosigns, and returns the entries'
// indexes: what a caller that needs its entries logged now calls.
func (l *Log) Append(ctx context.Context, entries ...Entry) ([]int64, error) {
	ids, err := l.Submit(ctx, entries...)
	if err != nil {
		return nil, err
	}
	if _, err := l.Integrate(ctx); err != nil {
		return nil, err
	}
	if _, err := l.Cosign(ctx); err != nil {
		return nil, err
	}
	got, err := l.st.Lookup.Lookup(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("tlog: append: look up entries: %w", err)
	}
	idx := make([]int64, len(got))
	for i, s := range got {
		if !s.Integrated {
			return nil, fmt.Errorf("tlog: append: entry %s: %w", ids[i], ErrPending)
		}
		idx[i] = s.Index
	}
	return idx, nil
}

// Proofs returns c2sp.org/tlog-proof@v1 proofs of entries, all against the
// latest checkpoint, which must carry a witness quorum and cover them
// (ErrPending, ErrNotCosigned otherwise: Integrate and Cosign first). It
// returns that checkpoint too.
func (l *Log) Proofs(ctx context.Context, entries [][]byte) ([][]byte, []byte, error) {
	ids := make([]ID, len(entries))
	for i, e := range entries {
		ids[i] = EntryID(e)
	}
	got, err := l.st.Lookup.Lookup(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("tlog: proofs: look up entries: %w", err)
	}
	cur, _, err := l.st.Checkpoints.ReadCheckpoint(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tlog: proofs: read checkpoint: %w", err)
	}
	c, _, err := l.open(cur)
	if err != nil {
		return nil, nil, err
	}
	if err := l.witness.Quorum(cur); err != nil {
		return nil, nil, fmt.Errorf("tlog: proofs: checkpoint %d: %w", c.N, err)
	}
	r := torchwood.TileHashReaderWithContext(ctx, c.Tree, newTileReader(l.st.Tiles))
	out := make([][]byte, len(entries))
	for i, s := range got {
		switch {
		case !s.Integrated:
			return nil, nil, fmt.Errorf("tlog: proofs: entry %s: %w", ids[i], ErrPending)
		case s.Index >= c.N:
			return nil, nil, fmt.Errorf("tlog: proofs: entry %s at %d is beyond checkpoint %d: %w", ids[i], s.Index, c.N, ErrNotCosigned)
		}
		p, err := sumtlog.ProveRecord(c.N, s.Index, r)
		if err != nil {
			return nil, nil, fmt.Errorf("tlog: proofs: prove entry %d in tree %d: %w", s.Index, c.N, err)
		}
		if err := sumtlog.CheckRecord(p, c.N, c.Hash, s.Index, sumtlog.RecordHash(entries[i])); err != nil {
			return nil, nil, fmt.Errorf("%w: entry %s is not the one logged at %d", ErrCorrupt, ids[i], s.Index)
		}
		out[i] = FormatProof(entries[i], s.Index, p, cur)
	}
	return out, cur, nil
}

// Read returns the object at a c2sp.org/tlog-tiles path ("checkpoint",
// "tile/...", "tile/entries/..."), for the /log/ routes. A path that is not
// one of those is ErrNotFound.
func (l *Log) Read(ctx context.Context, path string) ([]byte, error) {
	return Reader{Tiles: l.st.Tiles, Checkpoints: l.st.Checkpoints}.Read(ctx, path)
}

// Reader serves the log's published objects from its stores alone: what a
// monitor reads needs neither the log key, the head nor the witnesses.
type Reader struct {
	Tiles       Tiles
	Checkpoints Checkpoints
}

// Read returns the object at a c2sp.org/tlog-tiles path ("checkpoint",
// "tile/<L>/<N>[.p/<W>]", "tile/entries/<N>[.p/<W>]"). A path that is not
// one of those, in its one canonical spelling, is ErrNotFound.
func (r Reader) Read(ctx context.Context, path string) ([]byte, error) {
	if path == "checkpoint" {
		b, _, err := r.Checkpoints.ReadCheckpoint(ctx)
		return b, err
	}
	t, err := torchwood.ParseTilePath(path)
	if err != nil || t.H != TileHeight || torchwood.TilePath(t) != path {
		return nil, fmt.Errorf("tlog: %q: %w", path, ErrNotFound)
	}
	return r.Tiles.ReadTile(ctx, path)
}
