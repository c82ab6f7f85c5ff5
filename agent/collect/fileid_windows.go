//go:build windows

package collect

import (
	"os"
	"syscall"
	"time"
)

func keyOf(path string, fi os.FileInfo) fileKey {
	return fileKey{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// fileTimes returns the access time; Windows has no status-change time, so
// the write time stands in for it.
func fileTimes(fi os.FileInfo) (atime, ctime time.Time, ino uint64) {
	if d, ok := fi.Sys().(*syscall.Win32FileAttributeData); ok {
		return time.Unix(0, d.LastAccessTime.Nanoseconds()), fi.ModTime(), 0
	}
	return fi.ModTime(), fi.ModTime(), 0
}
