package benchcpu_test

import (
	"crypto/sha256"
	"testing"

	"github.com/monsys/hub/internal/benchcpu"
)

// TestNowCountsWork: CPU spent between two readings shows in their difference.
func TestNowCountsWork(t *testing.T) {
	before := benchcpu.Now(t)
	buf := make([]byte, 1<<20)
	for i := 0; benchcpu.Now(t)-before < 20e6; i++ {
		buf[0] = byte(i)
		_ = sha256.Sum256(buf)
		if i > 1e5 {
			t.Fatalf("%d MB hashed and the process CPU time moved by %d ns", i, benchcpu.Now(t)-before)
		}
	}
}

func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 10<<10)
	b.SetBytes(int64(len(buf)))
	defer benchcpu.Start(b)()
	for range b.N {
		_ = sha256.Sum256(buf)
	}
}
