package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// deepPasses checks the pack tgz with --deep (SPEC 9) in the Go verifier
// and in verify.py with both Ed25519 back ends: each must pass with the
// same lines, among them every line of want.
func deepPasses(t *testing.T, tgz []byte, want ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pack.tar.gz")
	if err := os.WriteFile(path, tgz, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.VerifyPath(path, verify.Options{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("--deep fails on the clean agent's pack:\n%s", rep.Text())
	}
	for _, w := range want {
		if !strings.Contains(rep.Text(), w) {
			t.Fatalf("--deep does not say %q:\n%s", w, rep.Text())
		}
	}
	script := packtest.VerifyPy(t)
	for _, be := range []string{packtest.Cryptography, packtest.PurePython} {
		code, stdout, stderr := packtest.RunPy(t, be, script, path, "--deep")
		if code != 0 || stdout != rep.Text() {
			t.Fatalf("verify.py --deep (%s) exit %d, want 0 and the Go verifier's lines:\n--- verify.py\n%s%s--- Go\n%s", be, code, stdout, stderr, rep.Text())
		}
	}
	t.Logf("--deep:\n%s", rep.Text())
}
