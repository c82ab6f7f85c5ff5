package hub_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// recordLog is a hub.LogSubmitter that keeps what it is given and fails
// the next fail submissions.
type recordLog struct {
	mu      sync.Mutex
	fail    int
	entries []tlog.Entry
}

func (r *recordLog) Submit(_ context.Context, es ...tlog.Entry) ([]tlog.ID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return nil, fmt.Errorf("log pool: %w", hub.ErrUnavailable)
	}
	ids := make([]tlog.ID, len(es))
	for i, e := range es {
		b, err := e.Bytes()
		if err != nil {
			return nil, err
		}
		ids[i] = tlog.EntryID(b)
		r.entries = append(r.entries, e)
	}
	return ids, nil
}

func (r *recordLog) got() []tlog.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tlog.Entry(nil), r.entries...)
}

func (r *recordLog) has(e tlog.Entry) bool {
	for _, g := range r.got() {
		if reflect.DeepEqual(g, e) {
			return true
		}
	}
	return false
}

// Every committed signing-key pin and unpin is submitted to the log, with
// the pin's exact time (SPEC 10), and a registration whose submission
// failed is completed by its retry.
func TestPinsAndUnpinsAreLogged(t *testing.T) {
	t.Run("ok/pin", func(t *testing.T) {
		log := &recordLog{}
		f := newFxCfg(t, app.CoreConfig{Log: log})
		a := f.enrolled()
		st := f.agentState(a.id)
		want := tlog.Pin(tenant, a.id, pack.Fingerprint(a.pub()), st.SigningSetAt)
		if got := log.got(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("log got %+v, want %+v", got, want)
		}
		if want.At != st.SigningSetAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00") {
			t.Fatalf("at %q is not the pin's time %s", want.At, st.SigningSetAt)
		}
	})
	t.Run("ok/legacy-agent-logs-nothing", func(t *testing.T) {
		log := &recordLog{}
		f := newFxCfg(t, app.CoreConfig{Log: log})
		f.legacyAgent()
		if got := log.got(); len(got) != 0 {
			t.Fatalf("log got %+v for an agent without a signing key", got)
		}
	})
	t.Run("ok/unpin", func(t *testing.T) {
		log := &recordLog{}
		f := newFxCfg(t, app.CoreConfig{Log: log})
		a := f.enrolled()
		f.clock.Advance(1500 * 1e6)
		now := f.clock.Now()
		if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
			t.Fatal(err)
		}
		want := tlog.Unpin(tenant, a.id, pack.Fingerprint(a.pub()), now)
		if !log.has(want) {
			t.Fatalf("log got %+v, want %+v in it", log.got(), want)
		}
		// A second rotation finds no key pinned: nothing more to log.
		if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
			t.Fatal(err)
		}
		if n := len(log.got()); n != 2 {
			t.Fatalf("%d entries after rotating an unpinned agent, want 2 (pin, unpin)", n)
		}
		// The new key's pin is logged in turn.
		a.key = newSigningKey(t)
		if _, err := f.register(a.token, a.cert, regBody("1.4.3", pubB64(a.key), "")); err != nil {
			t.Fatal(err)
		}
		st := f.agentState(a.id)
		if !log.has(tlog.Pin(tenant, a.id, pack.Fingerprint(a.key.Public().(ed25519.PublicKey)), st.SigningSetAt)) {
			t.Fatalf("the second key's pin is not logged: %+v", log.got())
		}
	})
	t.Run("fail/submit-after-pin-then-retry-completes", func(t *testing.T) {
		log := &recordLog{fail: 1}
		f := newFxCfg(t, app.CoreConfig{Log: log})
		a := f.newAgent()
		body := regBody("1.4.2", pubB64(a.key), "")
		_, err := f.register(a.token, f.issue(tenant, a.id), body)
		wantCode(t, err, hub.CodeUnavailable)
		st := f.agentState(a.id)
		if len(st.SigningPubKey) == 0 {
			t.Fatal("the pin was not stored")
		}
		if len(log.got()) != 0 {
			t.Fatal("a failed submission logged something")
		}
		if _, err := f.register(a.token, f.issue(tenant, a.id), body); err != nil {
			t.Fatal(err)
		}
		if want := tlog.Pin(tenant, a.id, pack.Fingerprint(a.pub()), st.SigningSetAt); !log.has(want) {
			t.Fatalf("the retry did not log the pin: %+v", log.got())
		}
	})
	t.Run("fail/submit-after-unpin", func(t *testing.T) {
		log := &recordLog{}
		f := newFxCfg(t, app.CoreConfig{Log: log})
		a := f.enrolled()
		log.fail = 1
		_, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id)
		wantCode(t, err, hub.CodeUnavailable)
	})
}

// refusing is a witness set that cosigns nothing: every witness has seen
// another history.
type refusing struct{ tlogtest.Unwitnessed }

func (refusing) Cosign(_ context.Context, signed []byte, _ tlog.ProveFunc) ([]byte, error) {
	return signed, fmt.Errorf("witness w1: conflict: %w", tlog.ErrNotCosigned)
}
func (refusing) Quorum([]byte) error { return tlog.ErrNotCosigned }

// The integrity cycle publishes the log: the pins submitted since the last
// cycle are integrated and cosigned; a witness's refusal fails the cycle
// and is reported.
func TestIntegrityPublishesTheLog(t *testing.T) {
	open := func(t *testing.T, w tlog.Cosigner) (*fx, *tlog.Log, *tlogtest.Memory) {
		mem := tlogtest.NewMemory()
		l, err := tlog.New(tlog.Config{Origin: "hub.example.com/monsys"}, mem.Stores(), tlogtest.NewKey(1), w)
		if err != nil {
			t.Fatal(err)
		}
		return newFxCfg(t, app.CoreConfig{Log: l, Publish: l}), l, mem
	}
	t.Run("ok/pins-integrated-and-cosigned", func(t *testing.T) {
		f, l, mem := open(t, tlogtest.Unwitnessed{})
		a, b := f.enrolled(), f.enrolled()
		if _, err := f.core.Integrity.Run(f.ctx); err != nil {
			t.Fatal(err)
		}
		var entries [][]byte
		for _, ag := range []*agent{a, b} {
			e, err := tlog.Pin(tenant, ag.id, pack.Fingerprint(ag.pub()), f.agentState(ag.id).SigningSetAt).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e)
		}
		proofs, _, err := l.Proofs(f.ctx, entries)
		if err != nil || len(proofs) != 2 {
			t.Fatalf("pins not provable after the cycle: %v", err)
		}
		if p, _ := mem.Pending(f.ctx, 10); len(p) != 0 {
			t.Fatalf("%d entries still pending", len(p))
		}
	})
	t.Run("ok/empty-log-publishes-nothing", func(t *testing.T) {
		f, _, _ := open(t, refusing{})
		if _, err := f.core.Integrity.Run(f.ctx); err != nil {
			t.Fatalf("a cycle with nothing to log failed: %v", err)
		}
	})
	t.Run("fail/witness-refuses", func(t *testing.T) {
		f, _, _ := open(t, refusing{})
		f.enrolled()
		sum, err := f.core.Integrity.Run(f.ctx)
		if !errors.Is(err, tlog.ErrNotCosigned) || sum.Errors != 1 {
			t.Fatalf("cycle: %+v, %v; want one error wrapping tlog.ErrNotCosigned", sum, err)
		}
		if !strings.Contains(f.logs.String(), "errors") {
			t.Fatal("the cycle's log line is missing")
		}
	})
}

// Every pack is submitted to the log before it is ready; a pack the log
// cannot take fails and is never ready.
func TestPacksAreLogged(t *testing.T) {
	t.Run("ok/entry-before-ready", func(t *testing.T) {
		log := &recordLog{}
		f := newPackFxCore(t, hub.PackConfig{}, app.CoreConfig{Log: log})
		id := f.request()
		p := f.mustBuild(id)
		if p.Status != hub.PackReady {
			t.Fatalf("status %s", p.Status)
		}
		want := tlog.Pack(tenant, id, p.ManifestSHA256, pack.TimeString(p.GeneratedAt))
		if got := log.got(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("log got %+v, want %+v", got, want)
		}
	})
	t.Run("fail/log-unavailable", func(t *testing.T) {
		log := &recordLog{fail: 1}
		f := newPackFxCore(t, hub.PackConfig{}, app.CoreConfig{Log: log})
		id := f.request()
		if err, _ := f.build(id); !errors.Is(err, hub.ErrPackFailed) {
			t.Fatalf("build: %v, want ErrPackFailed", err)
		}
		p := f.stored(id)
		if p.Status != hub.PackFailed || !strings.Contains(p.Reason, "transparency log") {
			t.Fatalf("pack %s (%q), want failed naming the log", p.Status, p.Reason)
		}
		// The next pack of the tenant builds: the lease was released.
		if p := f.mustBuild(f.request()); p.Status != hub.PackReady {
			t.Fatalf("next pack %s", p.Status)
		}
	})
}

// Each cycle submits, per tenant, the chain heads of the agents that sent
// signed batches within the heads window, and publishes them with the rest.
func TestIntegrityLogsChainHeads(t *testing.T) {
	mem := tlogtest.NewMemory()
	l, err := tlog.New(tlog.Config{Origin: "hub.example.com/monsys"}, mem.Stores(), tlogtest.NewKey(1), tlogtest.Unwitnessed{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFxCfg(t, app.CoreConfig{Log: l, Publish: l})
	a, b := f.enrolled(), f.enrolled()
	legacy := f.legacyAgent()
	f.mustIngest(a, "1.4.2", 2)
	f.mustIngest(a, "1.4.2", 1)
	f.mustIngest(b, "1.4.2", 1)
	r := legacy.req([]byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z"}]`))
	r.Signature = ""
	if _, err := f.ingest(r); err != nil {
		t.Fatal(err)
	}
	head := func(ag *agent) tlog.ChainHead {
		st := f.agentState(ag.id)
		return tlog.ChainHead{AgentID: ag.id, Seq: strconv.FormatInt(st.LastSeq, 10), SHA256: st.LastBatchSHA}
	}
	now := f.clock.Now()
	if _, err := f.core.Integrity.Run(f.ctx); err != nil {
		t.Fatal(err)
	}
	want, err := tlog.Heads(tenant, now, []tlog.ChainHead{head(a), head(b)})
	if err != nil || len(want) != 1 {
		t.Fatal(err)
	}
	wb, err := want[0].Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Proofs(f.ctx, [][]byte{wb}); err != nil {
		t.Fatalf("the cycle's heads entry %s is not in the log: %v", wb, err)
	}
	size := func() int64 {
		t.Helper()
		h, err := mem.LoadHead(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h.Size
	}
	before := size() // 2 pins + 1 heads entry
	if before != 3 {
		t.Fatalf("log size %d, want 3 (two pins, one heads entry)", before)
	}
	t.Run("ok/quiet-agents-leave-the-heads", func(t *testing.T) {
		f.clock.Advance(21 * time.Minute)
		if _, err := f.core.Integrity.Run(f.ctx); err != nil {
			t.Fatal(err)
		}
		if got := size(); got != before {
			t.Fatalf("log grew from %d to %d with no agent sending", before, got)
		}
	})
}

// A registration cut between the pin's write and its submission, whose
// agent never registers again but sends signed data, is repaired by the
// next integrity cycle.
func TestIntegrityRepairsAnUnloggedPin(t *testing.T) {
	mem := tlogtest.NewMemory()
	l, err := tlog.New(tlog.Config{Origin: "hub.example.com/monsys"}, mem.Stores(), tlogtest.NewKey(1), tlogtest.Unwitnessed{})
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutLog{Log: l, fail: 1}
	f := newFxCfg(t, app.CoreConfig{Log: cut, Publish: l})
	a := f.newAgent()
	a.cert = f.issue(tenant, a.id)
	_, err = f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
	wantCode(t, err, hub.CodeUnavailable) // the pin is written, its submission lost
	f.mustIngest(a, "1.4.2", 1)
	if _, err := f.core.Integrity.Run(f.ctx); err != nil {
		t.Fatal(err)
	}
	pin, err := tlog.Pin(tenant, a.id, pack.Fingerprint(a.pub()), f.agentState(a.id).SigningSetAt).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Proofs(f.ctx, [][]byte{pin}); err != nil {
		t.Fatalf("the pin is not in the log after the cycle: %v", err)
	}
}

// cutLog is a log whose next fail submissions are lost.
type cutLog struct {
	*tlog.Log
	mu   sync.Mutex
	fail int
}

// loseNext makes the next n submissions lost.
func (c *cutLog) loseNext(n int) {
	c.mu.Lock()
	c.fail = n
	c.mu.Unlock()
}

func (c *cutLog) Submit(ctx context.Context, es ...tlog.Entry) ([]tlog.ID, error) {
	c.mu.Lock()
	if c.fail > 0 {
		c.fail--
		c.mu.Unlock()
		return nil, fmt.Errorf("lost: %w", hub.ErrUnavailable)
	}
	c.mu.Unlock()
	return c.Log.Submit(ctx, es...)
}
