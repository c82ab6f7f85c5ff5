package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		prior   []byte
		data    []byte
		perm    os.FileMode
		wantErr bool
	}{
		{name: "ok/new file", data: []byte("hello"), perm: 0o600},
		{name: "ok/replace", prior: []byte("old content"), data: []byte("new"), perm: 0o644},
		{name: "ok/empty", data: nil, perm: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tt.prior != nil {
				if err := os.WriteFile(p, tt.prior, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(p, tt.data, tt.perm)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Write: err = %v, wantErr %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			if runtime.GOOS != "windows" {
				fi, _ := os.Stat(p)
				if fi.Mode().Perm() != tt.perm {
					t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory has %d entries, want 1 (no temporary left)", len(entries))
			}
		})
	}
	t.Run("fail/missing directory", func(t *testing.T) {
		if err := Write(filepath.Join(t.TempDir(), "no", "f"), []byte("x"), 0o600); err == nil {
			t.Fatal("Write into a missing directory succeeded")
		}
	})
}

func TestClean(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.batch")
	stale := filepath.Join(dir, ".keep.batch.0011"+TempSuffix)
	for _, p := range []string{keep, stale} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Clean(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Clean removed a real file: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("Clean left the temporary file: %v", err)
	}
}
