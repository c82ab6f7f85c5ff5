package spool

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/flate"
)

// TestCRC32Combine checks the combined CRC against the CRC of the joined
// bytes, for empty and non-empty parts of many lengths.
func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 63, 64, 511, 512, 4096, 65537, 1 << 20} {
		for range 4 {
			a := make([]byte, r.IntN(3000))
			b := make([]byte, n)
			for i := range a {
				a[i] = byte(r.Uint32())
			}
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			want := crc32.ChecksumIEEE(append(slices.Clone(a), b...))
			if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(n)); got != want {
				t.Fatalf("combine(len %d, len %d) = %08x, want %08x", len(a), n, got, want)
			}
		}
	}
}

// TestGzipStreamSplices assembles a gzip member from plain writes and
// separately deflated segments, at several levels, and reads it back with
// the standard library's reader: same bytes, valid CRC and size, nothing
// after the member.
func TestGzipStreamSplices(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	piece := func(n int) []byte {
		// Compressible text with repeats, so that back-references are used.
		words := []string{`{"agent_id":"web-edge-01",`, `"cpu":12.5,`, `"ts":"2026-04-01T00:00:00Z"}`, "\n", "\x00\xff"}
		var b []byte
		for len(b) < n {
			b = append(b, words[r.IntN(len(words))]...)
		}
		return b[:n]
	}
	for _, level := range []int{flate.BestSpeed, 5, flate.BestCompression, flate.HuffmanOnly} {
		var want []byte
		var out bytes.Buffer
		zw, err := flate.NewWriter(io.Discard, level)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := newGzipStream(&out, zw, level)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			p := piece(r.IntN(70000))
			want = append(want, p...)
			if i%3 == 0 {
				if _, err := gz.Write(p); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// A segment deflated on its own, as Seal makes them.
			var seg bytes.Buffer
			sw, _ := flate.NewWriter(&seg, level)
			sw.Write(p)
			if err := sw.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := gz.Splice(&seg, int64(len(p)), crc32.ChecksumIEEE(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("level %d: %d bytes back, want %d", level, len(got), len(want))
		}
		if h := zr.Header; h.Name != "" || h.Comment != "" || !h.ModTime.IsZero() || h.OS != 255 {
			t.Fatalf("level %d: header %+v", level, h)
		}
		// A wrong CRC for a segment is caught by any reader.
		var bad bytes.Buffer
		gz, _ = newGzipStream(&bad, zw, level)
		var seg bytes.Buffer
		sw, _ := flate.NewWriter(&seg, level)
		sw.Write([]byte("hello"))
		sw.Flush()
		gz.Splice(&seg, 5, crc32.ChecksumIEEE([]byte("hellO")))
		gz.Close()
		zr, _ = gzip.NewReader(bytes.NewReader(bad.Bytes()))
		if _, err := io.ReadAll(zr); err != gzip.ErrChecksum {
			t.Fatalf("level %d: wrong segment CRC read with %v", level, err)
		}
	}
}

// TestReduceRuns merges more runs than maxFanIn: the result is every line,
// sorted, and the merged runs are removed.
func TestReduceRuns(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 10))
	var runs []string
	var all [][]byte
	for range 3*maxFanIn + 5 {
		lines := make([][]byte, r.IntN(20))
		for i := range lines {
			lines[i] = []byte{'{', byte('a' + r.IntN(26)), byte('a' + r.IntN(26)), '}', '\n'}
		}
		all = append(all, lines...)
		name, err := (&pool{}).writeRun(dir, lines)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, name)
	}
	reduced, err := reduceRuns(dir, slices.Clone(runs))
	if err != nil {
		t.Fatal(err)
	}
	if len(reduced) > maxFanIn {
		t.Fatalf("%d runs left", len(reduced))
	}
	var out bytes.Buffer
	if err := mergeRuns(reduced, nil, &out); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, bytes.Compare)
	if want := bytes.Join(all, nil); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("merged %d bytes, want %d sorted", out.Len(), len(want))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "run-*"))
	if len(left) != len(reduced) {
		t.Fatalf("%d run files on disk, %d runs", len(left), len(reduced))
	}
	for _, name := range runs[:maxFanIn] {
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Fatalf("merged run %s still there: %v", name, err)
		}
	}
}
