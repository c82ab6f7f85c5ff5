package spool_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack/internal/spool"
)

// TestSpool adds records to three files (one left empty) in turns, seals
// them and splices them into one gzip member between plain bytes, with
// one lane and with three, and a budget that spills every line or none:
// each file comes back as its canonical lines, sorted, with their hash,
// size and count, and the spool's files are gone after Close.
func TestSpool(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		memory  int64
	}{{"ok/one-lane", 1, 0}, {"ok/three-lanes", 3, 0}, {"ok/spill-everything", 3, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := spool.New(spool.Options{TempDir: dir, Memory: tc.memory, Workers: tc.workers, Level: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			names := []string{"b.ndjson", "empty.ndjson", "a.ndjson"}
			for i, n := range names {
				if id, err := s.NewFile(n); err != nil || id != i {
					t.Fatalf("NewFile(%q) = %d, %v", n, id, err)
				}
			}
			want := map[int][]string{}
			for i := 2000; i > 0; i-- {
				f := []int{0, 2}[i%2]
				raw := fmt.Sprintf(`{ "z": %d, "a": "%s", "n": 1E%d }`, i, strings.Repeat("x", i%17), i%5)
				if err := s.Add(f, []byte(raw)); err != nil {
					t.Fatal(err)
				}
				c, err := canon.Transform([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				want[f] = append(want[f], string(c)+"\n")
			}
			segs, err := s.Seal(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			gz, err := s.Gzip(&out)
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for _, f := range []int{2, 1, 0} {
				lines := want[f]
				slices.Sort(lines)
				body := strings.Join(lines, "")
				sum := sha256.Sum256([]byte(body))
				seg := segs[f]
				if seg.SHA256 != hex.EncodeToString(sum[:]) || seg.Size != int64(len(body)) || seg.Lines != int64(len(lines)) {
					t.Fatalf("%s: segment %+v for %d lines, %d bytes", names[f], seg, len(lines), len(body))
				}
				head := "-- " + names[f] + "\n"
				if _, err := gz.Write([]byte(head)); err != nil {
					t.Fatal(err)
				}
				if err := gz.Splice(seg); err != nil {
					t.Fatal(err)
				}
				all = append(append(all, head...), body...)
			}
			if err := gz.Close(); err != nil {
				t.Fatal(err)
			}
			if gz.Written() != int64(out.Len()) {
				t.Fatalf("Written() = %d, wrote %d", gz.Written(), out.Len())
			}
			zr, err := gzip.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("the member holds %d bytes, want %d", len(got), len(all))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("%d entries left in the temp dir", len(left))
			}
		})
	}
}

// TestSpoolBadRecord: a record that does not canonicalize breaks the
// spool, with and without workers: the error names the record and its
// file, Err keeps it, and Seal refuses.
func TestSpoolBadRecord(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("fail/workers-%d", workers), func(t *testing.T) {
			s, err := spool.New(spool.Options{TempDir: t.TempDir(), Workers: workers, Level: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			f, _ := s.NewFile("x.ndjson")
			if err := s.Add(f, []byte(`{"a":1}`)); err != nil {
				t.Fatal(err)
			}
			err = s.Add(f, []byte(`{"a":1,"a":2}`))
			if err == nil {
				err = s.Flush()
			}
			if !errors.Is(err, canon.ErrDuplicateKey) || !strings.Contains(err.Error(), `record 2 of "x.ndjson"`) {
				t.Fatalf("err = %v", err)
			}
			if !errors.Is(s.Err(), canon.ErrDuplicateKey) {
				t.Fatalf("Err() = %v", s.Err())
			}
			if _, err := s.Seal(t.Context()); !errors.Is(err, canon.ErrDuplicateKey) {
				t.Fatalf("Seal after a bad record: %v", err)
			}
		})
	}
}

// TestSpoolOptions: a deflate level the library does not have is refused
// before anything is made.
func TestSpoolOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := spool.New(spool.Options{TempDir: dir, Level: 42}); !errors.Is(err, spool.ErrLevel) {
		t.Fatalf("level 42: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("%d entries left in the temp dir", len(left))
	}
}
