//go:build windows

package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// SyncDir is a no-op on Windows: NTFS journals renames, and directories cannot
// be opened for FlushFileBuffers without backup privileges.
func SyncDir(string) error { return nil }

// dirSDDL grants SYSTEM and Administrators full access, inherited by the files
// created inside (OICI), and blocks inheritance from the parent (P).
const dirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// MkdirPrivate creates dir (and its parents) when missing; dir itself gets an
// ACL limited to SYSTEM and Administrators from the moment it exists.
func MkdirPrivate(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create directory %q: %w", dir, err)
	}
	sd, err := windows.SecurityDescriptorFromString(dirSDDL)
	if err != nil {
		return fmt.Errorf("create directory %q: %w", dir, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return fmt.Errorf("create directory %q: %w", dir, err)
	}
	if err := windows.CreateDirectory(p, sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		return fmt.Errorf("create directory %q: %w", dir, err)
	}
	return nil
}
