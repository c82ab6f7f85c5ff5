package spool

import (
	"fmt"
	"testing"
)

// TestManySmallFilesStayInBudget adds records round-robin to 3,000 open
// files, as a tenant of many agents gives, with a 1 MiB budget: what the
// lane holds (chunks, line list, pool) stays near the budget, and its runs
// are about the budget's size, not the size of one file's share of it.
func TestManySmallFilesStayInBudget(t *testing.T) {
	const budget = 1 << 20
	l := newLane(t.TempDir(), budget)
	const files = 3000
	held := func() int64 {
		n := l.pool.freeBytes + int64(cap(l.s.lines))*24
		for _, c := range l.s.chunks {
			n += int64(cap(c))
		}
		return n
	}
	var most, data int64
	for i := range 60000 {
		raw := fmt.Sprintf(`{"type":"metric","ts":"2026-04-01T00:%02d:%02dZ","cpu":%d.5,"seq":"%d"}`, i/60%60, i%60, i%97, i)
		data += int64(len(raw))
		if err := l.add(i%files, []byte(raw), int64(i)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			most = max(most, held())
		}
	}
	if limit := int64(budget + budget/2); most > limit {
		t.Fatalf("the lane held %d bytes, budget %d", most, budget)
	}
	if runs := len(l.s.runs); runs == 0 || int64(runs) > 3*data/budget+1 {
		t.Fatalf("%d runs for %d bytes of records and a budget of %d", runs, data, budget)
	}
	t.Logf("held at most %d bytes for a budget of %d; %d runs for %d bytes", most, budget, len(l.s.runs), data)
}

// TestFileKeys: keys sort as their file numbers and hold neither '\n' nor 0x00.
func TestFileKeys(t *testing.T) {
	prev := newFileKey(0)
	for _, id := range []int{1, 9, 10, 11, 127, 128, 255, 256, 1 << 14, 1<<21 + 10, maxFiles - 1} {
		k := newFileKey(id)
		if k.id() != id || string(k[:]) <= string(prev[:]) {
			t.Fatalf("key of %d = %x (id %d), after %x", id, k, k.id(), prev)
		}
		for _, c := range k {
			if c == '\n' || c == 0 {
				t.Fatalf("key of %d = %x", id, k)
			}
		}
		prev = k
	}
}
