package flock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestTryAcquire(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(p)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description, so a second open
	// in the same process conflicts just as another process would.
	if _, err := TryAcquire(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("fail/second lock: err = %v, want ErrLocked", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryAcquire(p)
	if err != nil {
		t.Fatalf("ok/after unlock: %v", err)
	}
	_ = l2.Unlock()
}
