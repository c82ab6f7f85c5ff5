package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/agent/daemon"
	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
)

func TestMain(m *testing.M) { os.Exit(emutest.SharedDynalite(m)) }

// counter emits numbered records so every one can be traced to the hub.
type counter struct{ next atomic.Int64 }

func (c *counter) Name() string { return "e2e" }

func (c *counter) Collect(_ context.Context, now time.Time) ([]any, error) {
	out := make([]any, 3)
	for i := range out {
		out[i] = map[string]any{"type": "e2e_record", "ts": batch.TS(now), "n": c.next.Add(1) - 1}
	}
	return out, nil
}

// recorder wraps the agent's hub client and keeps what the hub acknowledged.
type recorder struct {
	daemon.Hub
	mu        sync.Mutex
	accepted  map[int64][]byte // seq → body the hub answered 202 for
	acked     int              // sum of "accepted"
	duplicate int
	replays   int // 409 replay_rejected answers
}

func (r *recorder) Ingest(ctx context.Context, cert tls.Certificate, body []byte, sig string) (client.IngestResponse, error) {
	res, err := r.Hub.Ingest(ctx, cert, body, sig)
	var ae *client.Error
	if errors.As(err, &ae) && ae.Code == client.CodeReplayRejected {
		r.mu.Lock()
		r.replays++
		r.mu.Unlock()
	}
	if err == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if res.Duplicate {
			r.duplicate++
		} else {
			if b, err := batch.Parse(body, true); err == nil {
				r.accepted[b.Header.Seq] = body
			}
			r.acked += res.Accepted
		}
	}
	return res, err
}

type env struct {
	t     *testing.T
	cfg   local.Config
	hub   *local.Hub
	info  profile.Info
	admin *client.Admin
	rec   *recorder
	count *counter
	opts  daemon.Options
	token string
	id    string
}

func startHub(t *testing.T, cfg local.Config) *local.Hub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local hub: %v", err)
	}
	return h
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := local.Config{
		DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t),
		Dir: t.TempDir(), Addr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler),
	}
	e := &env{t: t, cfg: cfg, hub: startHub(t, cfg), count: &counter{}}
	t.Cleanup(func() { _ = e.hub.Close() })
	e.info = e.hub.Info()
	roots, err := identity.LoadRoots(e.info.CACert)
	if err != nil {
		t.Fatal(err)
	}
	if e.admin, err = client.NewAdmin(e.info, client.Options{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.admin.CloseIdle)
	created, err := e.admin.CreateAgent(context.Background(), "e2e-host")
	if err != nil {
		t.Fatal(err)
	}
	e.id, e.token = created.AgentID, created.Token
	cl, err := client.NewAgent(client.AgentConfig{URL: e.info.URL, Token: e.token, Roots: roots, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdle)
	e.rec = &recorder{Hub: cl, accepted: map[int64][]byte{}}
	e.opts = daemon.Options{
		StateDir:   filepath.Join(t.TempDir(), "state"),
		Version:    "1.0.0",
		Hub:        e.rec,
		Enrollment: func() (identity.Identity, error) { return identity.LoadPair(e.info.EnrollCert, e.info.EnrollKey) },
		Collectors: []daemon.Scheduled{{Collector: e.count}},
		Hostname:   func() (string, error) { return "e2e-host", nil },
		Rand:       rand.Reader,
		Jitter:     func() float64 { return 0 },
	}
	return e
}

// view is the hub's record of the agent (GET /agents/{id}).
func (e *env) view() client.AgentView {
	e.t.Helper()
	v, err := e.admin.GetAgent(context.Background(), e.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) open() *daemon.Agent {
	e.t.Helper()
	a, err := daemon.Open(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = a.Close() })
	return a
}

func cycle(t *testing.T, a *daemon.Agent) {
	t.Helper()
	if err := a.Once(context.Background()); err != nil {
		t.Fatalf("once: %v", err)
	}
}

// exactlyOnce checks both sides: the hub acknowledged every record the
// agent produced, once and in order, and agent_status records besides.
func (e *env) exactlyOnce() {
	e.t.Helper()
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	seqs := make([]int64, 0, len(e.rec.accepted))
	for s := range e.rec.accepted {
		seqs = append(seqs, s)
	}
	sortInt64(seqs)
	var ns []int64
	records := 0
	for _, s := range seqs {
		b, err := batch.Parse(e.rec.accepted[s], true)
		if err != nil {
			e.t.Fatal(err)
		}
		records += len(b.Records)
		for _, r := range b.Records {
			var v struct {
				Type string `json:"type"`
				N    int64  `json:"n"`
			}
			_ = json.Unmarshal(r.Raw, &v)
			if v.Type == "e2e_record" {
				ns = append(ns, v.N)
			}
		}
	}
	want := e.count.next.Load()
	if int64(len(ns)) != want {
		e.t.Fatalf("hub acknowledged %d of %d records", len(ns), want)
	}
	for i, n := range ns {
		if n != int64(i) {
			e.t.Fatalf("record %d has n=%d: lost, duplicated or out of order", i, n)
		}
	}
	if e.rec.acked != records {
		e.t.Fatalf("hub counted %d accepted records, agent sent %d", e.rec.acked, records)
	}
	if v := e.view(); v.LastSeq != seqs[len(seqs)-1] {
		e.t.Fatalf("hub last_seq %d, agent's last accepted %d", v.LastSeq, seqs[len(seqs)-1])
	}
}

func sortInt64(s []int64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestLocalHub(t *testing.T) {
	e := newEnv(t)
	a := e.open()

	t.Run("ok/first start registers, pins and sends signed batches", func(t *testing.T) {
		cycle(t, a)
		cycle(t, a)
		v := e.view()
		key, err := keyfile.Load(keyfile.Path(e.opts.StateDir))
		if err != nil {
			t.Fatal(err)
		}
		if !v.SigningPubKeyPinned || v.SigningPubKey != daemon.PubkeyB64(key) {
			t.Fatalf("hub pin = %+v, want the key file's key", v)
		}
		id, err := identity.Load(identity.Path(e.opts.StateDir))
		if err != nil {
			t.Fatal(err)
		}
		if !v.ClientCertPinned || !sameFP(v.ClientCertFP, id.Fingerprint()) {
			t.Fatalf("hub cert pin = %v, agent's certificate %s", v.ClientCertFP, id.Fingerprint())
		}
		if v.SendsUnsigned {
			t.Fatal("hub marks the agent as sending unsigned data")
		}
		e.exactlyOnce()
	})

	t.Run("fail/forged batches refused", func(t *testing.T) {
		id, _ := identity.Load(identity.Path(e.opts.StateDir))
		roots, _ := identity.LoadRoots(e.info.CACert)
		cl, _ := client.NewAgent(client.AgentConfig{URL: e.info.URL, Token: e.token, Roots: roots})
		defer cl.CloseIdle()
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		body, _ := batch.Encode(batch.Header{TS: time.Now(), Seq: time.Now().UnixNano() + int64(time.Hour), AgentVersion: "1.0.0"},
			[]json.RawMessage{json.RawMessage(`{"type":"honeypot_trip","ts":"2026-04-01T10:00:00Z","path":"/forged"}`)})
		for _, sig := range []string{sig.Sign(other, body), ""} {
			_, err := cl.Ingest(context.Background(), id.TLS, body, sig)
			var ae *client.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
				t.Fatalf("forged ingest: %v, want 403", err)
			}
		}
		cycle(t, a) // the real agent goes on
		e.exactlyOnce()
	})

	t.Run("ok/409 recovery", func(t *testing.T) {
		// The agent forgets its seq and its clock runs an hour slow.
		if err := os.WriteFile(filepath.Join(e.opts.StateDir, "state.json"), []byte(`{}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = a.Close()
		slow := e.opts
		slow.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		b, err := daemon.Open(slow)
		if err != nil {
			t.Fatal(err)
		}
		cycle(t, b)
		_ = b.Close()
		if e.rec.replays == 0 {
			t.Fatal("the hub never answered 409; the test did not exercise recovery")
		}
		a = e.open()
		cycle(t, a)
		e.exactlyOnce()
	})

	t.Run("ok/rotation: admin unsets the pin, agent pins a new key", func(t *testing.T) {
		if _, err := e.admin.RotateSigningKey(context.Background(), e.id); err != nil {
			t.Fatal(err)
		}
		shared, err := daemon.OpenShared(e.opts)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := keyfile.Load(keyfile.Path(e.opts.StateDir))
		if _, err := shared.RotateKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		now, _ := keyfile.Load(keyfile.Path(e.opts.StateDir))
		if v := e.view(); now.Equal(old) || !v.SigningPubKeyPinned || v.SigningPubKey != daemon.PubkeyB64(now) {
			t.Fatalf("after rotation: pin %+v", v)
		}
		cycle(t, a)
		e.exactlyOnce()
	})

	t.Run("ok/hub stopped and started again: exactly once", func(t *testing.T) {
		u, _ := url.Parse(e.info.URL)
		if err := e.hub.Close(); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := a.Collect(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Drain(context.Background()); err == nil {
				t.Fatal("drain succeeded with the hub stopped")
			}
		}
		if st := a.SpoolStats(); st.Batches != 5 {
			t.Fatalf("spool holds %d batches, want 5", st.Batches)
		}
		port, _ := strconv.Atoi(u.Port())
		cfg := e.cfg
		cfg.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		e.hub = startHub(t, cfg)
		if _, err := a.Drain(context.Background()); err != nil {
			t.Fatalf("drain after restart: %v", err)
		}
		e.exactlyOnce()
	})
}

// sameFP compares fingerprints written as hex with or without colons.
func sameFP(a, b string) bool {
	clean := func(s string) string { return string(bytes.ReplaceAll(bytes.ToLower([]byte(s)), []byte(":"), nil)) }
	return clean(a) == clean(b)
}
