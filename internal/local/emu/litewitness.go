package emu

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/crypto/ssh/agent"
)

const (
	// TorchwoodModuleVersion is the filippo.io/torchwood version whose
	// litewitness and witnessctl scripts/ensure-litewitness.sh builds; keep
	// the two in step.
	TorchwoodModuleVersion = "v0.9.0"
	// ensureLitewitnessScript builds litewitness once into the cache.
	ensureLitewitnessScript = "scripts/ensure-litewitness.sh"
	// litewitnessStartTimeout bounds a start, excluding the build.
	litewitnessStartTimeout = 30 * time.Second
)

// LitewitnessOptions configures StartLitewitness.
type LitewitnessOptions struct {
	// Name is the witness's name in its cosignatures (default
	// "witness.monsys.local").
	Name string
	// Key is the witness's Ed25519 key; nil generates one.
	Key ed25519.PrivateKey
	// Dir holds the SQLite database, created if missing; "" uses a
	// temporary directory that Stop removes.
	Dir string
	// Port is the HTTP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the witness's and ssh-agent's output; nil discards it.
	Log io.Writer
	// BinDir holds litewitness and witnessctl; "" means EnsureLitewitness.
	BinDir string
	// Root is the repository root; "" means RepoRoot().
	Root string
}

// Litewitness is a running litewitness (filippo.io/torchwood), a
// c2sp.org/tlog-witness that keeps its state in SQLite and signs through an
// ssh-agent, which StartLitewitness starts for it and loads the key into.
type Litewitness struct {
	witness *proc
	agent   *proc
	exited  chan struct{} // closed once the witness or its agent exited
	binDir  string
	dir     string
	tempDir bool
	sockDir string
	port    int
	name    string
	vkey    string
}

// EnsureLitewitness returns the directory holding the pinned litewitness
// and witnessctl, building them first with scripts/ensure-litewitness.sh if
// the cache lacks them. MONSYS_LITEWITNESS_BIN, when set, names a
// litewitness binary to use instead (witnessctl beside it).
func EnsureLitewitness(ctx context.Context, root string) (string, error) {
	bin, err := ensureTool(ctx, root, cachedTool{name: "litewitness", script: ensureLitewitnessScript,
		versionEnv: "TORCHWOOD_MODULE_VERSION", version: TorchwoodModuleVersion, binEnv: "MONSYS_LITEWITNESS_BIN"})
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(bin)
	if !fileExists(filepath.Join(dir, "witnessctl")) {
		return "", fmt.Errorf("emu: ensure litewitness: no witnessctl beside %s", bin)
	}
	return dir, nil
}

// StartLitewitness starts an ssh-agent holding the witness key and a
// litewitness on a loopback port, and returns once the witness answers.
// Logs are added with AddLog.
func StartLitewitness(ctx context.Context, o LitewitnessOptions) (w *Litewitness, err error) {
	binDir := o.BinDir
	if binDir == "" {
		root := o.Root
		if root == "" {
			if root, err = RepoRoot(); err != nil {
				return nil, fmt.Errorf("emu: start litewitness: %w", err)
			}
		}
		if binDir, err = EnsureLitewitness(ctx, root); err != nil {
			return nil, err
		}
	}
	sshAgent, err := exec.LookPath("ssh-agent")
	if err != nil {
		return nil, fmt.Errorf("emu: start litewitness: ssh-agent not in PATH (Debian: openssh-client): %w", err)
	}
	name := o.Name
	if name == "" {
		name = "witness.monsys.local"
	}
	key := o.Key
	if key == nil {
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("emu: start litewitness: %w", err)
		}
	}
	cs, err := torchwood.NewCosignatureSigner(name, key)
	if err != nil {
		return nil, fmt.Errorf("emu: start litewitness: witness name %q: %w", name, err)
	}
	w = &Litewitness{binDir: binDir, name: name, vkey: cs.Verifier().String(), dir: o.Dir}
	if w.dir == "" {
		if w.dir, err = os.MkdirTemp("", "monsys-litewitness-"); err != nil {
			return nil, fmt.Errorf("emu: start litewitness: %w", err)
		}
		w.tempDir = true
	} else if w.dir, err = dataDir(w.dir); err != nil {
		return nil, fmt.Errorf("emu: start litewitness: %w", err)
	}
	// A unix socket path is limited to about 100 bytes: keep it short.
	if w.sockDir, err = os.MkdirTemp("", "lw"); err != nil {
		return nil, fmt.Errorf("emu: start litewitness: %w", err)
	}
	defer func() {
		if err != nil {
			_ = w.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, litewitnessStartTimeout)
	defer cancel()

	sock := filepath.Join(w.sockDir, "agent.sock")
	w.agent = &proc{name: "ssh-agent", bin: sshAgent, args: []string{"-D", "-a", sock}, log: o.Log}
	if err := w.agent.start(ctx, func(ctx context.Context) error { return addKey(ctx, sock, nil) }); err != nil {
		return nil, fmt.Errorf("emu: start %w", err)
	}
	if err := addKey(ctx, sock, key); err != nil {
		return nil, fmt.Errorf("emu: start litewitness: load the witness key into ssh-agent: %w", err)
	}
	pub := sha256.Sum256(key.Public().(ed25519.PublicKey))
	err = startOnFreePort(o.Port, 1, func(ports []int) error {
		w.port = ports[0]
		w.witness = &proc{
			name: "litewitness",
			bin:  filepath.Join(binDir, "litewitness"),
			args: []string{"-db", w.db(), "-name", name, "-key", hex.EncodeToString(pub[:]),
				"-ssh-agent", sock, "-listen", "127.0.0.1:" + strconv.Itoa(w.port)},
			log:   o.Log,
			ports: ports,
		}
		return w.witness.start(ctx, w.probe)
	})
	if err != nil {
		return nil, fmt.Errorf("emu: start %w", err)
	}
	// The witness is down when either process is: it cannot cosign
	// without its agent's key.
	w.exited = make(chan struct{})
	witnessDone, agentDone := w.witness.exitedChan(), w.agent.exitedChan()
	go func() {
		select {
		case <-witnessDone:
		case <-agentDone:
		}
		close(w.exited)
	}()
	return w, nil
}

// addKey connects to the ssh-agent at sock and, when key is not nil, adds it.
func addKey(ctx context.Context, sock string, key ed25519.PrivateKey) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := agent.NewClient(conn)
	if key == nil {
		_, err := c.List()
		return err
	}
	return c.Add(agent.AddedKey{PrivateKey: key, Comment: "litewitness"})
}

func (w *Litewitness) db() string { return filepath.Join(w.dir, "litewitness.db") }

func (w *Litewitness) probe(ctx context.Context) error { return probeGET(ctx, w.URL(), "/") }

// URL is the witness's submission prefix, http://127.0.0.1:PORT.
func (w *Litewitness) URL() string { return "http://127.0.0.1:" + strconv.Itoa(w.port) }

// Name is the witness's name.
func (w *Litewitness) Name() string { return w.name }

// VKey is the witness's cosignature/v1 verifier key (hub.json witness_vkeys).
func (w *Litewitness) VKey() string { return w.vkey }

// Dir is the directory of the witness's database.
func (w *Litewitness) Dir() string { return w.dir }

// AddLog makes the witness accept checkpoints of origin signed by logVKey
// (witnessctl add-log, add-key), unless it knows the log already. It works
// while the witness runs.
func (w *Litewitness) AddLog(ctx context.Context, origin, logVKey string) error {
	ctl := filepath.Join(w.binDir, "witnessctl")
	list, err := exec.CommandContext(ctx, ctl, "list-logs", "-db", w.db()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("emu: witnessctl list-logs: %w\n%s", err, list)
	}
	if !bytes.Contains(list, []byte(strconv.Quote(origin))) {
		if out, err := exec.CommandContext(ctx, ctl, "add-log", "-db", w.db(), "-origin", origin).CombinedOutput(); err != nil {
			return fmt.Errorf("emu: witnessctl add-log %s: %w\n%s", origin, err, out)
		}
	}
	if bytes.Contains(list, []byte(strconv.Quote(logVKey))) {
		return nil
	}
	if out, err := exec.CommandContext(ctx, ctl, "add-key", "-db", w.db(), "-origin", origin, "-key", logVKey).CombinedOutput(); err != nil {
		return fmt.Errorf("emu: witnessctl add-key %s: %w\n%s", origin, err, out)
	}
	return nil
}

// Exited is closed once the litewitness process or its ssh-agent has
// exited, for any reason (Err says which).
func (w *Litewitness) Exited() <-chan struct{} { return w.exited }

// Err is nil while the witness and its ssh-agent run and after Stop; after
// any other exit of either it is that process's *ExitError.
func (w *Litewitness) Err() error {
	if err := w.witness.exitErr(); err != nil {
		return err
	}
	return w.agent.exitErr()
}

// Stop ends the witness and its ssh-agent and removes the temporary
// directories. Calling it again does nothing.
func (w *Litewitness) Stop() error {
	var errs []error
	for _, p := range []*proc{w.witness, w.agent} {
		if p != nil {
			if err := p.stop(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if w.sockDir != "" {
		_ = os.RemoveAll(w.sockDir)
	}
	if w.tempDir {
		_ = os.RemoveAll(w.dir)
	}
	if len(errs) > 0 {
		return fmt.Errorf("emu: litewitness: %v", errs)
	}
	return nil
}
