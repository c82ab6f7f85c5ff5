package tlogtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/monsys/hub/internal/tlog"
)

// Origin is the log origin the kit's logs use.
const Origin = "hub.test/monsys"

// TestEntries returns n distinct valid entries (pack entries of tenant),
// the same ones for the same arguments.
func TestEntries(tenant string, from, n int) []tlog.Entry {
	out := make([]tlog.Entry, n)
	for i := range out {
		sum := fmt.Sprintf("%064x", from+i)
		out[i] = tlog.Pack(tenant, fmt.Sprintf("pk_%06d", from+i), sum, "2026-05-01T08:03:14Z")
	}
	return out
}

// RunContract runs the contract of the log's stores against open, which
// returns fresh, empty stores for each subtest.
func RunContract(t *testing.T, open func(t *testing.T) tlog.Stores) {
	t.Run("head", func(t *testing.T) { testHead(t, open(t)) })
	t.Run("pool", func(t *testing.T) { testPool(t, open(t)) })
	t.Run("tiles", func(t *testing.T) { testTiles(t, open(t)) })
	t.Run("checkpoint", func(t *testing.T) { testCheckpoint(t, open(t)) })
	t.Run("log", func(t *testing.T) { testLog(t, open(t)) })
}

func ids(n int) []tlog.ID {
	out := make([]tlog.ID, n)
	for i := range out {
		out[i] = tlog.EntryID([]byte(fmt.Sprint("entry ", i)))
	}
	return out
}

func testHead(t *testing.T, st tlog.Stores) {
	ctx := t.Context()
	h, err := st.Heads.LoadHead(ctx)
	if err != nil || h.Size != 0 || !h.Complete {
		t.Fatalf("ok/empty: LoadHead = %+v, %v; want size 0, complete", h, err)
	}
	b := ids(5)
	first := tlog.Head{Size: 3, Root: sumtlog.Hash{1}, Start: 0, PrevRoot: sumtlog.Hash{}, Batch: b[:3]}
	if err := st.Heads.StoreHead(ctx, 0, first); err != nil {
		t.Fatalf("ok/first: %v", err)
	}
	if err := st.Heads.StoreHead(ctx, 0, tlog.Head{Size: 1, Batch: b[4:]}); !errors.Is(err, tlog.ErrConflict) {
		t.Fatalf("fail/first-twice: StoreHead = %v, want ErrConflict", err)
	}
	if h, err := st.Heads.LoadHead(ctx); err != nil || !sameHead(h, first) {
		t.Fatalf("ok/first: LoadHead = %+v, %v; want %+v", h, err, first)
	}
	first.Complete = true
	if err := st.Heads.StoreHead(ctx, 3, first); err != nil {
		t.Fatalf("ok/complete: %v", err)
	}
	next := tlog.Head{Size: 5, Root: sumtlog.Hash{2}, Start: 3, PrevRoot: sumtlog.Hash{1}, Batch: b[3:]}
	if err := st.Heads.StoreHead(ctx, 3, next); err != nil {
		t.Fatalf("ok/advance: %v", err)
	}
	if err := st.Heads.StoreHead(ctx, 3, tlog.Head{Size: 4, Batch: b[:1]}); !errors.Is(err, tlog.ErrConflict) {
		t.Fatalf("fail/stale: StoreHead = %v, want ErrConflict", err)
	}
	if h, err := st.Heads.LoadHead(ctx); err != nil || !sameHead(h, next) {
		t.Fatalf("ok/advance: LoadHead = %+v, %v; want %+v", h, err, next)
	}
}

func sameHead(a, b tlog.Head) bool {
	if a.Size != b.Size || a.Root != b.Root || a.Start != b.Start || a.PrevRoot != b.PrevRoot || a.Complete != b.Complete || len(a.Batch) != len(b.Batch) {
		return false
	}
	for i := range a.Batch {
		if a.Batch[i] != b.Batch[i] {
			return false
		}
	}
	return true
}

func testPool(t *testing.T, st tlog.Stores) {
	ctx := t.Context()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var es [][]byte
	for i := range 4 {
		es = append(es, []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	at := []time.Time{t0, t0.Add(time.Second), t0.Add(time.Second), t0.Add(3 * time.Second)}
	for _, i := range []int{3, 0, 1, 2} { // submission order differs from time order
		if err := st.Pool.Submit(ctx, tlog.EntryID(es[i]), es[i], at[i]); err != nil {
			t.Fatalf("ok/submit: %v", err)
		}
	}
	if err := st.Pool.Submit(ctx, tlog.EntryID(es[0]), es[0], t0.Add(time.Hour)); err != nil {
		t.Fatalf("ok/submit-again: %v", err)
	}
	p, err := st.Pool.Pending(ctx, 10)
	if err != nil || len(p) != 4 {
		t.Fatalf("ok/pending: %d entries, %v; want 4", len(p), err)
	}
	if !bytes.Equal(p[0].Entry, es[0]) || !bytes.Equal(p[3].Entry, es[3]) || p[0].ID != tlog.EntryID(es[0]) {
		t.Fatalf("ok/pending: not oldest first: %q ... %q", p[0].Entry, p[3].Entry)
	}
	if p, err := st.Pool.Pending(ctx, 2); err != nil || len(p) != 2 {
		t.Fatalf("ok/pending-max: %d entries, %v; want 2", len(p), err)
	}
	got, err := st.Lookup.Lookup(ctx, []tlog.ID{tlog.EntryID(es[2])})
	if err != nil || got[0].Integrated || !bytes.Equal(got[0].Entry, es[2]) {
		t.Fatalf("ok/lookup-pending: %+v, %v", got, err)
	}
	settled := []tlog.ID{tlog.EntryID(es[0]), tlog.EntryID(es[1])}
	for range 2 { // idempotent
		if err := st.Pool.Settle(ctx, 7, settled); err != nil {
			t.Fatalf("ok/settle: %v", err)
		}
	}
	if err := st.Pool.Settle(ctx, 9, settled[:1]); !errors.Is(err, tlog.ErrConflict) {
		t.Fatalf("fail/settle-elsewhere: %v, want ErrConflict", err)
	}
	if err := st.Pool.Submit(ctx, settled[0], es[0], t0); err != nil {
		t.Fatalf("ok/submit-settled: %v", err)
	}
	p, err = st.Pool.Pending(ctx, 10)
	if err != nil || len(p) != 2 || !bytes.Equal(p[0].Entry, es[2]) {
		t.Fatalf("ok/pending-after-settle: %d entries, %v; want entries 2 and 3", len(p), err)
	}
	got, err = st.Lookup.Lookup(ctx, settled)
	if err != nil || !got[0].Integrated || got[0].Index != 7 || got[1].Index != 8 {
		t.Fatalf("ok/lookup-settled: %+v, %v", got, err)
	}
	if _, err := st.Lookup.Lookup(ctx, []tlog.ID{tlog.EntryID([]byte("never"))}); !errors.Is(err, tlog.ErrNotFound) {
		t.Fatalf("fail/lookup-unknown: %v, want ErrNotFound", err)
	}
}

func testTiles(t *testing.T, st tlog.Stores) {
	ctx := t.Context()
	const p = "tile/0/x001/002.p/7"
	if _, err := st.Tiles.ReadTile(ctx, p); !errors.Is(err, tlog.ErrNotFound) {
		t.Fatalf("fail/missing: %v, want ErrNotFound", err)
	}
	data := bytes.Repeat([]byte{7}, 7*32)
	if err := st.Tiles.WriteTile(ctx, p, data); err != nil {
		t.Fatalf("ok/write: %v", err)
	}
	if err := st.Tiles.WriteTile(ctx, p, data); err != nil {
		t.Fatalf("ok/write-same-again: %v", err)
	}
	if err := st.Tiles.WriteTile(ctx, p, bytes.Repeat([]byte{8}, 7*32)); !errors.Is(err, tlog.ErrCorrupt) {
		t.Fatalf("fail/overwrite: %v, want ErrCorrupt", err)
	}
	if got, err := st.Tiles.ReadTile(ctx, p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ok/read: %d bytes, %v", len(got), err)
	}
}

func testCheckpoint(t *testing.T, st tlog.Stores) {
	ctx := t.Context()
	if _, _, err := st.Checkpoints.ReadCheckpoint(ctx); !errors.Is(err, tlog.ErrNotFound) {
		t.Fatalf("fail/missing: %v, want ErrNotFound", err)
	}
	if err := st.Checkpoints.WriteCheckpoint(ctx, []byte("one\n"), ""); err != nil {
		t.Fatalf("ok/first: %v", err)
	}
	if err := st.Checkpoints.WriteCheckpoint(ctx, []byte("other\n"), ""); !errors.Is(err, tlog.ErrConflict) {
		t.Fatalf("fail/first-twice: %v, want ErrConflict", err)
	}
	b, v1, err := st.Checkpoints.ReadCheckpoint(ctx)
	if err != nil || string(b) != "one\n" || v1 == "" {
		t.Fatalf("ok/read: %q %q %v", b, v1, err)
	}
	if err := st.Checkpoints.WriteCheckpoint(ctx, []byte("two\n"), v1); err != nil {
		t.Fatalf("ok/replace: %v", err)
	}
	if err := st.Checkpoints.WriteCheckpoint(ctx, []byte("stale\n"), v1); !errors.Is(err, tlog.ErrConflict) {
		t.Fatalf("fail/stale-version: %v, want ErrConflict", err)
	}
	if b, _, err := st.Checkpoints.ReadCheckpoint(ctx); err != nil || string(b) != "two\n" {
		t.Fatalf("ok/read-replaced: %q %v", b, err)
	}
}

// testLog runs the log itself over the stores: two integrations crossing a
// tile boundary, then a proof of each entry checked by torchwood.
func testLog(t *testing.T, st tlog.Stores) {
	ctx := t.Context()
	key := NewKey(1)
	l, err := tlog.New(tlog.Config{Origin: Origin, MaxBatch: 200}, st, key, Unwitnessed{})
	if err != nil {
		t.Fatal(err)
	}
	entries := TestEntries("acme", 0, 300)
	if _, err := l.Append(ctx, entries[:100]...); err != nil {
		t.Fatal(err)
	}
	idx, err := l.Append(ctx, entries[100:]...)
	if err != nil {
		t.Fatal(err)
	}
	if idx[0] != 100 || idx[len(idx)-1] != 299 {
		t.Fatalf("indexes %d..%d, want 100..299", idx[0], idx[len(idx)-1])
	}
	VerifyLog(t, st, l.VerifierKey(), entries)
}

// VerifyLog checks a log's storage as a monitor would: the checkpoint
// verifies with vkey, its tree holds exactly entries in order (the entry
// bundles and a torchwood-checked proof for each).
func VerifyLog(t testing.TB, st tlog.Stores, vkey string, entries []tlog.Entry) {
	t.Helper()
	ctx := t.Context()
	cp, _, err := st.Checkpoints.ReadCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	policy := torchwood.ThresholdPolicy(2, torchwood.OriginPolicy(v.Name()), torchwood.SingleVerifierPolicy(v))
	c, _, err := torchwood.VerifyCheckpoint(cp, policy)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if c.N != int64(len(entries)) {
		t.Fatalf("checkpoint size %d, want %d", c.N, len(entries))
	}
	want := make([][]byte, len(entries))
	for i, e := range entries {
		if want[i], err = e.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	// Every entry bundle, read as a monitor does.
	for n := int64(0); n*256 < c.N; n++ {
		w := min(256, c.N-n*256)
		bt := sumtlog.Tile{H: 8, L: -1, N: n, W: int(w)}
		data, err := st.Tiles.ReadTile(ctx, torchwood.TilePath(bt))
		if err != nil {
			t.Fatalf("bundle %d: %v", n, err)
		}
		for i := int64(0); i < w; i++ {
			var e []byte
			if e, data, err = torchwood.ReadTileEntry(data); err != nil || !bytes.Equal(e, want[n*256+i]) {
				t.Fatalf("bundle %d entry %d = %q, %v; want %q", n, i, e, err, want[n*256+i])
			}
		}
	}
	// Every entry's leaf hash against the tree's verified level-0 tiles, and
	// torchwood-checked proofs for a sample (proving all is quadratic).
	r := torchwood.TileHashReaderWithContext(ctx, c.Tree, storeReader{st.Tiles})
	idx := make([]int64, len(want))
	for i := range idx {
		idx[i] = sumtlog.StoredHashIndex(0, int64(i))
	}
	leaves, err := r.ReadHashes(idx)
	if err != nil {
		t.Fatalf("read leaf hashes: %v", err)
	}
	for i, e := range want {
		if leaves[i] != sumtlog.RecordHash(e) {
			t.Fatalf("leaf %d is not the hash of entry %d", i, i)
		}
		if i%97 != 0 && i != len(want)-1 {
			continue
		}
		p, err := sumtlog.ProveRecord(c.N, int64(i), r)
		if err != nil {
			t.Fatalf("prove %d: %v", i, err)
		}
		proof := torchwood.FormatProof(int64(i), p, cp)
		if err := torchwood.VerifyProof(policy, sumtlog.RecordHash(e), proof); err != nil {
			t.Fatalf("proof of entry %d: %v", i, err)
		}
	}
}
