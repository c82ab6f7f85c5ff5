package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

func TestMemoryContract(t *testing.T) {
	tlogtest.RunContract(t, func(*testing.T) tlog.Stores { return tlogtest.NewMemory().Stores() })
}

// fixedClock makes submission times, and so the order of entries, reproducible.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newLog(t testing.TB, st tlog.Stores, batch int) *tlog.Log {
	t.Helper()
	c := &fixedClock{t: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	l, err := tlog.New(tlog.Config{Origin: tlogtest.Origin, MaxBatch: batch, Now: c.now}, st, tlogtest.NewKey(1), tlogtest.Unwitnessed{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestGrow appends batches of sizes that cross tile boundaries at levels 0
// and 1 and checks the whole log after each, as a monitor would.
func TestGrow(t *testing.T) {
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 1000)
	var all []tlog.Entry
	for _, n := range []int{1, 254, 1, 1, 300, 255, 1, 1000} {
		es := tlogtest.TestEntries("acme", len(all), n)
		idx, err := l.Append(t.Context(), es...)
		if err != nil {
			t.Fatal(err)
		}
		if idx[0] != int64(len(all)) {
			t.Fatalf("batch of %d starts at %d, want %d", n, idx[0], len(all))
		}
		all = append(all, es...)
		tlogtest.VerifyLog(t, m.Stores(), l.VerifierKey(), all)
	}
	if !slices.Contains(m.TilePaths(), "tile/1/000.p/7") {
		t.Errorf("no level-1 tile for 1813 entries: %v", m.TilePaths())
	}
}

// TestLevelTwo crosses the first level-2 tile boundary (65536 entries).
func TestLevelTwo(t *testing.T) {
	if testing.Short() {
		t.Skip("65,600 entries")
	}
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 8192)
	var all []tlog.Entry
	for len(all) < 65600 {
		es := tlogtest.TestEntries("acme", len(all), min(8192, 65600-len(all)))
		if _, err := l.Submit(t.Context(), es...); err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
	}
	if _, err := l.Integrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.TilePaths(), "tile/2/000.p/1") {
		t.Fatalf("no level-2 tile")
	}
	p, _, err := l.Proofs(t.Context(), [][]byte{mustBytes(t, all[65599]), mustBytes(t, all[3])})
	if err != nil || len(p) != 2 {
		t.Fatal(err)
	}
}

func mustBytes(t testing.TB, e tlog.Entry) []byte {
	b, err := e.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIdempotent: the same entry submitted twice is logged once; integrating
// with nothing pending changes nothing.
func TestIdempotent(t *testing.T) {
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 10)
	es := tlogtest.TestEntries("acme", 0, 3)
	if _, err := l.Append(t.Context(), es...); err != nil {
		t.Fatal(err)
	}
	cp1, _, _ := m.ReadCheckpoint(t.Context())
	idx, err := l.Append(t.Context(), es[1], es[0])
	if err != nil || !slices.Equal(idx, []int64{1, 0}) {
		t.Fatalf("Append again = %v, %v; want [1 0]", idx, err)
	}
	cp2, _, _ := m.ReadCheckpoint(t.Context())
	if !bytes.Equal(cp1, cp2) {
		t.Fatal("integrating nothing changed the checkpoint")
	}
	tlogtest.VerifyLog(t, m.Stores(), l.VerifierKey(), es)
}

// TestCrashAtEachWrite crashes an integration before each of its writes in
// turn; the next run completes it, and the result is byte for byte the log
// of a run without a crash.
func TestCrashAtEachWrite(t *testing.T) {
	ctx := t.Context()
	base := tlogtest.TestEntries("acme", 0, 250)
	batch := tlogtest.TestEntries("acme", 250, 20) // crosses the first tile boundary
	build := func() (*tlogtest.Memory, *tlog.Log) {
		m := tlogtest.NewMemory()
		l := newLog(t, m.Stores(), 1000)
		if _, err := l.Append(ctx, base...); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Submit(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		return m, l
	}
	ref, refLog := build()
	count := tlogtest.NewFaulty(ref.Stores(), 0)
	if _, err := newLogFrom(t, count.Stores()).Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	writes := count.Writes()
	if writes < 6 {
		t.Fatalf("an integration made only %d writes: %v", writes, count.Log())
	}
	t.Logf("one integration writes: %v", count.Log())
	want := snapshot(t, ref)
	for k := 1; k <= writes; k++ {
		t.Run(fmt.Sprintf("fail/crash-before-write-%d", k), func(t *testing.T) {
			m, _ := build()
			f := tlogtest.NewFaulty(m.Stores(), k)
			if _, err := newLogFrom(t, f.Stores()).Integrate(ctx); !errors.Is(err, tlogtest.ErrCrash) {
				t.Fatalf("Integrate = %v, want the crash", err)
			}
			if _, err := newLogFrom(t, m.Stores()).Integrate(ctx); err != nil {
				t.Fatalf("the next run: %v", err)
			}
			if got := snapshot(t, m); got != want {
				t.Fatalf("after the crash and a repair:\n%s\nwant:\n%s", got, want)
			}
			tlogtest.VerifyLog(t, m.Stores(), refLog.VerifierKey(), append(slices.Clone(base), batch...))
		})
	}
}

func newLogFrom(t testing.TB, st tlog.Stores) *tlog.Log { return newLog(t, st, 1000) }

// snapshot renders every stored object and the head, for comparisons.
func snapshot(t testing.TB, m *tlogtest.Memory) string {
	var b bytes.Buffer
	h, _ := m.LoadHead(t.Context())
	fmt.Fprintf(&b, "head %d complete=%v\n", h.Size, h.Complete)
	cp, _, _ := m.ReadCheckpoint(t.Context())
	fmt.Fprintf(&b, "checkpoint %q\n", cp)
	for _, p := range m.TilePaths() {
		d, _ := m.ReadTile(t.Context(), p)
		fmt.Fprintf(&b, "%s %x\n", p, d)
	}
	return b.String()
}

// TestConcurrentWriters: several writers submit and integrate at once; the
// log holds every entry exactly once.
func TestConcurrentWriters(t *testing.T) {
	m := tlogtest.NewMemory()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLog(t, m.Stores(), 16)
			for i := 0; i < each; i += 5 {
				if _, err := l.Append(t.Context(), tlogtest.TestEntries(fmt.Sprint("t", w), i, 5)...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want []tlog.Entry
	for w := range writers {
		want = append(want, tlogtest.TestEntries(fmt.Sprint("t", w), 0, each)...)
	}
	got := logged(t, m, len(want))
	slices.SortFunc(want, func(a, b tlog.Entry) int { return bytes.Compare(mustBytes(t, a), mustBytes(t, b)) })
	slices.SortFunc(got, func(a, b tlog.Entry) int { return bytes.Compare(mustBytes(t, a), mustBytes(t, b)) })
	if !slices.EqualFunc(got, want, func(a, b tlog.Entry) bool { return bytes.Equal(mustBytes(t, a), mustBytes(t, b)) }) {
		t.Fatalf("the log holds %d entries, not the %d submitted", len(got), len(want))
	}
	tlogtest.VerifyLog(t, m.Stores(), newLog(t, m.Stores(), 1).VerifierKey(), orderOf(t, m, got))
}

// logged reads back the log's entries in index order through the pool.
func logged(t testing.TB, m *tlogtest.Memory, n int) []tlog.Entry {
	h, err := m.LoadHead(t.Context())
	if err != nil || h.Size != int64(n) || !h.Complete {
		t.Fatalf("head %+v, %v; want size %d, complete", h, err, n)
	}
	l := newLog(t, m.Stores(), 1)
	var out []tlog.Entry
	for i := int64(0); i < h.Size; i += 256 {
		w := min(256, h.Size-i)
		path := fmt.Sprintf("tile/entries/%03d", i/256)
		if w < 256 {
			path += fmt.Sprintf(".p/%d", w)
		}
		b, err := l.Read(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			n := int(b[0])<<8 | int(b[1])
			e, err := tlog.ParseEntry(b[2 : 2+n])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
			b = b[2+n:]
		}
	}
	return out
}

// orderOf returns the entries in log order.
func orderOf(t testing.TB, m *tlogtest.Memory, es []tlog.Entry) []tlog.Entry {
	out := make([]tlog.Entry, len(es))
	for _, e := range es {
		b := mustBytes(t, e)
		s, err := m.Lookup(t.Context(), []tlog.ID{tlog.EntryID(b)})
		if err != nil {
			t.Fatal(err)
		}
		out[s[0].Index] = e
	}
	return out
}

// TestCorruptTile: a stored tile that no longer matches the tree stops the
// next integration instead of extending a damaged log.
func TestCorruptTile(t *testing.T) {
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 100)
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 0, 5)...); err != nil {
		t.Fatal(err)
	}
	bad := tlogtest.NewMemory()
	for _, p := range m.TilePaths() {
		d, _ := m.ReadTile(t.Context(), p)
		if p == "tile/entries/000.p/5" {
			d[10] ^= 1
		}
		_ = bad.WriteTile(t.Context(), p, d)
	}
	st := m.Stores()
	st.Tiles = bad
	l2 := newLog(t, st, 100)
	if _, err := l2.Append(t.Context(), tlogtest.TestEntries("acme", 5, 1)...); !errors.Is(err, tlog.ErrCorrupt) {
		t.Fatalf("Append over a damaged bundle = %v, want ErrCorrupt", err)
	}
}

// TestProofs: proofs parse back and name the entry and checkpoint.
func TestProofs(t *testing.T) {
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 100)
	es := tlogtest.TestEntries("acme", 0, 7)
	if _, err := l.Append(t.Context(), es...); err != nil {
		t.Fatal(err)
	}
	raw := [][]byte{mustBytes(t, es[6]), mustBytes(t, es[2])}
	ps, cp, err := l.Proofs(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	split, err := tlog.SplitProofs(tlog.JoinProofs(ps))
	if err != nil || len(split) != 2 {
		t.Fatalf("SplitProofs = %d, %v", len(split), err)
	}
	for i, p := range split {
		if !bytes.Equal(p, ps[i]) {
			t.Fatalf("proof %d changed by Join/Split", i)
		}
		got, err := tlog.ParseProof(p)
		if err != nil || !bytes.Equal(got.Extra, raw[i]) || !bytes.Equal(got.Checkpoint, cp) {
			t.Fatalf("ParseProof = %+v, %v", got, err)
		}
	}
	if _, _, err := l.Proofs(t.Context(), [][]byte{[]byte("never logged")}); !errors.Is(err, tlog.ErrNotFound) {
		t.Fatalf("proof of an unknown entry = %v, want ErrNotFound", err)
	}
	if _, err := l.Submit(t.Context(), tlogtest.TestEntries("acme", 7, 1)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Proofs(t.Context(), [][]byte{mustBytes(t, tlogtest.TestEntries("acme", 7, 1)[0])}); !errors.Is(err, tlog.ErrPending) {
		t.Fatalf("proof of a pending entry = %v, want ErrPending", err)
	}
}

func TestRead(t *testing.T) {
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), 100)
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 0, 3)...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"checkpoint", true}, {"tile/0/000.p/3", true}, {"tile/entries/000.p/3", true},
		{"tile/0/000.p/4", false}, {"tile/0/../checkpoint", false}, {"tile/0/0.p/3", false}, {"manifest", false},
	} {
		_, err := l.Read(t.Context(), tc.path)
		if (err == nil) != tc.ok || (!tc.ok && !errors.Is(err, tlog.ErrNotFound)) {
			t.Errorf("Read(%q) = %v, ok want %v", tc.path, err, tc.ok)
		}
	}
}

func TestNewConfig(t *testing.T) {
	st := tlogtest.NewMemory().Stores()
	for _, tc := range []struct {
		name string
		cfg  tlog.Config
	}{{"fail/empty-origin", tlog.Config{}}, {"fail/space", tlog.Config{Origin: "a b"}}, {"fail/plus", tlog.Config{Origin: "a+b"}},
		{"fail/negative-batch", tlog.Config{Origin: "a", MaxBatch: -1}}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tlog.New(tc.cfg, st, tlogtest.NewKey(1), tlogtest.Unwitnessed{}); !errors.Is(err, tlog.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := tlog.New(tlog.Config{Origin: "a"}, tlog.Stores{}, tlogtest.NewKey(1), tlogtest.Unwitnessed{}); !errors.Is(err, tlog.ErrConfig) {
		t.Fatalf("New without stores = %v", err)
	}
	var _ context.Context
}
