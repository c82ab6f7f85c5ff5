package emu

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// dynaliteStartTimeout bounds a start when the caller's context has no
// earlier deadline. A cold node start takes well under a second.
const dynaliteStartTimeout = 30 * time.Second

// dynaliteGuard runs dynalite's cli.js, keeping it alive when a client
// aborts a request mid-body (see the file).
//
//go:embed dynalite_guard.js
var dynaliteGuard string

// DynaliteOptions configures StartDynalite.
type DynaliteOptions struct {
	// Dir is the LevelDB directory, created if missing. "" keeps tables in
	// memory, so they do not survive Restart.
	Dir string
	// Port is the loopback port; 0 picks a free one.
	Port int
	// Log receives dynalite's stdout and stderr; nil discards them (the tail
	// still appears in start errors).
	Log io.Writer
	// Root is the repository root holding node_modules; "" means RepoRoot().
	Root string
}

// Dynalite is a running dynalite (DynamoDB emulator) process.
type Dynalite struct {
	proc *proc
	port int
}

// StartDynalite installs dynalite from the lockfile if needed, starts it and
// returns once it answers a ListTables call. ctx bounds the start only: the
// process runs until Stop, or until its parent dies.
func StartDynalite(ctx context.Context, o DynaliteOptions) (*Dynalite, error) {
	root := o.Root
	if root == "" {
		var err error
		if root, err = RepoRoot(); err != nil {
			return nil, fmt.Errorf("emu: start dynalite: %w", err)
		}
	}
	if err := EnsureNodeModules(ctx, root); err != nil {
		return nil, fmt.Errorf("emu: start dynalite: %w", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("emu: start dynalite: node not in PATH (install Node.js 20+): %w", err)
	}
	dir := o.Dir
	if dir != "" {
		if dir, err = dataDir(dir); err != nil {
			return nil, fmt.Errorf("emu: start dynalite: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, dynaliteStartTimeout)
	defer cancel()
	var d *Dynalite
	err = startOnFreePort(o.Port, 1, func(ports []int) error {
		args := []string{
			"-e", dynaliteGuard, filepath.Join(root, dynaliteCLI),
			"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
		}
		if dir != "" {
			args = append(args, "--path", dir)
		}
		d = &Dynalite{port: ports[0], proc: &proc{name: "dynalite", bin: node, args: args, log: o.Log, ports: ports}}
		return d.proc.start(ctx, d.probe)
	})
	if err != nil {
		return nil, fmt.Errorf("emu: start %w", err)
	}
	return d, nil
}

// Endpoint is the base URL of the DynamoDB API, http://127.0.0.1:PORT.
func (d *Dynalite) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(d.port) }

// Stop ends dynalite with SIGTERM, then SIGKILL after a grace period. Calling
// it again, or on a process that already died, does nothing.
func (d *Dynalite) Stop() error { return d.proc.stop() }

// Exited is closed once the dynalite process has exited, for any reason;
// after Restart it is the new process's.
func (d *Dynalite) Exited() <-chan struct{} { return d.proc.exitedChan() }

// Err is nil while dynalite runs and after Stop; after any other exit it is
// an *ExitError with the exit status, the time and the end of its output.
func (d *Dynalite) Err() error { return d.proc.exitErr() }

// Restart stops dynalite and starts it again on the same port and directory,
// as after a crash: tables in Dir survive, in-memory tables do not.
func (d *Dynalite) Restart(ctx context.Context) error {
	return d.proc.restart(ctx, dynaliteStartTimeout, d.probe, nil)
}

// probe makes a real ListTables call. dynalite checks that the Authorization
// header is shaped like SigV4 but not the signature, so a fixed one will do.
func (d *Dynalite) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint()+"/", strings.NewReader(`{"Limit":1}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "+
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListTables: status %d: %.200s", resp.StatusCode, body)
	}
	var out struct{ TableNames []string }
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("ListTables: %w: %.200q", err, body)
	}
	return nil
}

// probeGET is a readiness probe: GET base+path answers 200.
func probeGET(ctx context.Context, base, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// probeClient never reuses connections, so a probe cannot hit a socket of the
// previous incarnation of a restarted emulator.
var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// dataDir makes dir (0700) for an emulator's data and returns its absolute
// path.
func dataDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", err
	}
	return abs, nil
}
