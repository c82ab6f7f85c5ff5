// Package atomicfile writes files so that a reader, or the next start after a
// crash, sees either the old content or the new content, never a mix, and so
// that the file never exists with wider permissions than asked for.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TempSuffix ends the name of every temporary file this package creates.
// Readers of a directory skip such names; Clean removes them after a crash.
const TempSuffix = ".tmp"

// Write replaces path with data. The temporary file is created in the same
// directory with O_EXCL and perm from its first byte, written, synced, renamed
// over path, and the directory is synced so the rename survives a power loss.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, filepath.Base(path), perm)
	if err != nil {
		return fmt.Errorf("atomic write %q: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("atomic write %q: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("atomic write %q: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("atomic write %q: close: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("atomic write %q: %w", path, err)
	}
	ok = true
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("atomic write %q: %w", path, err)
	}
	return nil
}

// createTemp opens a new file next to base with O_EXCL and the final
// permissions. The umask can only narrow perm, never widen it.
func createTemp(dir, base string, perm os.FileMode) (*os.File, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(b[:])+TempSuffix)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Some platforms apply perm through the umask only; make it exact.
		if err := f.Chmod(perm); err != nil {
			_ = f.Close()
			_ = os.Remove(name)
			return nil, err
		}
		return f, nil
	}
	return nil, fmt.Errorf("create temporary file in %q: too many collisions", dir)
}

// IsTemp reports whether name (a base name) is a temporary file of this package.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, TempSuffix)
}

// Clean removes temporary files left in dir by a write that was interrupted.
func Clean(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clean %q: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("clean %q: %w", dir, err)
			}
		}
	}
	return nil
}

// Remove deletes path (a missing file is not an error) and syncs its directory.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}
