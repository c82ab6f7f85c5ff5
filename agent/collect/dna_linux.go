//go:build linux

package collect

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcFS lists processes from a /proc directory (Root, "/proc" when empty).
type ProcFS struct{ Root string }

var _ ProcSource = ProcFS{}

// Procs implements ProcSource.
func (p ProcFS) Procs(context.Context) ([]Proc, error) {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 32)
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(root, e.Name())
		exe, err := os.Readlink(filepath.Join(dir, "exe"))
		if err != nil {
			continue // kernel thread, gone, or not ours to read
		}
		name, _ := os.ReadFile(filepath.Join(dir, "comm"))
		link := filepath.Join(dir, "exe")
		out = append(out, Proc{
			PID: int32(pid), Name: strings.TrimSpace(string(name)), Exe: exe,
			Open: func() (*os.File, error) { return os.Open(link) },
		})
	}
	return out, nil
}

// DefaultProcSource is the platform's process source.
func DefaultProcSource() ProcSource { return ProcFS{} }
