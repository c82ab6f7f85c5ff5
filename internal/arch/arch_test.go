// Package arch holds the architecture checks: the functional core must not
// depend on AWS, so that policy can be read, tested and reused without it;
// what runs in production must hold no local-development code and no test
// code; and the README's table of folders must say what the tree holds.
package arch

import (
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/monsys/hub"

// adapters may import AWS packages; everything else in the module may not.
// A path ending in "/..." is the folder and everything under it.
var adapters = []string{
	"internal/aws/...",   // DynamoDB, KMS and S3
	"internal/api",       // API Gateway events in and out
	"internal/app",       // the application's assembly: SDK clients, adapters, core
	"internal/local/...", // the local hub and its emulators
	"functions/...",
	"cmd/monsys-local",
	"cmd/monsys-admin",
	"cmd/monsys-demo", // runs the local hub in-process
}

// rel is a package's path inside the module.
func rel(pkg string) string { return strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/") }

// under reports whether the module path p matches the pattern pat (a path,
// or a folder with "/...").
func under(p, pat string) bool {
	if dir, ok := strings.CutSuffix(pat, "/..."); ok {
		return p == dir || strings.HasPrefix(p, dir+"/")
	}
	return p == pat
}

func isAdapter(pkg string) bool {
	return slices.ContainsFunc(adapters, func(pat string) bool { return under(rel(pkg), pat) })
}

// TestCoreImportsNoAWS fails when a core package depends, even indirectly, on
// github.com/aws/.
func TestCoreImportsNoAWS(t *testing.T) {
	var core []string
	for _, p := range list(t, "list", module+"/...") {
		if !isAdapter(p) {
			core = append(core, p)
		}
	}
	if len(core) < 8 {
		t.Fatalf("only %d core packages found: %v", len(core), core)
	}
	for _, p := range core {
		for _, d := range list(t, "list", "-deps", p) {
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
	pkgs := list(t, "list", module+"/...")
	for _, a := range adapters {
		if !slices.ContainsFunc(pkgs, func(p string) bool { return under(rel(p), a) }) {
			t.Errorf("adapter %s in the allow-list matches no package", a)
		}
	}
}

// production are the programs that run in AWS, on an operator's machine
// against AWS, and on the monitored hosts.
var production = []string{"./functions/...", "./cmd/monsys-admin", "./agent/cmd/monsys-agent"}

// TestProductionHoldsNoLocalOrTestCode fails when a production program links
// local-development code (internal/local and below: the local hub, its KMS
// and the emulators), a test kit (a package whose name ends in "test", such
// as internal/storetest or net/http/httptest) or the testing package. Each
// finding names the chain of imports that brings it in.
func TestProductionHoldsNoLocalOrTestCode(t *testing.T) {
	for _, prog := range production {
		roots := list(t, "list", prog)
		if len(roots) == 0 {
			t.Fatalf("go list %s: no package", prog)
		}
		imports := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(run(t, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", prog)), "\n") {
			f := strings.Fields(line)
			imports[f[0]] = f[1:]
		}
		if len(imports) < len(roots)+5 {
			t.Fatalf("go list -deps %s: only %d packages", prog, len(imports))
		}
		for _, p := range slices.Sorted(maps.Keys(imports)) {
			if why := forbidden(p); why != "" {
				t.Errorf("%s links %s, %s: %s", prog, p, why, strings.Join(chain(imports, roots, p), " -> "))
			}
		}
	}
}

// forbidden says why a production program may not link p, or "".
func forbidden(p string) string {
	switch {
	case p == "testing" || strings.HasPrefix(p, "testing/"):
		return "the testing package"
	case strings.HasPrefix(p, module+"/") && under(rel(p), "internal/local/..."):
		return "local-development code"
	case strings.HasSuffix(path.Base(p), "test") && !stdInternal(p):
		return "a test kit"
	}
	return ""
}

// stdInternal reports whether p is an internal package of the standard
// library (sync imports internal/synctest, the runtime side of
// testing/synctest).
func stdInternal(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".") && (first == "internal" || strings.Contains(p, "/internal/"))
}

// chain is the shortest path of imports from one of roots to p.
func chain(imports map[string][]string, roots []string, p string) []string {
	prev := map[string]string{}
	queue := slices.Clone(roots)
	for _, r := range roots {
		prev[r] = ""
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == p {
			var out []string
			for ; cur != ""; cur = prev[cur] {
				out = append(out, cur)
			}
			slices.Reverse(out)
			return out
		}
		for _, n := range imports[cur] {
			if _, seen := prev[n]; !seen {
				prev[n] = cur
				queue = append(queue, n)
			}
		}
	}
	return []string{p}
}

func TestForbidden(t *testing.T) {
	for _, tt := range []struct {
		name, pkg string
		bad       bool
	}{
		{"ok/core", module + "/internal/hub", false},
		{"ok/adapter", module + "/internal/aws/dynamo", false},
		{"ok/named-like-local", module + "/internal/localize", false},
		{"ok/std", "net/http", false},
		{"ok/std-internal", "internal/synctest", false},
		{"fail/local-hub", module + "/internal/local", true},
		{"fail/local-kms", module + "/internal/local/kmsserver", true},
		{"fail/emulators", module + "/internal/local/emu", true},
		{"fail/store-kit", module + "/internal/storetest", true},
		{"fail/hub-kit", module + "/internal/local/hubtest", true},
		{"fail/httptest", "net/http/httptest", true},
		{"fail/testing", "testing", true},
		{"fail/fstest", "testing/fstest", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := forbidden(tt.pkg) != ""; got != tt.bad {
				t.Errorf("forbidden(%q) = %q, want forbidden %v", tt.pkg, forbidden(tt.pkg), tt.bad)
			}
		})
	}
}

// TestREADMEFolderTable holds the README's table of folders to the tree:
// every path it names exists, and every folder directly under internal/ is
// named in it.
func TestREADMEFolderTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := readmePaths(string(b))
	if len(named) < 10 {
		t.Fatalf("found only %v in the README's | path | what | table", named)
	}
	for _, p := range named {
		if _, err := os.Stat(filepath.Join("../..", filepath.FromSlash(p))); err != nil {
			t.Errorf("the README's table names %s, which is not in the tree", p)
		}
	}
	dirs, err := os.ReadDir("../../internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !slices.Contains(named, "internal/"+d.Name()) {
			t.Errorf("internal/%s is not in the README's table of folders", d.Name())
		}
	}
}

// readmePaths returns the code spans of the first column of the README's
// "| path | what |" table, with any trailing slash dropped.
func readmePaths(readme string) []string {
	_, table, ok := strings.Cut(readme, "\n| path | what |\n")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		for _, span := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, strings.TrimSuffix(span[1], "/"))
		}
	}
	return out
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

func list(t *testing.T, args ...string) []string {
	t.Helper()
	return strings.Fields(run(t, args...))
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.." // the module root, where ./functions/... means what it says
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), stderr(err))
	}
	return string(out)
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + ": " + string(ee.Stderr)
	}
	return err.Error()
}
