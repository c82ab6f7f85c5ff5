//go:build !windows

package atomicfile

import (
	"fmt"
	"os"
)

// SyncDir flushes a directory's entries (creations, renames, removals) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %q: %w", dir, err)
	}
	return nil
}

// MkdirPrivate creates dir and its parents when missing; a directory it
// creates is accessible by the owner only. An existing directory is left as
// it is (systemd's StateDirectory= sets its mode).
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %q: %w", dir, err)
	}
	return nil
}
