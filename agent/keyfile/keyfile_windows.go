//go:build windows

package keyfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/monsys/hub/internal/atomicfile"
)

// keySDDL grants full access to SYSTEM and the Administrators group only, and
// is protected (P) so that no ACE is inherited from the directory.
const keySDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

// checkAccess refuses a key file whose DACL allows anyone other than SYSTEM
// and Administrators, or that has no DACL at all (which allows everyone).
func checkAccess(path string, _ os.FileInfo) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return fmt.Errorf("no DACL (everyone has access): %w", ErrInsecure)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("read ACE %d: %w", i, err)
		}
		switch ace.Header.AceType {
		case windows.ACCESS_DENIED_ACE_TYPE:
			continue
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			if sid.IsWellKnown(windows.WinLocalSystemSid) || sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
				continue
			}
			return fmt.Errorf("ACL grants access to %s, want SYSTEM and Administrators only: %w", sid.String(), ErrInsecure)
		default:
			return fmt.Errorf("ACL has an entry of type %d: %w", ace.Header.AceType, ErrInsecure)
		}
	}
	return nil
}

// write creates a temporary file whose security descriptor is set at
// creation (so it never has a wider ACL), writes and flushes the seed, and
// moves it over path; without replace the move fails if path exists.
func write(path string, seed []byte, replace bool) error {
	sd, err := windows.SecurityDescriptorFromString(keySDDL)
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new"+atomicfile.TempSuffix)
	_ = os.Remove(tmp)
	tmp16, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(tmp16, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return fmt.Errorf("create %q: %w", tmp, err)
	}
	defer os.Remove(tmp)
	f := os.NewFile(uintptr(h), tmp)
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
	path16, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	flags := uint32(windows.MOVEFILE_WRITE_THROUGH)
	if replace {
		flags |= windows.MOVEFILE_REPLACE_EXISTING
	}
	if err := windows.MoveFileEx(tmp16, path16, flags); err != nil {
		if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
			return ErrExist
		}
		return fmt.Errorf("move %q: %w", tmp, err)
	}
	return nil
}
