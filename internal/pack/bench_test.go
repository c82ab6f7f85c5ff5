package pack_test

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

// benchRecords is the number of synthetic records per benchmark iteration:
// MONSYS_BENCH_RECORDS=1000000 go test -run X -bench . ./internal/pack/
// (scripts/bench-pack.sh runs the whole set and prints the ratios).
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

var benchBase = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func synth(n int) []metric {
	out := make([]metric, n)
	for i := range out {
		j := (i * 7919) % n // out of order, as a query might return them
		out[i] = metric{
			Type: "metric", TS: benchBase.Add(time.Duration(j) * time.Second).Format(time.RFC3339),
			AgentID: fmt.Sprintf("web-edge-%02d", j%16), CPU: float64(j%1000) / 7, MemUsed: int64(j) * 4096,
			Load: []float64{0.5, float64(j%10) / 3, 1.25}, Host: "web-edge.example.net", Seq: 1743465600000000000 + int64(j),
		}
	}
	return out
}

// appendRaw appends record i of n as an agent would send it: members in the
// agent's order (not canonical), floats as Go prints them.
func appendRaw(b []byte, i, n int) []byte {
	j := (i * 7919) % n
	b = append(b, `{"type":"metric","ts":"`...)
	b = benchBase.Add(time.Duration(j)*time.Second).AppendFormat(b, time.RFC3339)
	b = append(b, `","agent_id":"web-edge-`...)
	b = strconv.AppendInt(b, int64(j%16), 10)
	b = append(b, `","cpu":`...)
	b = strconv.AppendFloat(b, float64(j%1000)/7, 'g', -1, 64)
	b = append(b, `,"mem_used":`...)
	b = strconv.AppendInt(b, int64(j)*4096, 10)
	b = append(b, `,"load":[0.5,`...)
	b = strconv.AppendFloat(b, float64(j%10)/3, 'g', -1, 64)
	b = append(b, `,1.25],"host":"web-edge.example.net","seq":"`...)
	b = strconv.AppendInt(b, 1743465600000000000+int64(j), 10)
	return append(b, `"}`...)
}

func synthRaw(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = appendRaw(nil, i, n)
	}
	return out
}

// BenchmarkBuild is the builder on the hub's path: raw JSON records, as
// stored batches hold them, canonicalized, sorted, spooled, hashed, signed,
// tarred and gzipped.
func BenchmarkBuild(b *testing.B) {
	recs := synthRaw(benchRecords(b))
	k := packtest.Key(1)
	meta := packtest.Meta(k)
	signer := packtest.Signer{Priv: k}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := buildRaw(b, meta, signer, recs)
		if i == 0 {
			b.SetBytes(res.DataBytes)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBuildStructs is the builder fed Go values (FileWriter.Add):
// encoding/json first, then canonicalization.
func BenchmarkBuildStructs(b *testing.B) {
	recs := synth(benchRecords(b))
	k := packtest.Key(1)
	meta := packtest.Meta(k)
	signer := packtest.Signer{Priv: k}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := build(b, meta, signer, len(recs), func(fw *pack.FileWriter, j int) error { return fw.Add(&recs[j]) })
		if i == 0 {
			b.SetBytes(res.DataBytes)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFloor is the least any pack writer must do with the same data:
// SHA-256 and gzip (at the builder's level) of the finished NDJSON bytes.
func BenchmarkFloor(b *testing.B) { benchFloor(b, pack.DefaultLevel) }

// floorData is the sorted canonical NDJSON of the benchmark's records.
func floorData(b *testing.B, recs [][]byte) []byte {
	lines := make([][]byte, len(recs))
	for i, r := range recs {
		l, err := canon.Transform(r)
		if err != nil {
			b.Fatal(err)
		}
		lines[i] = append(l, '\n')
	}
	slices.SortFunc(lines, bytes.Compare)
	return bytes.Join(lines, nil)
}

// floor hashes data and gzips it at level with klauspost/compress, or with
// the standard library's compress/gzip when std is set.
func floor(b *testing.B, data []byte, level int, std bool) {
	_ = sha256.Sum256(data)
	var zw io.WriteCloser
	var err error
	if std {
		zw, err = stdgzip.NewWriterLevel(io.Discard, level)
	} else {
		zw, err = gzip.NewWriterLevel(io.Discard, level)
	}
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

// benchFloor hashes and gzips, at level, the sorted canonical NDJSON of the
// benchmark's records.
func benchFloor(b *testing.B, level int) {
	recs := synthRaw(benchRecords(b))
	data := floorData(b, recs)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		floor(b, data, level, false)
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBuildVsFloor measures the builder and the floors in turns, in one
// run, so that a noisy neighbour slows them alike: each iteration builds the
// pack, then hashes and gzips its NDJSON at the builder's level 1, at level
// 6 (both klauspost/compress) and at level 6 with the standard library.
// It reports the builder's throughput and, from the best and from the
// median runs, the ratio floor time / build time for each floor (1 means
// as fast as the floor).
func BenchmarkBuildVsFloor(b *testing.B) {
	recs := synthRaw(benchRecords(b))
	data := floorData(b, recs)
	k := packtest.Key(1)
	meta := packtest.Meta(k)
	signer := packtest.Signer{Priv: k}
	var build, l1, l6, std []time.Duration
	timed := func(into *[]time.Duration, f func()) {
		t0 := time.Now()
		f()
		*into = append(*into, time.Since(t0))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timed(&build, func() { buildRaw(b, meta, signer, recs) })
		timed(&l1, func() { floor(b, data, pack.DefaultLevel, false) })
		timed(&l6, func() { floor(b, data, gzip.DefaultCompression, false) })
		timed(&std, func() { floor(b, data, stdgzip.DefaultCompression, true) })
	}
	b.StopTimer()
	// The best of the runs is the least disturbed by the machine's other
	// load (the builder, using every core, suffers from it more than the
	// one-core floors); the medians show how much that load weighed.
	best := func(d []time.Duration) float64 { return slices.Min(d).Seconds() }
	median := func(d []time.Duration) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2].Seconds()
	}
	bb, mb := best(build), median(build)
	b.ReportMetric(float64(len(recs))/bb, "records/s")
	b.ReportMetric(float64(len(data))/bb/1e6, "build-MB/s")
	b.ReportMetric(best(l1)/bb, "best-ratio-level1")
	b.ReportMetric(best(l6)/bb, "best-ratio-level6")
	b.ReportMetric(best(std)/bb, "best-ratio-stdlib6")
	b.ReportMetric(median(l1)/mb, "median-ratio-level1")
	b.ReportMetric(median(l6)/mb, "median-ratio-level6")
	b.ReportMetric(median(std)/mb, "median-ratio-stdlib6")
}

// buildRaw builds a pack of recs, as BenchmarkBuild does, and discards it.
func buildRaw(b *testing.B, meta pack.Meta, signer pack.Signer, recs [][]byte) *pack.Result {
	return build(b, meta, signer, len(recs), func(fw *pack.FileWriter, j int) error { return fw.AddJSON(recs[j]) })
}

// build builds a pack of one file of n records, add adding record j, and
// discards it.
func build(b *testing.B, meta pack.Meta, signer pack.Signer, n int, add func(fw *pack.FileWriter, j int) error) *pack.Result {
	bl, err := pack.NewBuilder(meta, signer, pack.Options{})
	if err != nil {
		b.Fatal(err)
	}
	fw, err := bl.Create("agents/web-edge-01/metric.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	for j := range n {
		if err := add(fw, j); err != nil {
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
	return res
}

// BenchmarkCanon is canonicalization alone, per record.
func BenchmarkCanon(b *testing.B) {
	recs := synthRaw(1000)
	var t canon.Transformer
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if out, err = t.Append(out[:0], recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPeakRSS builds a pack of MONSYS_RSS_RECORDS synthetic records,
// generated one at a time so that only the builder holds memory, writes it
// to MONSYS_RSS_OUT (or discards it) and prints the process's peak RSS.
// scripts/bench-pack.sh runs it in fresh processes at 100,000 and 1,000,000.
func TestPeakRSS(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MONSYS_RSS_RECORDS"))
	if n <= 0 {
		t.Skip("set MONSYS_RSS_RECORDS to measure")
	}
	var opts pack.Options
	if mib, _ := strconv.Atoi(os.Getenv("MONSYS_RSS_SORT_MIB")); mib > 0 {
		opts.SortMemory = int64(mib) << 20
	}
	k := packtest.Key(1)
	bl, err := pack.NewBuilder(packtest.Meta(k), packtest.Signer{Priv: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := bl.Create("agents/web-edge-01/metric.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var rec []byte
	for i := range n {
		rec = appendRaw(rec[:0], i, n)
		if err := fw.AddJSON(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var w io.Writer = io.Discard
	if p := os.Getenv("MONSYS_RSS_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 1<<20)
		defer bw.Flush()
		w = bw
	}
	res, err := bl.Finish(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			fmt.Printf("peak_rss_kib %s records %d data_bytes %d pack_bytes %d\n", f[1], n, res.DataBytes, res.Size)
		}
	}
}

// BenchmarkFloorDefault is BenchmarkFloor at gzip's default level (6), the
// floor as first measured.
func BenchmarkFloorDefault(b *testing.B) { benchFloor(b, gzip.DefaultCompression) }
