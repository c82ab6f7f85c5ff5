//go:build !windows

package collect

import (
	"os"
	"syscall"
	"time"
)

func keyOf(_ string, fi os.FileInfo) fileKey {
	k := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return k
}

// fileTimes returns the access and status-change times of fi.
func fileTimes(fi os.FileInfo) (atime, ctime time.Time, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.ModTime(), fi.ModTime(), 0
	}
	return statAtime(st), statCtime(st), uint64(st.Ino)
}
