package pack_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/monsys/hub/internal/pack/packtest"
)

// TestVerifyPyTransparency runs transparency_test.py: verify.py's SPEC 10
// checks on the Go verifier's vectors (same lines, same outcome), once with
// `cryptography` and once without.
func TestVerifyPyTransparency(t *testing.T) {
	vectors, err := filepath.Abs("../verify/testdata/transparency/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{packtest.Cryptography, packtest.PurePython} {
		t.Run("ok/"+backend, func(t *testing.T) {
			cmd := exec.Command(packtest.Python(t, backend), "-m", "unittest", "-v", "transparency_test")
			cmd.Env = append(packtest.Env(t, backend), "MONSYS_TLOG_VECTORS="+vectors)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("transparency_test.py (%s): %v\n%s", backend, err, out)
			}
		})
	}
}
