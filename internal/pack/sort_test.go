package pack

import (
	"bytes"
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
