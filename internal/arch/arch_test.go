// Package arch holds the architecture checks: the functional core must not
// depend on AWS, so that policy can be read, tested and reused without it.
package arch

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/monsys/hub"

// adapters may import AWS packages; everything else in the module may not.
var adapters = map[string]bool{
	"internal/api":               true, // API Gateway events in and out
	"internal/aws/dynamo":        true,
	"internal/aws/kmssign":       true,
	"internal/aws/s3store":       true,
	"internal/app":               true,
	"internal/local":             true,
	"internal/local/emu":         true,
	"internal/local/emu/emutest": true,
	"internal/lambdatest":        true,
	"cmd/monsys-local":           true,
	"cmd/monsys-admin":           true,
	"cmd/monsys-demo":            true, // runs the local hub in-process
}

func isAdapter(pkg string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	return adapters[rel] || strings.HasPrefix(rel, "functions/")
}

// TestCoreImportsNoAWS fails when a core package depends, even indirectly, on
// github.com/aws/.
func TestCoreImportsNoAWS(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", stderr(err))
	}
	var core []string
	for _, p := range strings.Fields(string(out)) {
		if !isAdapter(p) {
			core = append(core, p)
		}
	}
	if len(core) < 8 {
		t.Fatalf("only %d core packages found: %v", len(core), core)
	}
	for _, p := range core {
		deps, err := exec.Command("go", "list", "-deps", p).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, stderr(err))
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.HasPrefix(d, "github.com/aws/") {
				t.Errorf("core package %s depends on %s; only adapters may (see internal/arch)", p, d)
				break
			}
		}
	}
}

// TestAdaptersExist keeps the allow-list honest: a name that no longer
// matches a package is a hole in the check.
func TestAdaptersExist(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatal(stderr(err))
	}
	have := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		have[strings.TrimPrefix(p, module+"/")] = true
	}
	for a := range adapters {
		if !have[a] && a != "internal/aws/s3store" && a != "cmd/monsys-admin" {
			t.Errorf("adapter %s in the allow-list is not a package", a)
		}
	}
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + ": " + string(ee.Stderr)
	}
	return err.Error()
}
