package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/verify"
)

// april is a pack period holding t0: the agents' registrations are in it.
const april = `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-30T23:59:59Z"}`

// swapProver is a hub.LogProver whose log a test replaces: a crashed log,
// then the next run over the same stores.
type swapProver struct {
	mu sync.Mutex
	hub.LogProver
}

func (s *swapProver) set(l hub.LogProver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.LogProver = l
}

func (s *swapProver) cur() hub.LogProver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.LogProver
}

func (s *swapProver) Submit(ctx context.Context, es ...tlog.Entry) ([]tlog.ID, error) {
	return s.cur().Submit(ctx, es...)
}
func (s *swapProver) Publish(ctx context.Context) error { return s.cur().Publish(ctx) }
func (s *swapProver) Proofs(ctx context.Context, es [][]byte) ([][]byte, []byte, error) {
	return s.cur().Proofs(ctx, es)
}

// logFx is packFx whose packs are logged, cosigned by in-memory witnesses
// and proved (SPEC 10).
type logFx struct {
	*packFx
	mem *tlogtest.Memory
	ws  *tlogtest.Witnesses
	log *tlog.Log
	sw  *swapProver
}

// newCutLogFx is a logFx whose submissions to the log can be lost (cutLog.loseNext).
func newCutLogFx(t *testing.T) (*logFx, *cutLog) {
	cut := &cutLog{}
	return newLogFx(t, func(l *tlog.Log) hub.LogSubmitter { cut.Log = l; return cut }), cut
}

// cutUnpin unpins agent id's key a second later (rotate-signing-key) with
// its submission to the log lost: the unpin is stored, the call answers
// unavailable.
func (lf *logFx) cutUnpin(cut *cutLog, id string) {
	lf.t.Helper()
	lf.clock.Advance(time.Second)
	cut.loseNext(1)
	_, err := lf.core.Agents.RotateSigningKey(lf.ctx, lf.admin, id)
	wantCode(lf.t, err, hub.CodeUnavailable)
}

func newLogFx(t *testing.T, submit func(*tlog.Log) hub.LogSubmitter) *logFx {
	t.Helper()
	lf := &logFx{mem: tlogtest.NewMemory(), ws: tlogtest.NewWitnesses(11, 12)}
	lf.log = lf.newLog(t, lf.mem.Stores())
	lf.sw = &swapProver{LogProver: lf.log}
	var sub hub.LogSubmitter = lf.log
	if submit != nil {
		sub = submit(lf.log)
	}
	lf.packFx = newPackFxCore(t, hub.PackConfig{}, app.CoreConfig{Log: sub, Publish: lf.sw, Prove: lf.sw})
	return lf
}

func (lf *logFx) newLog(t *testing.T, st tlog.Stores) *tlog.Log {
	t.Helper()
	l, err := tlog.New(tlog.Config{Origin: "hub.example.com/monsys"}, st, tlogtest.NewKey(1), lf.ws)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// requestApril asks for a pack of April and takes its build from the queue.
func (lf *logFx) requestApril() string {
	lf.t.Helper()
	lf.clock.Advance(time.Minute) // what came before is held before generated_at
	v, err := lf.packs.RequestPack(lf.ctx, lf.admin, []byte(april))
	if err != nil {
		lf.t.Fatalf("request: %v", err)
	}
	lf.builds.Take()
	return v.PackID
}

// archive returns the stored archive of a ready pack, by member.
func (lf *logFx) archive(p hub.Pack) map[string][]byte {
	lf.t.Helper()
	b, ok := lf.objects.Object(p.ObjectKey, p.ObjectVersion)
	if !ok {
		lf.t.Fatalf("no object %s", p.ObjectKey)
	}
	return packtest.Contents(lf.t, b)
}

// checkProofs runs the verifiers' SPEC 10 checks on the stored pack with
// the log's and the witnesses' keys and returns their lines.
func (lf *logFx) checkProofs(p hub.Pack) []string {
	lf.t.Helper()
	m := lf.archive(p)
	hist, err := verify.KeyHistoryEntries(tenant, m[pack.DataDir+pack.AgentsPath])
	if err != nil {
		lf.t.Fatal(err)
	}
	keys, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: lf.log.VerifierKey(), WitnessKeys: lf.ws.VKeys()})
	if err != nil {
		lf.t.Fatal(err)
	}
	in := verify.TransparencyInput{PackID: p.PackID, TenantID: tenant, GeneratedAt: pack.TimeString(p.GeneratedAt),
		ManifestSHA256: pack.SHA256Hex(m[pack.ManifestName]), PackProof: m[pack.PackProofName], PinsProofs: m[pack.PinsProofsName], KeyHistory: hist}
	var lines []string
	for _, c := range verify.CheckTransparency(in, keys) {
		for _, l := range c.Lines {
			lines = append(lines, l)
		}
		if !c.OK {
			lf.t.Errorf("check %s fails: %v", c.Name, c.Lines)
		}
	}
	return lines
}

// A pack is ready only once its entry and its key history's pins are
// integrated and cosigned, with their proofs in transparency/, which the
// verifiers accept.
func TestPacksCarryProofs(t *testing.T) {
	t.Run("ok/ready-with-proofs", func(t *testing.T) {
		lf := newLogFx(t, nil)
		a, b := lf.enrolled(), lf.enrolled()
		lf.mustIngest(a, "1.4.2", 1)
		lf.mustIngest(b, "1.4.2", 1)
		p := lf.mustBuild(lf.requestApril())
		lines := lf.checkProofs(p)
		if len(lines) != 3 || !strings.Contains(lines[2], "(2 pins, 0 unpins)") {
			t.Fatalf("lines %q, want three passing, two pins", lines)
		}
	})
	t.Run("ok/cut-pin-logged-by-the-builder", func(t *testing.T) {
		lf := newLogFx(t, func(l *tlog.Log) hub.LogSubmitter { return &cutLog{Log: l, fail: 1} })
		a := lf.newAgent()
		a.cert = lf.issue(tenant, a.id)
		_, err := lf.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), ""))
		wantCode(t, err, hub.CodeUnavailable) // the pin is written, its submission lost
		p := lf.mustBuild(lf.requestApril())
		if lines := lf.checkProofs(p); len(lines) != 3 || !strings.Contains(lines[2], "(1 pin, 0 unpins)") {
			t.Fatalf("lines %q", lines)
		}
	})
	t.Run("ok/cut-unpin-logged-by-the-builder", func(t *testing.T) {
		// rotate-signing-key writes the unpin, its submission is lost (the
		// admin's retry finds no key to unpin): the next pack naming the
		// agent logs it from the key history.
		lf, cut := newCutLogFx(t)
		a := lf.enrolled()
		lf.cutUnpin(cut, a.id)
		if st := lf.agentState(a.id); len(st.SigningPubKey) != 0 {
			t.Fatal("the unpin was not stored")
		}
		p := lf.mustBuild(lf.requestApril())
		if lines := lf.checkProofs(p); len(lines) != 3 || !strings.Contains(lines[2], "(1 pin, 1 unpin)") {
			t.Fatalf("lines %q", lines)
		}
	})
	t.Run("ok/cut-unpin-logged-by-the-integrity-cycle", func(t *testing.T) {
		// The unpin's submission is lost and no pack ever names the agent
		// again: the unpin's write marked the agent log pending, and the
		// next integrity cycle submits its whole key history and clears the
		// mark.
		lf, cut := newCutLogFx(t)
		a := lf.enrolled()
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left after a pin that was logged", st.LogMark)
		}
		lf.cutUnpin(cut, a.id)
		st := lf.agentState(a.id)
		h := hub.KeyHistory(st)
		if len(h) != 1 || h[0].UnpinnedAt.IsZero() {
			t.Fatalf("history %+v, want one closed entry", h)
		}
		fp := pack.Fingerprint(h[0].PublicKey)
		var raw [][]byte
		for _, e := range []tlog.Entry{tlog.Pin(tenant, a.id, fp, h[0].PinnedAt), tlog.Unpin(tenant, a.id, fp, h[0].UnpinnedAt)} {
			b, err := e.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b)
		}
		lf.clock.Advance(time.Hour) // the agent never sends data again
		if _, err := lf.core.Integrity.Run(lf.ctx); err != nil {
			t.Fatalf("integrity cycle: %v", err)
		}
		if _, _, err := lf.log.Proofs(lf.ctx, raw); err != nil {
			t.Fatalf("the cut unpin is not in the log after the integrity cycle: %v", err)
		}
		if st := lf.agentState(a.id); st.LogMark != "" {
			t.Fatalf("mark %q left after the cycle logged the history", st.LogMark)
		}
	})
	t.Run("fail/witnesses-down-then-retry", func(t *testing.T) {
		lf := newLogFx(t, nil)
		lf.enrolled()
		lf.ws.Fail(errors.New("connection refused"))
		id := lf.requestApril()
		if err, _ := lf.build(id); !errors.Is(err, hub.ErrPackFailed) || !errors.Is(err, tlog.ErrNotCosigned) {
			t.Fatalf("build: %v, want ErrPackFailed wrapping tlog.ErrNotCosigned", err)
		}
		if p := lf.stored(id); p.Status != hub.PackFailed || !strings.HasPrefix(p.Reason, "log: ") {
			t.Fatalf("pack %s (%q), want failed with a log: reason", p.Status, p.Reason)
		}
		if n := lf.objects.Count(); n != 0 {
			t.Fatalf("%d objects stored for a pack that is not logged", n)
		}
		lf.ws.Fail(nil)
		if lines := lf.checkProofs(lf.mustBuild(lf.requestApril())); len(lines) != 3 {
			t.Fatalf("lines %q", lines)
		}
	})
}

// A crash of the log at each of its writes during a pack's build fails the
// pack with a log: reason and stores nothing; the next build, over the same
// stores, completes the log and its pack is ready with valid proofs.
func TestPackLogCrashAtEachWrite(t *testing.T) {
	for n := 1; ; n++ {
		lf := newLogFx(t, nil)
		lf.enrolled()
		faulty := tlogtest.NewFaulty(lf.mem.Stores(), n)
		lf.sw.set(lf.newLog(t, faulty.Stores()))
		id := lf.requestApril()
		err, _ := lf.build(id)
		if !faulty.Crashed() {
			if err != nil {
				t.Fatal(err)
			}
			if n < 4 {
				t.Fatalf("a pack's build made only %d log writes", n-1)
			}
			t.Logf("a pack's build makes %d log writes: %v", faulty.Writes(), faulty.Log())
			return
		}
		t.Run(fmt.Sprintf("fail/crash-at-write-%d", n), func(t *testing.T) {
			if !errors.Is(err, hub.ErrPackFailed) || !errors.Is(err, tlogtest.ErrCrash) {
				t.Fatalf("build: %v", err)
			}
			if p := lf.stored(id); p.Status != hub.PackFailed || !strings.HasPrefix(p.Reason, "log: ") || lf.objects.Count() != 0 {
				t.Fatalf("pack %s (%q), %d objects", p.Status, p.Reason, lf.objects.Count())
			}
			lf.sw.set(lf.log)
			if lines := lf.checkProofs(lf.mustBuild(lf.requestApril())); len(lines) != 3 {
				t.Fatalf("lines %q", lines)
			}
		})
	}
}
