package tlog_test

import (
	"fmt"
	"testing"

	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// BenchmarkIntegrate measures one integration of a batch into a log of
// 10,000 entries, in memory: the CPU cost of sequencing, hashing, tiles
// and signing, without storage latency. It reports entries/s and the
// writes one integration makes.
//
//	go test ./internal/tlog -run '^$' -bench Integrate
func BenchmarkIntegrate(b *testing.B) {
	for _, batch := range []int{1, 16, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			m := tlogtest.NewMemory()
			l := newLog(b, m.Stores(), 1000)
			for i := 0; i < 10000; i += 1000 {
				if _, err := l.Submit(b.Context(), tlogtest.TestEntries("base", i, 1000)...); err != nil {
					b.Fatal(err)
				}
				if _, err := l.Integrate(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			n := 0
			writes := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := newLog(b, m.Stores(), batch).Submit(b.Context(), tlogtest.TestEntries("bench", n, batch)...); err != nil {
					b.Fatal(err)
				}
				f := tlogtest.NewFaulty(m.Stores(), 0)
				fl := newLog(b, f.Stores(), batch)
				b.StartTimer()
				if _, err := fl.Integrate(b.Context()); err != nil {
					b.Fatal(err)
				}
				n += batch
				writes += f.Writes()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/integration")
		})
	}
}
