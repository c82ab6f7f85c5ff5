package state

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestUpdate(t *testing.T) {
	t.Run("ok/missing file is zero state", func(t *testing.T) {
		st, err := NewStore(t.TempDir()).Load()
		if err != nil || st.LastSeq != 0 || st.AgentID != "" {
			t.Fatalf("Load = %+v, %v", st, err)
		}
	})
	t.Run("ok/concurrent updates all land", func(t *testing.T) {
		s := NewStore(t.TempDir())
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := s.Update(func(st *State) error { st.LastSeq++; return nil }); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st, _ := s.Load()
		if st.LastSeq != 20 {
			t.Fatalf("LastSeq = %d, want 20", st.LastSeq)
		}
	})
	t.Run("fail/fn error leaves state unchanged", func(t *testing.T) {
		s := NewStore(t.TempDir())
		_, _ = s.Update(func(st *State) error { st.AgentID = "a1"; return nil })
		boom := errors.New("boom")
		if _, err := s.Update(func(st *State) error { st.AgentID = "a2"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		st, _ := s.Load()
		if st.AgentID != "a1" {
			t.Fatalf("AgentID = %q, want a1", st.AgentID)
		}
	})
	t.Run("fail/corrupt file", func(t *testing.T) {
		dir := t.TempDir()
		_ = os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o600)
		if _, err := NewStore(dir).Load(); err == nil {
			t.Fatal("corrupt state loaded")
		}
	})
}
