package pack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

// benchRecords is the number of synthetic records per benchmark iteration:
// MONSYS_BENCH_RECORDS=1000000 go test -run X -bench . ./internal/pack/
func benchRecords(b *testing.B) int {
	if s := os.Getenv("MONSYS_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("MONSYS_BENCH_RECORDS=%q", s)
		}
		return n
	}
	return 20000
}

type metric struct {
	Type    string    `json:"type"`
	TS      string    `json:"ts"`
	AgentID string    `json:"agent_id"`
	CPU     float64   `json:"cpu"`
	MemUsed int64     `json:"mem_used"`
	Load    []float64 `json:"load"`
	Host    string    `json:"host"`
	Seq     int64     `json:"seq"`
}

func synth(n int) []metric {
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	out := make([]metric, n)
	for i := range out {
		j := (i * 7919) % n // out of order, as a query might return them
		out[i] = metric{
			Type: "metric", TS: base.Add(time.Duration(j) * time.Second).Format(time.RFC3339),
			AgentID: fmt.Sprintf("web-edge-%02d", j%16), CPU: float64(j%1000) / 7, MemUsed: int64(j) * 4096,
			Load: []float64{0.5, float64(j%10) / 3, 1.25}, Host: "web-edge.example.net", Seq: 1743465600000000000 + int64(j),
		}
	}
	return out
}

func BenchmarkBuild(b *testing.B) {
	recs := synth(benchRecords(b))
	k := packtest.Key(1)
	meta := packtest.Meta(k)
	signer := packtest.Signer{Priv: k}
	var dataBytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bl, err := pack.NewBuilder(meta, signer, pack.Options{})
		if err != nil {
			b.Fatal(err)
		}
		fw, err := bl.Create("agents/web-edge-01/metric.ndjson")
		if err != nil {
			b.Fatal(err)
		}
		for j := range recs {
			if err := fw.Add(&recs[j]); err != nil {
				b.Fatal(err)
			}
		}
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		res, err := bl.Finish(context.Background(), io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		dataBytes = res.DataBytes
		if i == 0 {
			b.SetBytes(dataBytes)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFloor is the least any pack writer must do with the same data:
// SHA-256 and gzip of the finished NDJSON bytes.
func BenchmarkFloor(b *testing.B) {
	recs := synth(benchRecords(b))
	lines := make([][]byte, len(recs))
	for i := range recs {
		l, err := canon.MarshalLine(&recs[i])
		if err != nil {
			b.Fatal(err)
		}
		lines[i] = l
	}
	slices.SortFunc(lines, bytes.Compare)
	data := bytes.Join(lines, nil)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = sha256.Sum256(data)
		zw, err := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
