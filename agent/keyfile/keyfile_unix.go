//go:build !windows

package keyfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/monsys/hub/internal/atomicfile"
)

// checkAccess refuses a file that group or others can access in any way, or
// that belongs to another user, as ssh does for private keys.
func checkAccess(_ string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("mode %#o, want 0600: %w", perm, ErrInsecure)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); int(st.Uid) != uid {
			return fmt.Errorf("owned by uid %d, agent runs as uid %d: %w", st.Uid, uid, ErrInsecure)
		}
	}
	return nil
}

// write stores seed at path with mode 0600. A temporary file is opened with
// O_EXCL and mode 0600 in the same directory, written and synced; then it is
// renamed over path (replace) or hard-linked to path, which fails if path
// exists (no replace); finally the directory is synced.
func write(path string, seed []byte, replace bool) error {
	if replace {
		return atomicfile.Write(path, seed, 0o600)
	}
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".new"+atomicfile.TempSuffix)
	_ = os.Remove(tmp) // a leftover of an interrupted create
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(seed); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return ErrExist
		}
		return err
	}
	return atomicfile.SyncDir(dir)
}
