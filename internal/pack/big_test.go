package pack_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

// TestBigPack builds the pack of packtest.Big(MONSYS_BIG_RECORDS), in
// format MONSYS_BIG_FORMAT (2, or 1 for the comparison: format 2 without
// batch.ndjson), writes it to MONSYS_BIG_OUT (or discards it) and prints
// its size, the build's time with and without reading the source (the
// source makes up and signs its batches as it is read, as the builder
// reads it), and the process's peak RSS. scripts/bench-pack.sh runs it in
// fresh processes (docs/evidence-pack.md, "Speed").
func TestBigPack(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MONSYS_BIG_RECORDS"))
	if n <= 0 {
		t.Skip("set MONSYS_BIG_RECORDS to build")
	}
	format := os.Getenv("MONSYS_BIG_FORMAT")
	build := pack.Build
	switch format {
	case "", "2":
		format = "2"
	case "1":
		build = pack.BuildFormat1
	default:
		t.Fatalf("MONSYS_BIG_FORMAT=%q: want 1 or 2", format)
	}
	ctx := context.Background()
	meta, signer, src := packtest.Big(n)
	// What reading the source costs the build: every batch, and for format 2
	// every agent's chain once more (the batches between the listed ones).
	t0 := time.Now()
	agents := map[string]bool{}
	if err := src.Batches(ctx, pack.Period{}, func(b pack.Batch) error { agents[b.AgentID] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if format == "2" {
		for id := range agents {
			if err := src.SignedBatches(ctx, id, 0, 1<<62, func(pack.Batch) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := time.Since(t0)
	var w io.Writer = io.Discard
	var bw *bufio.Writer
	if p := os.Getenv("MONSYS_BIG_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		bw = bufio.NewWriterSize(f, 1<<20)
		w = bw
	}
	t1 := time.Now()
	res, err := build(ctx, meta, signer, pack.Options{}, src, w)
	if err != nil {
		t.Fatal(err)
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	total := time.Since(t1)
	rss := "unknown"
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "VmHWM:" {
				rss = f[1]
			}
		}
	}
	fmt.Printf("big_pack format %s records %d lines %d data_bytes %d pack_bytes %d build_s %.3f source_s %.3f peak_rss_kib %s\n",
		format, src.Records(), res.Records, res.DataBytes, res.Size, total.Seconds(), read.Seconds(), rss)
}
