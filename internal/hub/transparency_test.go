package hub_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/tlog"
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
