package pack_test

import (
	"os/exec"
	"testing"

	"github.com/monsys/hub/internal/pack/packtest"
)

// TestVerifyPyUnit runs verify_test.py (the Ed25519 vectors of
// internal/sig/testdata/ed25519, canonical JSON, helpers) once with
// `cryptography` and once with it made unimportable.
func TestVerifyPyUnit(t *testing.T) {
	for _, backend := range []string{packtest.Cryptography, packtest.PurePython} {
		t.Run("ok/"+backend, func(t *testing.T) {
			py := packtest.Python(t, backend)
			cmd := exec.Command(py, "-m", "unittest", "-v", "verify_test")
			cmd.Env = append(packtest.Env(t, backend), "EXPECT_ED25519_BACKEND="+backend)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("verify_test.py (%s): %v\n%s", backend, err, out)
			}
		})
	}
}
