package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func body(n int, size int) []byte {
	b := bytes.Repeat([]byte{' '}, size)
	copy(b, fmt.Sprintf(`[{"n":%d}]`, n))
	return b
}

func mustOpen(t *testing.T, dir string, max int64) *Spool {
	t.Helper()
	s, err := Open(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drain pops every batch in order and returns their bodies' first bytes.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var got []string
	for {
		e, err := s.Head()
		if errors.Is(err, ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(bytes.TrimRight(e.Body, " ")))
		if err := s.Remove(e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrderAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, MinMaxBytes)
	for i := range 5 {
		if _, err := s.Append(body(i, 10), 1); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of a write leaves a temporary file: it is
	// ignored and cleaned, never sent.
	if err := os.WriteFile(filepath.Join(dir, ".00000000000000000006-1.batch.abcd.tmp"), []byte("[partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, MinMaxBytes)
	if st := s.Stats(); st.Batches != 5 || st.Bytes != 50 {
		t.Fatalf("after reopen: %+v, want 5 batches of 50 bytes", st)
	}
	if _, err := s.Append(body(5, 10), 1); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	want := []string{`[{"n":0}]`, `[{"n":1}]`, `[{"n":2}]`, `[{"n":3}]`, `[{"n":4}]`, `[{"n":5}]`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("drain order = %v, want %v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != dropsFile {
			t.Errorf("left in spool dir: %s", e.Name())
		}
	}
}

func TestBound(t *testing.T) {
	const size = 100 << 10 // 100 KiB batches; 10 fit in 1 MiB
	tests := []struct {
		name        string
		appends     int
		wantBatches int
		wantDropped int64
	}{
		{name: "ok/under the bound nothing dropped", appends: 10, wantBatches: 10, wantDropped: 0},
		{name: "ok/past the bound oldest dropped", appends: 13, wantBatches: 10, wantDropped: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, MinMaxBytes)
			for i := range tt.appends {
				if _, err := s.Append(body(i, size), 7); err != nil {
					t.Fatal(err)
				}
			}
			st := s.Stats()
			if st.Batches != tt.wantBatches || st.Bytes > MinMaxBytes {
				t.Fatalf("stats = %+v, want %d batches within bound", st, tt.wantBatches)
			}
			if st.Unsent.Batches != tt.wantDropped || st.Unsent.Records != 7*tt.wantDropped || st.DropTotal != st.Unsent {
				t.Fatalf("drops = %+v / %+v, want %d batches", st.Unsent, st.DropTotal, tt.wantDropped)
			}
			// Drop counters survive a restart.
			s = mustOpen(t, dir, MinMaxBytes)
			if got := s.Stats().Unsent.Batches; got != tt.wantDropped {
				t.Fatalf("after reopen unreported drops = %d, want %d", got, tt.wantDropped)
			}
			got := drain(t, s)
			if len(got) > 0 && got[0] != fmt.Sprintf(`[{"n":%d}]`, tt.wantDropped) {
				t.Fatalf("oldest kept = %s, want n=%d (the oldest ones dropped)", got[0], tt.wantDropped)
			}
		})
	}
	t.Run("ok/ack keeps later drops", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), MinMaxBytes)
		for i := range 12 {
			_, _ = s.Append(body(i, size), 1)
		}
		reported := s.Stats().Unsent
		_, _ = s.Append(body(12, size), 1)
		if err := s.AckDrops(reported); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Unsent.Batches != 1 || st.DropTotal.Batches != 3 {
			t.Fatalf("after ack: unsent %+v total %+v, want 1 and 3", st.Unsent, st.DropTotal)
		}
	})
	t.Run("fail/bound below minimum", func(t *testing.T) {
		if _, err := Open(t.TempDir(), MinMaxBytes-1); !errors.Is(err, ErrBound) {
			t.Fatalf("err = %v, want ErrBound", err)
		}
	})
	t.Run("fail/batch larger than bound", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), MinMaxBytes)
		if _, err := s.Append(make([]byte, MinMaxBytes+1), 1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}

func TestReplace(t *testing.T) {
	t.Run("ok/keeps position", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), MinMaxBytes)
		_, _ = s.Append([]byte(`[{"a":1}]`), 1)
		_, _ = s.Append([]byte(`[{"b":1}]`), 1)
		h, _ := s.Head()
		if err := s.Replace(h.ID, []byte(`[{"a":2,"longer":true}]`)); err != nil {
			t.Fatal(err)
		}
		got := drain(t, s)
		if fmt.Sprint(got) != `[[{"a":2,"longer":true}] [{"b":1}]]` {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("fail/dropped meanwhile", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), MinMaxBytes)
		_, _ = s.Append([]byte(`[1]`), 1)
		h, _ := s.Head()
		_ = s.Remove(h.ID)
		if err := s.Replace(h.ID, []byte(`[2]`)); !errors.Is(err, ErrGone) {
			t.Fatalf("err = %v, want ErrGone", err)
		}
		if err := s.Remove(h.ID); err != nil {
			t.Fatalf("second Remove: %v", err)
		}
	})
	t.Run("fail/empty head", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), MinMaxBytes)
		if _, err := s.Head(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("err = %v, want ErrEmpty", err)
		}
	})
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantID  uint64
		wantRec int
		ok      bool
	}{
		{name: "ok/plain", file: "00000000000000000042-17.batch", wantID: 42, wantRec: 17, ok: true},
		{name: "fail/temp", file: ".00000000000000000042-17.batch.ab.tmp", ok: false},
		{name: "fail/drops file", file: "drops.json", ok: false},
		{name: "fail/zero id", file: "00000000000000000000-1.batch", ok: false},
		{name: "fail/no records", file: "00000000000000000001.batch", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, rec, ok := parseName(tt.file)
			if ok != tt.ok || id != tt.wantID || rec != tt.wantRec {
				t.Fatalf("parseName(%q) = %d, %d, %v", tt.file, id, rec, ok)
			}
		})
	}
}
