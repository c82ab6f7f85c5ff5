// Package flock takes advisory whole-file locks, so that two agent processes
// sharing a state directory never send the same spool or interleave state
// updates. The kernel drops the lock when the process dies.
package flock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked means another process holds the lock (TryLock only).
var ErrLocked = errors.New("locked by another process")

// Lock is a held lock; Unlock releases it.
type Lock struct{ f *os.File }

// Acquire blocks until it holds the lock on path (created if missing).
func Acquire(path string) (*Lock, error) { return acquire(path, true) }

// TryAcquire takes the lock on path or fails at once with ErrLocked.
func TryAcquire(path string) (*Lock, error) { return acquire(path, false) }

func acquire(path string, wait bool) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	if err := lockFile(f, wait); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if err := unlockFile(l.f); err != nil {
		_ = l.f.Close()
		return fmt.Errorf("unlock: %w", err)
	}
	return l.f.Close()
}
