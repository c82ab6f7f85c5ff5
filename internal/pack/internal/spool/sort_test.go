package spool

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortLines checks the multikey quicksort against bytes.Compare on
// lines with long shared prefixes, duplicates, prefixes of each other and
// lines shorter than a chunk.
func TestSortLines(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte(`{}":,ab0129\n`)
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"ok/tiny", 5, 3}, {"ok/short", 2000, 6}, {"ok/long", 5000, 40}, {"ok/many-duplicates", 20000, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			lines := make([][]byte, tc.n)
			for i := range lines {
				l := []byte(`{"agent_id":"web-edge-`)
				for range r.IntN(tc.size + 1) {
					l = append(l, alphabet[r.IntN(len(alphabet))])
				}
				lines[i] = append(l, '\n')
			}
			want := slices.Clone(lines)
			slices.SortFunc(want, bytes.Compare)
			sortLines(lines)
			for i := range lines {
				if !bytes.Equal(lines[i], want[i]) {
					t.Fatalf("line %d = %q, want %q", i, lines[i], want[i])
				}
			}
		})
	}
}

// BenchmarkSortLines sorts 72,000 lines shaped like a metric file's
// canonical lines (long shared prefixes, as in one spilled run of
// BenchmarkBuild), scattered in memory as a lane's chunks leave them.
func BenchmarkSortLines(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 72000
	src := make([][]byte, n)
	for i := range src {
		j := r.IntN(1000000)
		src[i] = fmt.Appendf(nil, `{"agent_id":"web-edge-%02d","cpu":%v,"host":"web-edge.example.net","load":[0.5,%v,1.25],"mem_used":%d,"seq":"%d","ts":"2026-04-%02dT00:00:00Z","type":"metric"}`+"\n",
			j%16, float64(j%1000)/7, float64(j%10)/3, j*4096, 1743465600000000000+j, 1+j%28)
	}
	lines := make([][]byte, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(lines, src)
		sortLines(lines)
	}
}
