package packtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/pack"
)

// Backends of verify.py's Ed25519 check.
const (
	Cryptography = "cryptography"
	PurePython   = "pure-python"
)

var (
	pyOnce   sync.Once
	pyPath   string
	pyCrypto bool
)

func probe() {
	p, err := exec.LookPath("python3")
	if err != nil {
		return
	}
	pyPath = p
	pyCrypto = exec.Command(p, "-c", "import cryptography.hazmat.primitives.asymmetric.ed25519").Run() == nil
}

// Python returns the python3 interpreter, skipping tb when there is none, or
// when backend is Cryptography and that package is not importable.
func Python(tb testing.TB, backend string) string {
	tb.Helper()
	pyOnce.Do(probe)
	if pyPath == "" {
		tb.Skip("python3 not on PATH")
	}
	if backend == Cryptography && !pyCrypto {
		tb.Skip("python3 cannot import cryptography")
	}
	return pyPath
}

// Env returns the environment that makes verify.py use backend: for
// PurePython a PYTHONPATH directory whose cryptography package fails to
// import.
func Env(tb testing.TB, backend string) []string {
	tb.Helper()
	env := []string{"PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONPATH=") && !strings.HasPrefix(kv, "PYTHONIOENCODING=") {
			env = append(env, kv)
		}
	}
	if backend == PurePython {
		dir := filepath.Join(tb.TempDir(), "nocrypto")
		pkg := filepath.Join(dir, "cryptography")
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			tb.Fatal(err)
		}
		stub := "raise ImportError('cryptography disabled by the test')\n"
		if err := os.WriteFile(filepath.Join(pkg, "__init__.py"), []byte(stub), 0o644); err != nil {
			tb.Fatal(err)
		}
		env = append(env, "PYTHONPATH="+dir)
	}
	return env
}

// VerifyPy writes the embedded verify.py to a temporary directory and
// returns its path.
func VerifyPy(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "verify.py")
	if err := os.WriteFile(p, pack.VerifyScript(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// RunPy runs "python3 script args..." with backend and returns the exit
// status, stdout and stderr.
func RunPy(tb testing.TB, backend, script string, args ...string) (int, string, string) {
	tb.Helper()
	cmd := exec.Command(Python(tb, backend), append([]string{script}, args...)...)
	cmd.Env = Env(tb, backend)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	default:
		tb.Fatalf("run verify.py: %v", err)
		return -1, "", ""
	}
}
