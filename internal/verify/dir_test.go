package verify_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/monsys/hub/internal/pack/packtest"
)

// TestDirectoryTamper verifies an extracted pack that was then changed on
// disk: both verifiers must agree, and must not follow the symlink.
func TestDirectoryTamper(t *testing.T) {
	k := packtest.Key(1)
	script := packtest.VerifyPy(t)
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []string
	}{
		{"fail/symlink-and-edit", func(t *testing.T, dir string) {
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "data", "passwd.ndjson")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "data", "agents.ndjson"), []byte("{}\n{}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"link", "file_tampered"}},
		{"fail/extra-file-and-missing-file", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "data", "alerts", "anomalies.ndjson"), filepath.Join(dir, "data", "alerts", "moved.ndjson")); err != nil {
				t.Fatal(err)
			}
		}, []string{"file_missing", "file_unlisted"}},
		{"fail/fifo", func(t *testing.T, dir string) {
			if err := mkfifo(filepath.Join(dir, "data", "pipe")); err != nil {
				t.Skip("no mkfifo:", err)
			}
		}, []string{"special_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extract(t, buildPack(t, packtest.Meta(k), k), dir)
			tc.mutate(t, dir)
			g := runGo(t, dir, "")
			if g.exit != 1 {
				t.Fatalf("Go verifier: exit %d\n%s", g.exit, g.text)
			}
			for _, code := range tc.want {
				if !slices.Contains(g.codes, code) {
					t.Fatalf("Go verifier: problems %v, want %q\n%s", g.codes, code, g.text)
				}
			}
			for _, backend := range backends {
				p := runPy(t, script, backend, dir, "")
				if p.exit != 1 || p.text != g.text || !slices.Equal(p.codes, g.codes) {
					t.Fatalf("verify.py (%s) disagrees: exit %d\n%s--- Go\n%s", backend, p.exit, p.text, g.text)
				}
			}
		})
	}
}
