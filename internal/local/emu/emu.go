// Package emu runs the local AWS emulators that tests and the local hub talk
// to: dynalite for DynamoDB (npm, pinned by the repository's package-lock.json)
// and MinIO for S3 (built once from the Go module proxy by
// scripts/ensure-minio.sh). Each emulator is a child process on a loopback
// port that dies with its parent.
package emu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/monsys/hub/internal/logtest"
)

// ModulePath is the module whose root RepoRoot looks for.
const ModulePath = "github.com/monsys/hub"

// ErrNoRepoRoot is returned when no go.mod of ModulePath encloses the working
// directory or this source file.
var ErrNoRepoRoot = errors.New("emu: repository root not found")

// RepoRoot returns the directory holding the go.mod of ModulePath, walking up
// from the working directory and, failing that, from this source file (which
// only works in builds without -trimpath).
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, start := range starts {
		if root, ok := findModuleRoot(start); ok {
			return root, nil
		}
	}
	return "", fmt.Errorf("%w: no go.mod declaring %q above %q", ErrNoRepoRoot, ModulePath, starts)
}

func findModuleRoot(dir string) (string, bool) {
	for {
		if modulePathOf(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePathOf returns the module path declared in a go.mod, or "".
func modulePathOf(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`)
		}
	}
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; the Start functions retry on
// a fresh port when that happens.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("emu: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dynaliteCLI is the dynalite entry point relative to the repository root.
var dynaliteCLI = filepath.Join("node_modules", "dynalite", "cli.js")

// EnsureNodeModules installs the npm dependencies of root (dynalite) with
// `npm ci` from the lockfile when node_modules/dynalite/cli.js is missing.
// Test binaries of several packages run in parallel, so the install runs
// under a file lock and is skipped by whoever gets the lock second.
func EnsureNodeModules(ctx context.Context, root string) error {
	cli := filepath.Join(root, dynaliteCLI)
	if fileExists(cli) {
		return nil
	}
	sum := sha256.Sum256([]byte(root))
	lockPath := filepath.Join(os.TempDir(), "monsys-npm-"+hex.EncodeToString(sum[:6])+".lock")
	unlock, err := lockFile(ctx, lockPath)
	if err != nil {
		return fmt.Errorf("emu: npm ci in %q: lock %q: %w", root, lockPath, err)
	}
	defer unlock()
	if fileExists(cli) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("emu: npm ci in %q: npm not in PATH (install Node.js 20+): %w", root, err)
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("emu: npm ci in %q: %w\n%s", root, err, logtest.LastLines(out, 30))
	}
	if !fileExists(cli) {
		return fmt.Errorf("emu: npm ci in %q succeeded but %q is missing: is dynalite in package-lock.json?\n%s",
			root, cli, logtest.LastLines(out, 30))
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
