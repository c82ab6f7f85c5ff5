//go:build !windows

package keyfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLoadModeRefusals(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		want error
	}{
		{name: "ok/0600", mode: 0o600},
		{name: "ok/0400", mode: 0o400},
		{name: "fail/0640 group-readable", mode: 0o640, want: ErrInsecure},
		{name: "fail/0604 other-readable", mode: 0o604, want: ErrInsecure},
		{name: "fail/0644", mode: 0o644, want: ErrInsecure},
		{name: "fail/0620 group-writable", mode: 0o620, want: ErrInsecure},
		{name: "fail/0666", mode: 0o666, want: ErrInsecure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Path(t.TempDir())
			if err := os.WriteFile(p, make([]byte, SeedSize), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load with mode %#o: err = %v, want %v", tt.mode, err, tt.want)
			}
		})
	}
	t.Run("fail/symlink", func(t *testing.T) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real")
		if err := os.WriteFile(real, make([]byte, SeedSize), 0o600); err != nil {
			t.Fatal(err)
		}
		p := Path(dir)
		if err := os.Symlink(real, p); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); !errors.Is(err, ErrInsecure) {
			t.Fatalf("Load of a symlink: err = %v, want ErrInsecure", err)
		}
	})
}

// TestCreateNeverWider checks the created file's mode under a permissive
// umask: the mode must be 0600 whatever the umask.
func TestCreateNeverWider(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	p := Path(t.TempDir())
	if _, _, err := LoadOrCreate(p, fixedRand(9)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %#o, want 0600", fi.Mode().Perm())
	}
}
