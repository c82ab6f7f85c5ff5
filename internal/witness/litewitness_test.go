package witness_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/witness"
)

// logKey is the log key every test here uses, and vkey its verifier key.
var (
	logKey  = tlogtest.NewKey(1)
	vkey, _ = tlog.VerifierKey(tlogtest.Origin, logKey.Priv.Public().(ed25519.PublicKey))
)

// witnesses starts n litewitnesses that know the log.
func witnesses(t *testing.T, n int) []*emu.Litewitness {
	t.Helper()
	out := make([]*emu.Litewitness, n)
	for i := range out {
		out[i] = emutest.LitewitnessForTest(t, fmt.Sprintf("w%d.monsys.test", i+1), tlogtest.Origin, vkey)
	}
	return out
}

// set is a fresh witness.Set over ws, as a new Lambda would make it.
func set(t testing.TB, quorum int, ws ...*emu.Litewitness) *witness.Set {
	t.Helper()
	var items []string
	for _, w := range ws {
		items = append(items, w.VKey()+" "+w.URL())
	}
	list, q, err := witness.Parse(strings.Join(items, ","), fmt.Sprint(quorum))
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.New(list, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newLog(t testing.TB, st tlog.Stores, c tlog.Cosigner) *tlog.Log {
	t.Helper()
	l, err := tlog.New(tlog.Config{Origin: tlogtest.Origin}, st, logKey, c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// policy verifies a checkpoint as an auditor would: the log key and a
// quorum of ws.
func policy(t testing.TB, quorum int, ws ...*emu.Litewitness) torchwood.Policy {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var wp []torchwood.Policy
	for _, w := range ws {
		cv, err := torchwood.NewCosignatureVerifier(w.VKey())
		if err != nil {
			t.Fatal(err)
		}
		wp = append(wp, torchwood.SingleVerifierPolicy(cv))
	}
	return torchwood.ThresholdPolicy(3, torchwood.OriginPolicy(tlogtest.Origin), torchwood.SingleVerifierPolicy(v), torchwood.ThresholdPolicy(quorum, wp...))
}

func cosigned(t testing.TB, m *tlogtest.Memory, p torchwood.Policy, size int64) {
	t.Helper()
	cp, _, err := m.ReadCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := torchwood.VerifyCheckpoint(cp, p)
	if err != nil {
		t.Fatalf("stored checkpoint does not satisfy the policy: %v\n%s", err, cp)
	}
	if c.N != size {
		t.Fatalf("cosigned checkpoint of size %d, want %d", c.N, size)
	}
}

// TestGrowingLog: two real witnesses cosign every checkpoint of a growing
// log, each time with a consistency proof from the size they saw last,
// whether the client remembers it (one Set) or learns it from a 409 (a new
// Set per append, as cold Lambdas).
func TestGrowingLog(t *testing.T) {
	ws := witnesses(t, 2)
	m := tlogtest.NewMemory()
	warm := newLog(t, m.Stores(), set(t, 2, ws...))
	size := 0
	for round, n := range []int{1, 3, 300, 1, 2} {
		l := warm
		if round%2 == 1 {
			l = newLog(t, m.Stores(), set(t, 2, ws...))
		}
		if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", size, n)...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		size += n
		cosigned(t, m, policy(t, 2, ws...), int64(size))
	}
	// Cosigning a checkpoint that has its quorum asks nobody.
	cp, _, _ := m.ReadCheckpoint(t.Context())
	again, err := warm.Cosign(t.Context())
	if err != nil || string(again) != string(cp) {
		t.Fatalf("Cosign of a cosigned checkpoint = %v, changed: %v", err, string(again) != string(cp))
	}
	tlogtest.VerifyLog(t, m.Stores(), vkey, tlogtest.TestEntries("acme", 0, size))
}

// TestRewoundLog: the hub's state is restored from a backup and the log
// goes on with a different history. The witnesses remember what they
// cosigned: they refuse, and the error names each of them.
func TestRewoundLog(t *testing.T) {
	ws := witnesses(t, 2)
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), set(t, 2, ws...))
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 0, 5)...); err != nil {
		t.Fatal(err)
	}
	backup := m.Clone()
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 5, 5)...); err != nil {
		t.Fatal(err)
	}
	cosigned(t, m, policy(t, 2, ws...), 10)

	for _, tc := range []struct {
		name string
		add  int
		want error
	}{
		// Size 8 < 10: the witnesses cosigned a larger tree.
		{"fail/rewound-smaller", 3, witness.ErrAhead},
		// Size 12 > 10, but entries 5..9 differ: the consistency proof fails.
		{"fail/rewound-larger", 7, witness.ErrFork},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restored := backup.Clone()
			rl := newLog(t, restored.Stores(), set(t, 2, ws...))
			_, err := rl.Append(t.Context(), tlogtest.TestEntries("other", 0, tc.add)...)
			if !errors.Is(err, tc.want) || !errors.Is(err, tlog.ErrNotCosigned) {
				t.Fatalf("Append on a rewound log = %v, want %v and ErrNotCosigned", err, tc.want)
			}
			for _, w := range ws {
				if !strings.Contains(err.Error(), w.Name()) {
					t.Errorf("the error does not name witness %s: %v", w.Name(), err)
				}
			}
			// The rewound checkpoint was signed by the log but has no cosignature.
			cp, _, _ := restored.ReadCheckpoint(t.Context())
			if strings.Contains(string(cp), "— w1.monsys.test") && strings.Contains(string(cp), fmt.Sprint(5+tc.add)) {
				t.Fatalf("a witness cosigned the rewound log:\n%s", cp)
			}
		})
	}
	// The real log goes on, cosigned as before.
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 10, 1)...); err != nil {
		t.Fatal(err)
	}
	cosigned(t, m, policy(t, 2, ws...), 11)
}

// TestQuorum: with one of two witnesses down, a quorum of one is met and a
// quorum of two is not; the error names the witness that failed.
func TestQuorum(t *testing.T) {
	ws := witnesses(t, 2)
	m := tlogtest.NewMemory()
	l := newLog(t, m.Stores(), set(t, 2, ws...))
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 0, 2)...); err != nil {
		t.Fatal(err)
	}
	if err := ws[1].Stop(); err != nil {
		t.Fatal(err)
	}
	one := newLog(t, m.Stores(), set(t, 1, ws...))
	if _, err := one.Append(t.Context(), tlogtest.TestEntries("acme", 2, 1)...); err != nil {
		t.Fatalf("quorum 1 with one witness up: %v", err)
	}
	cosigned(t, m, policy(t, 1, ws...), 3)
	_, err := l.Append(t.Context(), tlogtest.TestEntries("acme", 3, 1)...)
	var qe *witness.QuorumError
	if !errors.As(err, &qe) || qe.Have != 1 || !errors.Is(err, witness.ErrUnavailable) || !strings.Contains(err.Error(), "w2.monsys.test") {
		t.Fatalf("quorum 2 with one witness down = %v", err)
	}
}

// TestUnknownLog: a witness that was not told about the log (404) or that
// trusts another log key (403) refuses, and says so.
func TestUnknownLog(t *testing.T) {
	t.Run("fail/unknown-origin", func(t *testing.T) {
		w := emutest.LitewitnessForTest(t, "w.monsys.test", "other.test/log", vkey)
		m := tlogtest.NewMemory()
		_, err := newLog(t, m.Stores(), set(t, 1, w)).Append(t.Context(), tlogtest.TestEntries("acme", 0, 1)...)
		if !errors.Is(err, witness.ErrRefused) || !strings.Contains(err.Error(), "origin") {
			t.Fatalf("Append = %v, want a refusal for the origin", err)
		}
	})
	t.Run("fail/other-log-key", func(t *testing.T) {
		other, _ := tlog.VerifierKey(tlogtest.Origin, tlogtest.NewKey(2).Priv.Public().(ed25519.PublicKey))
		w := emutest.LitewitnessForTest(t, "w.monsys.test", tlogtest.Origin, other)
		m := tlogtest.NewMemory()
		_, err := newLog(t, m.Stores(), set(t, 1, w)).Append(t.Context(), tlogtest.TestEntries("acme", 0, 1)...)
		var we *witness.Error
		if !errors.Is(err, witness.ErrRefused) || !errors.As(err, &we) || we.Status != 403 {
			t.Fatalf("Append = %v, want a 403 refusal", err)
		}
	})
}

// TestConcurrentAppends: several writers (each its own Log and witness
// client, as concurrent Lambdas) append at once; the result is one log,
// every entry in it once, its checkpoint cosigned by both witnesses.
func TestConcurrentAppends(t *testing.T) {
	ws := witnesses(t, 2)
	m := tlogtest.NewMemory()
	const writers, each = 4, 6
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLog(t, m.Stores(), set(t, 2, ws...))
			for i := range each {
				_, err := l.Append(t.Context(), tlogtest.TestEntries(fmt.Sprint("w", w), i, 1)...)
				// A writer may lose every race of its round; what it
				// submitted is integrated by the others or by the next run.
				if err != nil && !errors.Is(err, tlog.ErrConflict) && !errors.Is(err, witness.ErrAhead) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	final := newLog(t, m.Stores(), set(t, 2, ws...))
	if _, err := final.Integrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := final.Cosign(t.Context()); err != nil {
		t.Fatal(err)
	}
	cosigned(t, m, policy(t, 2, ws...), writers*each)
	var all [][]byte
	for w := range writers {
		for _, e := range tlogtest.TestEntries(fmt.Sprint("w", w), 0, each) {
			b, _ := e.Bytes()
			all = append(all, b)
		}
	}
	if _, _, err := final.Proofs(t.Context(), all); err != nil {
		t.Fatalf("a proof of every entry: %v", err)
	}
}

// TestCrashThenCosign: an append that crashed before any one of its writes
// is completed and cosigned by the next run, and the witness accepts it.
func TestCrashThenCosign(t *testing.T) {
	base := tlogtest.TestEntries("acme", 0, 5)
	more := tlogtest.TestEntries("acme", 5, 3)
	build := func(t *testing.T) (*tlogtest.Memory, []*emu.Litewitness) {
		ws := witnesses(t, 1)
		m := tlogtest.NewMemory()
		if _, err := newLog(t, m.Stores(), set(t, 1, ws...)).Append(t.Context(), base...); err != nil {
			t.Fatal(err)
		}
		return m, ws
	}
	m, ws := build(t)
	count := tlogtest.NewFaulty(m.Stores(), 0)
	if _, err := newLog(t, count.Stores(), set(t, 1, ws...)).Append(t.Context(), more...); err != nil {
		t.Fatal(err)
	}
	t.Logf("an append writes: %v", count.Log())
	for k := 1; k <= count.Writes(); k++ {
		t.Run(fmt.Sprintf("fail/crash-before-write-%d", k), func(t *testing.T) {
			m, ws := build(t)
			f := tlogtest.NewFaulty(m.Stores(), k)
			if _, err := newLog(t, f.Stores(), set(t, 1, ws...)).Append(t.Context(), more...); !errors.Is(err, tlogtest.ErrCrash) {
				t.Fatalf("Append = %v, want the crash", err)
			}
			next := newLog(t, m.Stores(), set(t, 1, ws...))
			if _, err := next.Integrate(t.Context()); err != nil {
				t.Fatalf("the next run: %v", err)
			}
			if _, err := next.Cosign(t.Context()); err != nil {
				t.Fatalf("the next run's cosigning: %v", err)
			}
			cosigned(t, m, policy(t, 1, ws...), 8)
			tlogtest.VerifyLog(t, m.Stores(), vkey, append(append([]tlog.Entry(nil), base...), more...))
		})
	}
}
