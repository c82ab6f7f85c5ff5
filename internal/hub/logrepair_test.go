package hub_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// historyInLog reports whether every pin and unpin of the agent's stored
// key history is integrated under the log's cosigned checkpoint.
func (lf *logFx) historyInLog(id string) error {
	lf.t.Helper()
	var raw [][]byte
	for _, k := range hub.KeyHistory(lf.agentState(id)) {
		fp := pack.Fingerprint(k.PublicKey)
		es := []tlog.Entry{tlog.Pin(tenant, id, fp, k.PinnedAt)}
		if !k.UnpinnedAt.IsZero() {
			es = append(es, tlog.Unpin(tenant, id, fp, k.UnpinnedAt))
		}
		for _, e := range es {
			b, err := e.Bytes()
			if err != nil {
				lf.t.Fatal(err)
			}
			raw = append(raw, b)
		}
	}
	if len(raw) == 0 {
		lf.t.Fatalf("agent %s has no key history", id)
	}
	_, _, err := lf.log.Proofs(lf.ctx, raw)
	return err
}

func (lf *logFx) cycle() {
	lf.t.Helper()
	lf.clock.Advance(time.Hour) // the agent sends nothing: only the mark brings it to the cycle
	if _, err := lf.core.Integrity.Run(lf.ctx); err != nil {
		lf.t.Fatalf("integrity cycle: %v", err)
	}
}

// TestKeyChangesCutFromTheLog: a pin or unpin whose submission to the log
// is lost after its write reaches the log by the next integrity cycle,
// without a pack and without data from the agent (issue 14).
func TestKeyChangesCutFromTheLog(t *testing.T) {
	t.Run("ok/cut-pin-logged-by-the-integrity-cycle", func(t *testing.T) {
		lf := newLogFx(t, func(l *tlog.Log) hub.LogSubmitter { return &cutLog{Log: l, fail: 1} })
		a := lf.newAgent()
		a.cert = lf.issue(tenant, a.id)
		_, err := lf.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
		wantCode(t, err, hub.CodeUnavailable) // the pin is written, its submission lost
		if st := lf.agentState(a.id); st.LogMark != hub.LogMark(hub.KeyPin, st.SigningSetAt) {
			t.Fatalf("mark %q after a cut pin, want the pin's", st.LogMark)
		}
		lf.cycle()
		if err := lf.historyInLog(a.id); err != nil {
			t.Fatalf("the cut pin is not in the log: %v", err)
		}
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left", st.LogMark)
		}
	})
	t.Run("ok/lost-clear-is-done-by-the-cycle", func(t *testing.T) {
		// The unpin is written and logged, but clearing its mark fails: the
		// request still succeeds, and the cycle resubmits (no change) and
		// clears the mark.
		lf := newLogFx(t, nil)
		a := lf.enrolled()
		lf.clock.Advance(time.Second)
		lf.store.FailNext("ClearLogMark", errors.New("throttled"))
		if _, err := lf.core.Agents.RotateSigningKey(lf.ctx, lf.admin, a.id); err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if st := lf.agentState(a.id); st.LogMark == "" {
			t.Fatal("the mark was cleared although its clear failed")
		}
		lf.cycle()
		if err := lf.historyInLog(a.id); err != nil {
			t.Fatalf("history not in the log: %v", err)
		}
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left", st.LogMark)
		}
	})
	t.Run("ok/a-newer-change-keeps-its-mark", func(t *testing.T) {
		// While the cycle resubmits the cut unpin, a new key is pinned and
		// its submission is cut too: the cycle's clear leaves the pin's mark,
		// and the next cycle logs the pin.
		lf, cut := newCutLogFx(t)
		a := lf.enrolled()
		lf.cutUnpin(cut, a.id)
		newKey, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var pinnedAt time.Time
		lf.store.BeforeNext("ClearLogMark", func() {
			pinnedAt = lf.clock.Now()
			if err := lf.store.Memory.PinSigningKey(lf.ctx, a.id, []byte(newKey), pinnedAt); err != nil {
				t.Errorf("pin: %v", err)
			}
		})
		lf.cycle()
		if st := lf.agentState(a.id); st.LogMark != hub.LogMark(hub.KeyPin, pinnedAt) {
			t.Fatalf("mark %q, want the newer pin's", st.LogMark)
		}
		if err := lf.historyInLog(a.id); err == nil {
			t.Fatal("the newer pin is in the log before the cycle that repairs it")
		}
		lf.cycle()
		if err := lf.historyInLog(a.id); err != nil {
			t.Fatalf("history not in the log: %v", err)
		}
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left", st.LogMark)
		}
	})
	t.Run("ok/pooled-without-witnesses", func(t *testing.T) {
		// The integrity function of a hub without witnesses publishes
		// nothing, but its cycle still pools the cut change and clears the
		// mark; setting witnesses later publishes it.
		cut := &cutLog{}
		lf := &logFx{mem: tlogtest.NewMemory(), ws: tlogtest.NewWitnesses(11, 12)}
		lf.log = lf.newLog(t, lf.mem.Stores())
		cut.Log = lf.log
		lf.packFx = newPackFxCore(t, hub.PackConfig{}, app.CoreConfig{Log: cut})
		a := lf.enrolled()
		lf.cutUnpin(cut, a.id)
		lf.cycle()
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left", st.LogMark)
		}
		if err := lf.log.Publish(lf.ctx); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if err := lf.historyInLog(a.id); err != nil {
			t.Fatalf("the cut unpin was not pooled: %v", err)
		}
	})
}
