// Package daemon is the agent's core loop: it keeps the signing key and TLS
// identity, registers and renews, turns collected records into sequenced
// batches in the spool, and drains the spool to the hub in order, recovering
// from 409, 403 and outages as SPEC 4 and 5 allow.
package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/monsys/hub/agent/backoff"
	"github.com/monsys/hub/agent/collect"
	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/internal/flock"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/agent/spool"
	"github.com/monsys/hub/agent/state"
	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/sig"
)

// SpoolDir is the spool's directory inside the state directory.
const SpoolDir = "spool"

const runLock = "run.lock"

// Sentinel errors.
var (
	// ErrRunning means another agent process already sends from this state dir.
	ErrRunning = errors.New("another monsys-agent is running with this state directory")
	// ErrPinned means the hub pins another signing key (rotate-key before
	// the admin unset the pin).
	ErrPinned = errors.New("the hub pins another signing key")
	// ErrNoEnrollment means the agent has no client certificate and no
	// enrollment certificate to get one with.
	ErrNoEnrollment = errors.New("no enrollment certificate configured")
)

// Hub is what the agent needs from the hub; *client.Agent implements it.
type Hub interface {
	Register(ctx context.Context, cert tls.Certificate, req client.RegisterRequest) (client.RegisterResponse, error)
	Ingest(ctx context.Context, cert tls.Certificate, body []byte, sig string) (client.IngestResponse, error)
}

var _ Hub = (*client.Agent)(nil)

// Scheduled is a collector with its period; 0 means every cycle.
type Scheduled struct {
	Collector collect.Collector
	Every     time.Duration
}

// Options configures an Agent.
type Options struct {
	StateDir string
	Version  string
	Hub      Hub
	// Enrollment loads the tenant enrollment certificate when needed.
	Enrollment func() (identity.Identity, error)
	Collectors []Scheduled
	// Interval is the collection period of Run.
	Interval      time.Duration
	RegisterEvery time.Duration
	SpoolMaxBytes int64
	Hostname      func() (string, error)
	Now           func() time.Time
	// Rand is the randomness for keys and CSRs.
	Rand io.Reader
	// Jitter returns a number in [0,1) for backoff.
	Jitter func() float64
	Log    *slog.Logger
}

// Agent is the running agent. Use Open for commands that send (run, once)
// and OpenShared for those that only register or read.
type Agent struct {
	o       Options
	store   *state.Store
	spool   *spool.Spool // nil when opened shared
	lock    *flock.Lock
	backoff backoff.Backoff
	due     map[string]time.Time
	errs    map[string]string // last error of each collector
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RegisterEvery == 0 {
		o.RegisterEvery = time.Hour
	}
	if o.Interval == 0 {
		o.Interval = time.Minute
	}
	if o.SpoolMaxBytes == 0 {
		o.SpoolMaxBytes = spool.DefaultMaxBytes
	}
}

// OpenShared prepares the state directory and the signing key (creating it
// on first start) without taking the spool; it refuses a bad key file.
func OpenShared(o Options) (*Agent, error) {
	o.defaults()
	if err := atomicfile.MkdirPrivate(o.StateDir); err != nil {
		return nil, fmt.Errorf("open agent: %w", err)
	}
	_, created, err := keyfile.LoadOrCreate(keyfile.Path(o.StateDir), o.Rand)
	if err != nil {
		return nil, fmt.Errorf("open agent: %w", err)
	}
	if created {
		o.Log.Info("created signing key", "path", keyfile.Path(o.StateDir))
	}
	a := &Agent{
		o:       o,
		store:   state.NewStore(o.StateDir),
		backoff: backoff.Backoff{Base: backoff.DefaultBase, Max: backoff.DefaultMax, Rand: o.Jitter},
		due:     map[string]time.Time{},
		errs:    map[string]string{},
	}
	return a, nil
}

// Open is OpenShared plus exclusive use of the spool (ErrRunning if another
// process has it).
func Open(o Options) (*Agent, error) {
	a, err := OpenShared(o)
	if err != nil {
		return nil, err
	}
	l, err := flock.TryAcquire(filepath.Join(a.o.StateDir, runLock))
	if errors.Is(err, flock.ErrLocked) {
		return nil, fmt.Errorf("open agent %q: %w", a.o.StateDir, ErrRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("open agent: %w", err)
	}
	sp, err := spool.Open(filepath.Join(a.o.StateDir, SpoolDir), a.o.SpoolMaxBytes)
	if err != nil {
		_ = l.Unlock()
		return nil, fmt.Errorf("open agent: %w", err)
	}
	a.lock, a.spool = l, sp
	return a, nil
}

// Close releases the spool.
func (a *Agent) Close() error {
	if a.lock != nil {
		return a.lock.Unlock()
	}
	return nil
}

// SpoolStats returns the spool's depth, size and drop counters.
func (a *Agent) SpoolStats() spool.Stats { return a.spool.Stats() }

func (a *Agent) key() (ed25519.PrivateKey, error) {
	return keyfile.Load(keyfile.Path(a.o.StateDir))
}

// PubkeyB64 is the standard base64 of the raw public key (SPEC 4.1).
func PubkeyB64(k ed25519.PrivateKey) string {
	return sig.EncodePublicKey(k.Public().(ed25519.PublicKey))
}

// Fingerprint formats a public key's SHA-256 as lowercase hex pairs joined by ":".
func Fingerprint(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	h := hex.EncodeToString(s[:])
	parts := make([]string, 0, len(s))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// recordError notes a failure for status and agent_status.
func (a *Agent) recordError(err error) {
	now := a.o.Now()
	_, _ = a.store.Update(func(s *state.State) error {
		s.LastError, s.LastErrorAt = err.Error(), now
		return nil
	})
}

func (a *Agent) recordContact() error {
	now := a.o.Now()
	_, err := a.store.Update(func(s *state.State) error {
		s.LastContact = now
		s.LastError = ""
		return nil
	})
	return err
}

// registerMode says which certificate a registration presents.
type registerMode int

const (
	modeAuto   registerMode = iota // own certificate if any (renewing when due), else enrollment
	modeEnroll                     // enrollment certificate and a new CSR
)

// Register registers key (the key file's key when nil) with the hub.
func (a *Agent) Register(ctx context.Context, key ed25519.PrivateKey) (client.RegisterResponse, error) {
	return a.register(ctx, key, modeAuto)
}

func (a *Agent) register(ctx context.Context, key ed25519.PrivateKey, mode registerMode) (client.RegisterResponse, error) {
	if key == nil {
		var err error
		if key, err = a.key(); err != nil {
			return client.RegisterResponse{}, err
		}
	}
	now := a.o.Now()
	hostname := a.o.Hostname
	if hostname == nil {
		hostname = func() (string, error) { return "unknown", nil }
	}
	hn, _ := hostname()
	req := client.RegisterRequest{Hostname: hn, AgentVersion: a.o.Version, OS: runtime.GOOS, Arch: runtime.GOARCH, SigningPubkey: PubkeyB64(key)}

	id, err := identity.Load(identity.Path(a.o.StateDir))
	if err != nil && !errors.Is(err, identity.ErrNotExist) {
		return client.RegisterResponse{}, err
	}
	var present identity.Identity
	var pending *identity.Pending
	switch {
	case mode == modeEnroll || errors.Is(err, identity.ErrNotExist):
		if a.o.Enrollment == nil {
			return client.RegisterResponse{}, fmt.Errorf("register: %w", ErrNoEnrollment)
		}
		if present, err = a.o.Enrollment(); err != nil {
			return client.RegisterResponse{}, fmt.Errorf("register: %w", err)
		}
		pending = &identity.Pending{}
	case id.NeedsRenewal(now):
		present, pending = id, &identity.Pending{}
		a.o.Log.Info("renewing client certificate", "not_after", id.Leaf.NotAfter)
	default:
		present = id
	}
	if pending != nil {
		p, err := identity.NewPending(a.o.Rand, hn)
		if err != nil {
			return client.RegisterResponse{}, err
		}
		*pending, req.CSR = p, p.CSRPEM
	}
	resp, err := a.o.Hub.Register(ctx, present.TLS, req)
	if err != nil {
		a.recordError(err)
		var ae *client.Error
		if errors.As(err, &ae) && ae.Code == client.CodeSignatureInvalid {
			return resp, fmt.Errorf("%w: %w", ErrPinned, err)
		}
		return resp, err
	}
	if pending != nil {
		_, file, err := pending.Complete(resp.ClientCert)
		if err != nil {
			return resp, fmt.Errorf("register: %w", err)
		}
		if err := identity.Save(identity.Path(a.o.StateDir), file); err != nil {
			return resp, err
		}
	}
	_, err = a.store.Update(func(s *state.State) error {
		s.AgentID, s.SigningPinned, s.SigningSetAt = resp.AgentID, resp.SigningPubkeyPinned, resp.SigningSetAt
		s.RegisteredPubkey, s.RegisteredAt, s.LastContact, s.LastError = req.SigningPubkey, now, now, ""
		return nil
	})
	if err != nil {
		return resp, err
	}
	a.o.Log.Info("registered", "agent_id", resp.AgentID, "pinned", resp.SigningPubkeyPinned, "new_cert", pending != nil)
	return resp, nil
}

// ensureRegistered registers when there is no identity yet, the key file's
// key is not the registered one, the certificate is due for renewal, or the
// last registration is older than RegisterEvery (which re-pins the key after
// an admin unset the pin).
func (a *Agent) ensureRegistered(ctx context.Context, key ed25519.PrivateKey) error {
	st, err := a.store.Load()
	if err != nil {
		return err
	}
	id, err := identity.Load(identity.Path(a.o.StateDir))
	now := a.o.Now()
	need := errors.Is(err, identity.ErrNotExist) ||
		st.RegisteredPubkey != PubkeyB64(key) ||
		now.Sub(st.RegisteredAt) >= a.o.RegisterEvery ||
		(err == nil && id.NeedsRenewal(now))
	if err != nil && !errors.Is(err, identity.ErrNotExist) {
		return err
	}
	if !need {
		return nil
	}
	_, err = a.register(ctx, key, modeAuto)
	return err
}

// RotateKey makes a new signing key and registers it; only when the hub
// pins it does the key file change. The admin must have unset the pin
// first (POST /api/v1/agents/{id}/rotate-signing-key), else ErrPinned.
// The new key is kept in agent-signing.key.next until then, so a crash
// after the hub pinned it loses nothing: the next rotate-key resumes.
func (a *Agent) RotateKey(ctx context.Context) (client.RegisterResponse, error) {
	nextPath := keyfile.Path(a.o.StateDir) + ".next"
	next, err := keyfile.Load(nextPath)
	if errors.Is(err, keyfile.ErrNotExist) {
		if next, err = keyfile.Generate(a.o.Rand); err == nil {
			err = keyfile.Create(nextPath, next)
		}
	}
	if err != nil {
		return client.RegisterResponse{}, fmt.Errorf("rotate key: %w", err)
	}
	resp, err := a.register(ctx, next, modeAuto)
	if err != nil {
		return resp, fmt.Errorf("rotate key: %w", err)
	}
	if !resp.SigningPubkeyPinned {
		return resp, fmt.Errorf("rotate key: hub did not pin the new key: %w", client.ErrResponse)
	}
	if err := keyfile.Replace(keyfile.Path(a.o.StateDir), next); err != nil {
		return resp, err
	}
	if err := atomicfile.Remove(nextPath); err != nil {
		return resp, err
	}
	return resp, nil
}
