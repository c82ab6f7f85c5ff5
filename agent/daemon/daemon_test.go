package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/agent/backoff"
	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/agent/spool"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/local/hubtest"
	"github.com/monsys/hub/internal/sig"
)

// counter emits numbered records ("n") of a chosen size, so tests can check
// that every record arrives exactly once and in order.
type counter struct {
	perCycle int
	pad      int
	next     atomic.Int64
}

func (c *counter) Name() string { return "test" }

func (c *counter) Collect(_ context.Context, now time.Time) ([]any, error) {
	out := make([]any, c.perCycle)
	for i := range out {
		out[i] = map[string]any{"type": "test_record", "ts": batch.TS(now), "n": c.next.Add(1) - 1, "pad": strings.Repeat("p", c.pad)}
	}
	return out, nil
}

type env struct {
	t     *testing.T
	hub   *hubtest.Hub
	id    string
	token string
	dir   string
	clk   *clocktest.Clock
	rec   *counter
	opts  Options
	agent *Agent
}

// newEnv starts the real hub in-process (hubtest) with one agent on it.
func newEnv(t *testing.T, perCycle, pad int, opts ...hubtest.Option) *env {
	t.Helper()
	hub := hubtest.Start(t, opts...)
	id, token := hub.NewAgent(t)
	e := &env{t: t, hub: hub, id: id, token: token, dir: filepath.Join(t.TempDir(), "state"), clk: clocktest.Skewed(), rec: &counter{perCycle: perCycle, pad: pad}}
	roots, err := identity.LoadRoots(hub.Profile.CACert)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewAgent(client.AgentConfig{URL: hub.URL, Token: e.token, Roots: roots, Now: e.clk.Now, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdle)
	e.opts = Options{
		StateDir: e.dir,
		Version:  "1.0.0",
		Hub:      cl,
		Enrollment: func() (identity.Identity, error) {
			return identity.LoadPair(hub.Profile.EnrollCert, hub.Profile.EnrollKey)
		},
		Collectors:    []Scheduled{{Collector: e.rec}},
		SpoolMaxBytes: spool.MinMaxBytes,
		Hostname:      func() (string, error) { return "test-host", nil },
		Now:           e.clk.Now,
		Rand:          rand.Reader,
		Jitter:        func() float64 { return 0 },
	}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	if e.agent != nil {
		_ = e.agent.Close()
	}
	a, err := Open(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.agent = a
	e.t.Cleanup(func() { _ = a.Close() })
}

func (e *env) collect(n int) {
	e.t.Helper()
	for range n {
		if _, err := e.agent.Collect(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) drain() (int, error) { return e.agent.Drain(context.Background()) }

func (e *env) mustDrain() {
	e.t.Helper()
	if _, err := e.drain(); err != nil {
		e.t.Fatalf("drain: %v", err)
	}
	if st := e.agent.SpoolStats(); st.Batches != 0 {
		e.t.Fatalf("spool not empty after drain: %+v", st)
	}
}

// view is what the hub holds for the agent and what it answered it.
func (e *env) view() hubtest.Agent {
	e.t.Helper()
	return e.hub.Agent(e.t, e.id)
}

// admin returns the operator client of the hub's tenant.
func (e *env) admin() *client.Admin { return e.hub.Admin() }

// refuseIngestUntilRegistered makes the edge answer every ingest with 403
// code until the agent registers again: what the agent must answer by
// registering (forbidden) or enrolling (cert_pin_mismatch) anew.
func (e *env) refuseIngestUntilRegistered(code string) {
	var registered atomic.Bool
	e.hub.SetFault(func(r *http.Request) *hubtest.Failure {
		switch {
		case r.URL.Path == hubtest.RegisterPath:
			registered.Store(true)
		case r.URL.Path == hubtest.IngestPath && !registered.Load():
			return &hubtest.Failure{Status: http.StatusForbidden, Code: code}
		}
		return nil
	})
}

// rotateSigningKey and rotateClientCert are the operator's unpinning.
func (e *env) rotateSigningKey() { e.ok(e.admin().RotateSigningKey(context.Background(), e.id)) }
func (e *env) rotateClientCert() { e.ok(e.admin().RotateClientCert(context.Background(), e.id)) }

func (e *env) ok(_ client.AgentView, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// sendUnknown sends, with the agent's key and certificate but not through
// the agent, a signed batch (a header alone) with seq: the hub then holds a
// batch the agent does not know of, as after its state was restored from an
// older copy.
func (e *env) sendUnknown(seq int64) {
	e.t.Helper()
	key, err := keyfile.Load(keyfile.Path(e.dir))
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := identity.Load(identity.Path(e.dir))
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := batch.Encode(batch.Header{TS: time.Now(), Seq: seq, AgentVersion: "1.0.0"}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.opts.Hub.Ingest(context.Background(), id.TLS, body, sig.Sign(key, body)); err != nil {
		e.t.Fatal(err)
	}
}

// received returns the "n" of every test record the hub accepted, in order.
func (e *env) received() []int64 {
	var ns []int64
	for _, r := range e.view().Records {
		var v struct {
			Type string `json:"type"`
			N    int64  `json:"n"`
		}
		_ = json.Unmarshal(r, &v)
		if v.Type == "test_record" {
			ns = append(ns, v.N)
		}
	}
	return ns
}

// exactlyOnce fails unless the hub holds records 0..want-1, each once, in
// order, in batches chained to each other with no chain_fork (SPEC 4.2).
func (e *env) exactlyOnce(want int) {
	e.t.Helper()
	e.inOrder(want)
	if a := e.view(); len(a.Unchained) != 0 || a.Forks != 0 {
		e.t.Fatalf("chain broken before seqs %v, %d chain_fork", a.Unchained, a.Forks)
	}
}

// inOrder fails unless the hub holds records 0..want-1, each once, in order.
func (e *env) inOrder(want int) {
	e.t.Helper()
	got := e.received()
	if len(got) != want {
		e.t.Fatalf("hub has %d test records, want %d", len(got), want)
	}
	for i, n := range got {
		if n != int64(i) {
			e.t.Fatalf("record %d has n=%d: lost, duplicated or out of order", i, n)
		}
	}
	seqs := e.view().Seqs
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		e.t.Fatalf("accepted seqs not strictly increasing: %v", seqs)
	}
}

func TestFirstStart(t *testing.T) {
	e := newEnv(t, 3, 0)
	e.collect(1)
	e.mustDrain()
	a := e.view()
	if a.Pubkey == nil || a.CertFP == "" || a.Registrations != 1 {
		t.Fatalf("after first start: pinned=%v cert=%q registrations=%d", a.Pubkey != nil, a.CertFP, a.Registrations)
	}
	key, err := keyfile.Load(keyfile.Path(e.dir))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Pubkey.Equal(key.Public()) {
		t.Fatal("hub pinned another key than the key file's")
	}
	id, err := identity.Load(identity.Path(e.dir))
	if err != nil || id.Fingerprint() != a.CertFP || id.Leaf.Subject.CommonName != a.ID {
		t.Fatalf("stored identity does not match the pinned certificate: %v", err)
	}
	if fi, _ := os.Stat(identity.Path(e.dir)); fi.Mode().Perm() != 0o600 {
		t.Errorf("client.pem mode %v, want 0600", fi.Mode().Perm())
	}
	e.exactlyOnce(3)
	if a.Forged != 0 || a.Unsigned != 0 {
		t.Fatalf("forged=%d unsigned=%d", a.Forged, a.Unsigned)
	}
	// A second drain with nothing new registers no more.
	e.mustDrain()
	if got := e.view().Registrations; got != 1 {
		t.Fatalf("registrations = %d after an idle drain", got)
	}
}

// TestForged sends batches signed otherwise than with the pinned key, over
// the agent's own certificate and token: the hub refuses every one.
func TestForged(t *testing.T) {
	e := newEnv(t, 1, 0)
	e.collect(1)
	e.mustDrain()
	id, _ := identity.Load(identity.Path(e.dir))
	roots, _ := identity.LoadRoots(e.hub.Profile.CACert)
	cl, _ := client.NewAgent(client.AgentConfig{URL: e.hub.URL, Token: e.token, Roots: roots})
	defer cl.CloseIdle()
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := batch.Encode(batch.Header{TS: time.Now(), Seq: time.Now().UnixNano() + 1e9, AgentVersion: "1.0.0"}, []json.RawMessage{json.RawMessage(`{"type":"honeypot_trip","ts":"2026-04-01T10:00:00Z","path":"/fake"}`)})
	tests := []struct {
		name string
		sig  string
		code string
	}{
		{name: "fail/second key", sig: sig.Sign(other, body), code: client.CodeSignatureInvalid},
		{name: "fail/no signature", sig: "", code: client.CodeSignatureMissing},
		{name: "fail/garbage signature", sig: "bm90IGEgc2lnbmF0dXJl", code: client.CodeSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cl.Ingest(context.Background(), id.TLS, body, tt.sig)
			var ae *client.Error
			if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != tt.code {
				t.Fatalf("err = %v, want 403 %s", err, tt.code)
			}
		})
	}
	if n := len(e.view().Records); n != 2 { // one test record + one agent_status
		t.Fatalf("hub stored %d records; forged ones must not be stored", n)
	}
}

func TestReplayRecovery(t *testing.T) {
	e := newEnv(t, 2, 0)
	e.collect(1)
	e.mustDrain()
	// The hub has accepted batches this agent does not know of (state lost,
	// clock set back): its last_seq is far ahead.
	ahead := time.Now().Add(time.Hour).UnixNano()
	e.sendUnknown(ahead)
	e.collect(3)
	e.mustDrain()
	a := e.view()
	if a.Replays != 1 {
		t.Fatalf("hub saw %d replays, want 1 (the re-sequenced seqs follow on)", a.Replays)
	}
	if a.LastSeq <= ahead {
		t.Fatalf("last seq %d not above %d", a.LastSeq, ahead)
	}
	e.inOrder(8)
	// The next batch continues above the re-sequenced ones.
	e.collect(1)
	e.mustDrain()
	e.inOrder(10)
	// The unknown batch is a fork (it does not chain to the agent's last
	// one, and the agent's next one does not chain to it): that one link
	// breaks, once; the re-sequenced batches chain on from there.
	if a := e.view(); a.Forks != 1 || len(a.Unchained) != 2 || a.Unchained[0] != ahead {
		t.Fatalf("unchained %v (unknown batch %d), %d chain_fork; want the one fork", a.Unchained, ahead, a.Forks)
	}
}

func TestIdempotentResend(t *testing.T) {
	e := newEnv(t, 1, 0)
	e.collect(1)
	// The hub stores the batch but the answer is lost.
	var once sync.Once
	e.hub.SetAfter(func(r *http.Request, status int) {
		if r.URL.Path == hubtest.IngestPath && status == http.StatusAccepted {
			once.Do(func() { e.hub.SetDown(true) })
		}
	})
	if _, err := e.drain(); err == nil {
		t.Fatal("drain succeeded although the answer was lost")
	}
	e.hub.SetAfter(nil)
	e.hub.SetDown(false)
	e.mustDrain()
	if d := e.view().Duplicates; d != 1 {
		t.Fatalf("hub saw %d duplicate resends, want 1 (a byte-identical resend)", d)
	}
	e.exactlyOnce(1)
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		failure    hubtest.Failure
		wantAfter  time.Duration
		wantStatus int
	}{
		{name: "fail/503 with seconds", failure: hubtest.Failure{Status: 503, Code: "unavailable", RetryAfter: "7"}, wantAfter: 7 * time.Second, wantStatus: 503},
		{name: "fail/429 with seconds", failure: hubtest.Failure{Status: 429, Code: "throttled", RetryAfter: "120"}, wantAfter: 120 * time.Second, wantStatus: 429},
		{name: "fail/500 without header", failure: hubtest.Failure{Status: 500, Code: "internal"}, wantStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1, 0)
			e.collect(1)
			e.mustDrain()
			e.collect(1)
			e.hub.SetFault(func(r *http.Request) *hubtest.Failure {
				if r.URL.Path == hubtest.IngestPath {
					f := tt.failure
					return &f
				}
				return nil
			})
			_, err := e.drain()
			var de *DrainError
			var ae *client.Error
			if !errors.As(err, &de) || !errors.As(err, &ae) || ae.Status != tt.wantStatus {
				t.Fatalf("err = %v", err)
			}
			if de.RetryAfter != tt.wantAfter {
				t.Fatalf("RetryAfter = %v, want %v", de.RetryAfter, tt.wantAfter)
			}
			b := backoff.Backoff{Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}
			if w := b.Next(de.RetryAfter); w < tt.wantAfter {
				t.Fatalf("backoff waits %v, less than Retry-After %v", w, tt.wantAfter)
			}
			if st := e.agent.SpoolStats(); st.Batches != 1 {
				t.Fatalf("spool has %d batches, want the unsent one kept", st.Batches)
			}
			e.hub.SetFault(nil)
			e.mustDrain()
			e.exactlyOnce(2)
		})
	}
}

// TestOutage: the hub is unreachable for a while; everything collected
// meanwhile arrives afterwards exactly once and in order.
func TestOutage(t *testing.T) {
	e := newEnv(t, 5, 0)
	e.collect(1)
	e.mustDrain()
	e.hub.SetDown(true)
	for range 10 {
		e.collect(1)
		if _, err := e.drain(); err == nil {
			t.Fatal("drain succeeded while the hub is down")
		}
	}
	if st := e.agent.SpoolStats(); st.Batches != 10 {
		t.Fatalf("spool holds %d batches, want 10", st.Batches)
	}
	// The agent restarts during the outage: the spool survives.
	e.open()
	e.hub.SetDown(false)
	e.mustDrain()
	e.exactlyOnce(55)
}

func TestRotation(t *testing.T) {
	t.Run("ok/403 after admin unset leads to registering again", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		keyBefore, _ := keyfile.Load(keyfile.Path(e.dir))
		e.rotateSigningKey()
		// The hub takes batches of an agent without a pin as legacy ones
		// (SPEC 4.2 check 4); this test is about a hub that refuses them.
		e.refuseIngestUntilRegistered(client.CodeForbidden)
		e.collect(1)
		e.mustDrain()
		a := e.view()
		if a.Pubkey == nil || !a.Pubkey.Equal(keyBefore.Public()) || a.Registrations != 2 {
			t.Fatalf("after 403: pinned=%v registrations=%d; want the same key pinned again", a.Pubkey != nil, a.Registrations)
		}
		e.exactlyOnce(2)
	})
	t.Run("ok/periodic registration re-pins after admin unset", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		e.rotateSigningKey()
		e.clk.Advance(time.Hour + time.Minute)
		e.collect(1)
		e.mustDrain()
		if a := e.view(); a.Pubkey == nil || a.Unsigned != 0 {
			t.Fatalf("pinned=%v unsigned=%d; want re-pinned before sending", a.Pubkey != nil, a.Unsigned)
		}
	})
	t.Run("ok/rotate-key after admin unset", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		old, _ := keyfile.Load(keyfile.Path(e.dir))
		e.rotateSigningKey()
		shared, err := OpenShared(e.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shared.RotateKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		now, _ := keyfile.Load(keyfile.Path(e.dir))
		a := e.view()
		if now.Equal(old) || !a.Pubkey.Equal(now.Public()) {
			t.Fatal("rotate-key did not pin a new key")
		}
		if _, err := os.Stat(keyfile.Path(e.dir) + ".next"); !os.IsNotExist(err) {
			t.Fatalf("pending key left behind: %v", err)
		}
		e.collect(1) // the running agent picks the new key up
		e.mustDrain()
		e.exactlyOnce(2)
	})
	t.Run("fail/rotate-key while the old key is pinned", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		old, _ := keyfile.Load(keyfile.Path(e.dir))
		shared, _ := OpenShared(e.opts)
		_, err := shared.RotateKey(context.Background())
		if !errors.Is(err, ErrPinned) {
			t.Fatalf("err = %v, want ErrPinned", err)
		}
		if now, _ := keyfile.Load(keyfile.Path(e.dir)); !now.Equal(old) {
			t.Fatal("key file changed although the hub refused the new key")
		}
		e.collect(1)
		e.mustDrain()
		e.exactlyOnce(2)
	})
}

func TestCertificate(t *testing.T) {
	t.Run("ok/renewal at two thirds of the lifetime", func(t *testing.T) {
		e := newEnv(t, 1, 0, hubtest.CertValidity(30*time.Minute))
		e.collect(1)
		e.mustDrain()
		before := e.view().CertFP
		e.clk.Advance(21 * time.Minute)
		e.collect(1)
		e.mustDrain()
		after := e.view()
		id, _ := identity.Load(identity.Path(e.dir))
		if after.CertFP == before || id.Fingerprint() != after.CertFP {
			t.Fatal("certificate not renewed and re-pinned")
		}
		e.exactlyOnce(2)
	})
	t.Run("ok/admin unpinned the certificate: pinned again at registration", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		before := e.view().CertFP
		e.rotateClientCert()
		e.collect(1)
		e.mustDrain() // no pin: the hub takes the agent's own certificate
		if fp := e.view().CertFP; fp != "" {
			t.Fatalf("certificate pinned again before a registration: %s", fp)
		}
		e.clk.Advance(time.Hour + time.Minute) // the periodic registration pins it (SPEC 5.4)
		e.collect(1)
		e.mustDrain()
		if fp := e.view().CertFP; fp != before {
			t.Fatalf("pinned %q after the registration, want the agent's %q", fp, before)
		}
		e.exactlyOnce(3)
	})
	t.Run("ok/admin unpinned the certificate: enroll again", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		before := e.view().CertFP
		e.rotateClientCert()
		// The hub takes the agent's own certificate while none is pinned
		// (ok/admin unpinned the certificate: pinned again at registration);
		// this test is about a hub that refuses it.
		e.refuseIngestUntilRegistered(client.CodeCertPinMismatch)
		e.collect(1)
		e.mustDrain()
		if fp := e.view().CertFP; fp == "" || fp == before {
			t.Fatal("no new certificate pinned")
		}
		e.exactlyOnce(2)
	})
}

func TestSpoolBound(t *testing.T) {
	// 30 KiB records, 20 per cycle: about 600 KiB a cycle, spread over
	// three batches; with a 1 MiB bound only the latest cycles fit.
	e := newEnv(t, 20, 30<<10)
	e.hub.SetDown(true)
	e.collect(4)
	st := e.agent.SpoolStats()
	if st.Bytes > spool.MinMaxBytes || st.DropTotal.Batches == 0 {
		t.Fatalf("spool %+v: want bounded with drops", st)
	}
	e.hub.SetDown(false)
	e.collect(1) // its agent_status reports the drops
	e.mustDrain()
	// A status record can itself be dropped past the bound, so the hub
	// relies on dropped_batches_total; drops made while spooling the last
	// cycle wait for the next agent_status.
	var last AgentStatus
	for _, r := range e.view().Records {
		var s AgentStatus
		if json.Unmarshal(r, &s) == nil && s.Type == "agent_status" {
			last = s
		}
	}
	after := e.agent.SpoolStats()
	if last.DroppedBatches == 0 || last.DroppedBatchesTotal+after.Unsent.Batches != after.DropTotal.Batches {
		t.Fatalf("last agent_status reports %d dropped (%d in all), %d unreported, spool dropped %d", last.DroppedBatches, last.DroppedBatchesTotal, after.Unsent.Batches, after.DropTotal.Batches)
	}
	// What arrived is the newest data, in order, each once.
	got := e.received()
	if len(got) == 0 || got[len(got)-1] != e.rec.next.Load()-1 || !slices.IsSorted(got) {
		t.Fatalf("received %d records ending at %v", len(got), got[len(got)-1:])
	}
}

func TestRejectedBatch(t *testing.T) {
	e := newEnv(t, 1, 0)
	e.collect(1)
	e.mustDrain()
	bad, _ := batch.Encode(batch.Header{TS: time.Now(), Seq: time.Now().UnixNano() + 1e9, AgentVersion: "1.0.0"}, []json.RawMessage{json.RawMessage(`{"type":"Bad Type!","ts":"yesterday"}`)})
	if _, err := e.agent.spool.Append(bad, 1); err != nil {
		t.Fatal(err)
	}
	e.collect(1)
	e.mustDrain()
	st, _ := e.agent.store.Load()
	if st.Rejected != 1 {
		t.Fatalf("rejected = %d, want 1", st.Rejected)
	}
	e.exactlyOnce(2)
}

// TestChainCleanAgent: an agent that restarts, spools through an outage
// and rotates its key keeps one unbroken chain, with no anomaly.
//
// The auditor's side: a pack of the agent's data, built by the hub's core,
// passes --deep in both verifiers, every batch under the key the agent had
// when it was received (two keys, one rotation) and one chain.
func TestChainCleanAgent(t *testing.T) {
	from := time.Now().Add(-time.Hour)
	e := newEnv(t, 2, 0)
	e.collect(1)
	e.mustDrain()
	e.open() // a restart
	e.collect(1)
	e.mustDrain()
	e.hub.SetDown(true)
	for range 3 {
		e.collect(1)
		if _, err := e.drain(); err == nil {
			t.Fatal("drain succeeded while the hub is down")
		}
	}
	e.open() // a restart during the outage
	e.hub.SetDown(false)
	e.mustDrain()
	e.rotateSigningKey()
	shared, err := OpenShared(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.RotateKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.collect(2)
	e.mustDrain()
	e.exactlyOnce(2 * (1 + 1 + 3 + 2))
	deepPasses(t, e.hub.Pack(t, from, e.clk.Now().Add(time.Hour)),
		"signed by 2 agent keys (Ed25519)", "✓ Batch chains unbroken (1 agents)")
}

// TestChainAckedNotRemoved: the agent stopped after noting the hub's
// answer but before removing the batch from the spool; the batch is the
// last acknowledged body and is removed, not sent again under a new prev.
func TestChainAckedNotRemoved(t *testing.T) {
	e := newEnv(t, 1, 0)
	e.collect(1)
	head, err := e.agent.spool.Head()
	if err != nil {
		t.Fatal(err)
	}
	e.mustDrain()
	sent, _, err := e.agent.chain(head) // the bytes that were sent
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.spool.Append(sent.Body, sent.Records); err != nil {
		t.Fatal(err)
	}
	e.collect(1)
	e.mustDrain()
	if a := e.view(); a.Replays != 0 || a.Batches != 2 {
		t.Fatalf("%d replays, %d batches: the acknowledged batch was sent again", a.Replays, a.Batches)
	}
	e.exactlyOnce(2)
}

// copyDir copies the state directory src into a new dst: a snapshot.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestChainFork: the hub raises chain_fork when the chain the agent
// keeps is not the one it accepted: a host whose state folder is rolled
// back, and two hosts that share one key file and token.
func TestChainFork(t *testing.T) {
	t.Run("fail/state folder rolled back", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		_ = e.agent.Close()
		snap := filepath.Join(t.TempDir(), "snapshot")
		copyDir(t, e.dir, snap)
		e.open()
		e.collect(2)
		e.mustDrain()
		if a := e.view(); a.Forks != 0 {
			t.Fatalf("%d chain_fork before the rollback", a.Forks)
		}
		_ = e.agent.Close()
		if err := os.RemoveAll(e.dir); err != nil {
			t.Fatal(err)
		}
		copyDir(t, snap, e.dir)
		e.open()
		e.collect(1)
		e.mustDrain()
		if a := e.view(); a.Forks != 1 {
			t.Fatalf("%d chain_fork after the rollback, want 1", a.Forks)
		}
	})
	t.Run("fail/two hosts share key file and token", func(t *testing.T) {
		e := newEnv(t, 1, 0)
		e.collect(1)
		e.mustDrain()
		_ = e.agent.Close()
		twin := *e
		twin.dir = filepath.Join(t.TempDir(), "twin")
		copyDir(t, e.dir, twin.dir)
		twin.opts.StateDir = twin.dir
		twin.agent = nil
		twin.open()
		e.open()
		for range 2 {
			e.collect(1)
			e.mustDrain()
			twin.collect(1)
			twin.mustDrain()
		}
		if a := e.view(); a.Forks == 0 {
			t.Fatalf("no chain_fork from two hosts signing with one key (unchained %v)", a.Unchained)
		}
	})
}

func TestOpenRefusals(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    error
	}{
		{name: "fail/key file too short", prepare: func(t *testing.T, dir string) {
			_ = os.WriteFile(keyfile.Path(dir), make([]byte, 31), 0o600)
		}, want: keyfile.ErrSize},
		{name: "fail/second agent on the same state dir", prepare: func(t *testing.T, dir string) {
			a, err := Open(Options{StateDir: dir, Rand: rand.Reader, SpoolMaxBytes: spool.MinMaxBytes})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close() })
		}, want: ErrRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			_, err := Open(Options{StateDir: dir, Rand: rand.Reader, SpoolMaxBytes: spool.MinMaxBytes})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStatusReport(t *testing.T) {
	e := newEnv(t, 1, 0)
	e.collect(1)
	e.mustDrain()
	e.collect(2)
	r, err := Inspect(e.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := r.Format(e.clk.Now())
	for _, want := range []string{"agent id:", e.view().ID, "signing pin:", "pinned since", "client certificate:", "expires", "spool:", "2 batches waiting", "last contact:", "ago"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
