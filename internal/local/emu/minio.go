package emu

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// MinIOModuleVersion is the github.com/minio/minio version that
	// scripts/ensure-minio.sh builds; keep the two in step.
	MinIOModuleVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"
	// minioStartTimeout bounds a start when the caller's context has no
	// earlier deadline; it excludes building the binary.
	minioStartTimeout = 60 * time.Second
	// ensureMinIOScript builds MinIO once into the cache.
	ensureMinIOScript = "scripts/ensure-minio.sh"
)

// MinIOOptions configures StartMinIO.
type MinIOOptions struct {
	// Dir is the data directory, created if missing. "" uses a temporary
	// directory that Stop removes.
	Dir string
	// Port is the S3 API port on 127.0.0.1; 0 picks a free one. The console
	// always gets a free port.
	Port int
	// Log receives MinIO's output; nil discards it (the tail still appears in
	// start errors).
	Log io.Writer
	// RootUser and RootPassword are the root credentials; "" means
	// "monsys" and "monsys-minio-secret".
	RootUser, RootPassword string
	// Bin is the minio binary; "" means EnsureMinIO(ctx, Root).
	Bin string
	// Root is the repository root; "" means RepoRoot(). Only used to find
	// scripts/ensure-minio.sh.
	Root string
}

// MinIO is a running MinIO server (S3 emulator) with one local drive, which
// supports versioning and Object Lock.
type MinIO struct {
	proc        *proc
	port        int
	consolePort int
	dir         string
	tempDir     bool
	user, pass  string
}

// EnsureMinIO returns the path of the pinned MinIO binary, building it first
// with scripts/ensure-minio.sh if the cache does not have it (minutes, once
// per version and cache). MONSYS_MINIO_BIN, when set, names a binary to use
// instead. Build progress goes to stderr.
func EnsureMinIO(ctx context.Context, root string) (string, error) {
	return ensureTool(ctx, root, cachedTool{name: "minio", script: ensureMinIOScript,
		versionEnv: "MINIO_MODULE_VERSION", version: MinIOModuleVersion, binEnv: "MONSYS_MINIO_BIN"})
}

// StartMinIO starts `minio server` on loopback ports and returns once
// /minio/health/live answers 200. ctx bounds the start (and a first-time
// build) only: the process runs until Stop, or until its parent dies.
func StartMinIO(ctx context.Context, o MinIOOptions) (*MinIO, error) {
	bin := o.Bin
	if bin == "" {
		root := o.Root
		if root == "" {
			var err error
			if root, err = RepoRoot(); err != nil {
				return nil, fmt.Errorf("emu: start minio: %w", err)
			}
		}
		var err error
		if bin, err = EnsureMinIO(ctx, root); err != nil {
			return nil, err
		}
	}
	user, pass := o.RootUser, o.RootPassword
	if user == "" {
		user = DefaultMinIOUser
	}
	if pass == "" {
		pass = DefaultMinIOPassword
	}
	if len(user) < 3 || len(pass) < 8 {
		return nil, fmt.Errorf("emu: start minio: root user needs 3+ characters and password 8+, got %d and %d", len(user), len(pass))
	}

	dir, tempDir := o.Dir, false
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "monsys-minio-"); err != nil {
			return nil, fmt.Errorf("emu: start minio: %w", err)
		}
		tempDir = true
	} else if dir, err = dataDir(dir); err != nil {
		return nil, fmt.Errorf("emu: start minio: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, minioStartTimeout)
	defer cancel()
	var m *MinIO
	err = startOnFreePort(o.Port, 2, func(ports []int) error {
		m = &MinIO{port: ports[0], consolePort: ports[1], dir: dir, tempDir: tempDir, user: user, pass: pass}
		m.proc = &proc{
			name: "minio",
			bin:  bin,
			args: []string{
				"server", dir,
				"--address", "127.0.0.1:" + strconv.Itoa(m.port),
				"--console-address", "127.0.0.1:" + strconv.Itoa(m.consolePort),
			},
			env:   minioEnv(user, pass),
			log:   o.Log,
			ports: ports,
		}
		return m.proc.start(ctx, m.probe)
	})
	if err != nil {
		if tempDir {
			_ = os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("emu: start %w", err)
	}
	return m, nil
}

// minioEnv is the parent's environment without MINIO_* variables, plus the
// root credentials. MINIO_CI_CD caps MinIO's buffer pool and skips its
// root-disk checks, which suits a test machine.
func minioEnv(user, pass string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+pass,
		"MINIO_CI_CD=1",
		"MINIO_UPDATE=off",
	)
}

// Endpoint is the base URL of the S3 API, http://127.0.0.1:PORT.
func (m *MinIO) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

// ConsoleEndpoint is the base URL of the MinIO web console.
func (m *MinIO) ConsoleEndpoint() string { return "http://127.0.0.1:" + strconv.Itoa(m.consolePort) }

// Credentials returns the root user and password, for S3Client.
func (m *MinIO) Credentials() (user, pass string) { return m.user, m.pass }

// Dir is the data directory.
func (m *MinIO) Dir() string { return m.dir }

// Stop ends MinIO with SIGTERM, then SIGKILL after a grace period, and
// removes the data directory if StartMinIO created a temporary one. Calling
// it again does nothing.
func (m *MinIO) Stop() error {
	if err := m.proc.stop(); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	if m.tempDir {
		if err := os.RemoveAll(m.dir); err != nil {
			return fmt.Errorf("emu: minio: remove %q: %w", m.dir, err)
		}
	}
	return nil
}

// Exited is closed once the MinIO process has exited, for any reason; after
// Restart it is the new process's.
func (m *MinIO) Exited() <-chan struct{} { return m.proc.exitedChan() }

// Err is nil while MinIO runs and after Stop; after any other exit it is an
// *ExitError with the exit status, the time and the end of its output.
func (m *MinIO) Err() error { return m.proc.exitErr() }

// Restart stops MinIO and starts it again on the same ports and directory;
// buckets and objects survive (unless Stop already removed a temporary
// directory).
func (m *MinIO) Restart(ctx context.Context) error {
	return m.proc.restart(ctx, minioStartTimeout, m.probe, func() error { return os.MkdirAll(m.dir, 0o700) })
}

func (m *MinIO) probe(ctx context.Context) error {
	return probeGET(ctx, m.Endpoint(), "/minio/health/live")
}
