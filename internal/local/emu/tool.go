package emu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/monsys/hub/internal/logtest"
)

// cachedTool is a Go command that a script under scripts/ builds once from
// the Go module proxy into the cache shared by every worktree
// (scripts/ensure-gobin.sh).
type cachedTool struct {
	name       string // for messages: "minio", "aws-lambda-rie"
	script     string // relative to the repository root
	versionEnv string // the script's version override, set to version
	version    string // the pinned module version
	binEnv     string // names a binary to use instead of the cached build
}

// ensureTool returns the path of t's binary: the one binEnv names, else the
// cached build, built first if missing. Build progress goes to stderr.
func ensureTool(ctx context.Context, root string, t cachedTool) (string, error) {
	if bin := os.Getenv(t.binEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("emu: %s: %w", t.binEnv, err)
		}
		return bin, nil
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", fmt.Errorf("emu: ensure %s: bash not in PATH: %w", t.name, err)
	}
	script := filepath.Join(root, filepath.FromSlash(t.script))
	var stdout bytes.Buffer
	stderr := logtest.NewTail(8 << 10)
	cmd := exec.CommandContext(ctx, bash, script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), t.versionEnv+"="+t.version)
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(stderr, lenientWriter{os.Stderr})
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("emu: ensure %s: %s: %w\n%s", t.name, script, err, stderr.Lines(40))
	}
	bin := strings.TrimSpace(stdout.String())
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return "", fmt.Errorf("emu: ensure %s: %s printed %q, which is not a binary", t.name, script, bin)
	}
	return bin, nil
}
