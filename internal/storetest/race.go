package storetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// race runs n writers at once and returns the index of the only one that won.
// Every other writer must lose with ErrConflict.
func race(t *testing.T, n int, write func(i int) error) int {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = write(i)
		})
	}
	close(start)
	wg.Wait()
	winner, conflicts := -1, 0
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case errors.Is(err, hub.ErrConflict):
			conflicts++
		default:
			t.Errorf("writer %d: %v, want success or %v", i, err, hub.ErrConflict)
		}
	}
	if winner < 0 || conflicts != n-1 {
		t.Fatalf("%d writers: winner %d, %d conflicts; want exactly one winner and %d conflicts", n, winner, conflicts, n-1)
	}
	return winner
}

func testRace(t *testing.T, s hub.Stores) {
	t.Run("ok/50 signing keys, one pin", func(t *testing.T) {
		a := newAgent("t-race", "ag_race_pin")
		createAgent(t, s, a)
		w := race(t, 50, func(i int) error { return s.Agents.PinSigningKey(t.Context(), a.AgentID, key(byte(i)), at(i)) })
		a.SigningPubKey, a.SigningSetAt = key(byte(w)), at(w)
		a.SigningKeys = []hub.SigningKey{{PublicKey: key(byte(w)), PinnedAt: at(w)}} // the winner's alone
		a.LogMark = hub.LogMark(hub.KeyPin, at(w))
		wantAgent(t, s, a)
	})
	t.Run("ok/20 batches on one seq, one begins", func(t *testing.T) {
		a := newAgent("t-race", "ag_race_seq")
		createAgent(t, s, a)
		k := key(9)
		check(t, "PinSigningKey", s.Agents.PinSigningKey(t.Context(), a.AgentID, k, at(1)), nil)
		pending := func(i int) hub.Pending {
			return hub.Pending{Seq: int64(100 + i), SHA: hash("batch-" + strconv.Itoa(i)), PrevSeq: 0, At: at(i)}
		}
		w := race(t, 20, func(i int) error {
			return s.Commits.BeginBatch(t.Context(), a.AgentID, pending(i), k, "1.0."+strconv.Itoa(i), "1.0."+strconv.Itoa(i))
		})
		p := pending(w)
		a.SigningPubKey, a.SigningSetAt = k, at(1)
		a.SigningKeys = []hub.SigningKey{{PublicKey: k, PinnedAt: at(1)}}
		a.LogMark = hub.LogMark(hub.KeyPin, at(1))
		a.LastSeq, a.LastBatchSHA, a.Pending = p.Seq, p.SHA, &p
		a.AgentVersion, a.MaxAgentVersion, a.LastSeen, a.LastSignedAt, a.LiveAt = "1.0."+strconv.Itoa(w), "1.0."+strconv.Itoa(w), p.At, p.At, p.At
		wantAgent(t, s, a)
	})
	t.Run("ok/10 creates of one agent, one wins", func(t *testing.T) {
		w := race(t, 10, func(i int) error {
			a := newAgent("t-race", "ag_race_create")
			a.TokenHash = hash(strconv.Itoa(i))
			return s.Agents.CreateAgent(t.Context(), a)
		})
		a := newAgent("t-race", "ag_race_create")
		a.TokenHash = hash(strconv.Itoa(w))
		wantAgent(t, s, a)
	})
	t.Run("ok/20 raises fold into one anomaly", func(t *testing.T) {
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Anomalies.RaiseAnomaly(t.Context(), event("t-race", "ag_race_raise", anomaly.ReplayDetected, anomaly.High, 5), 0)
			})
		}
		wg.Wait()
		for i, err := range errs {
			check(t, "RaiseAnomaly #"+strconv.Itoa(i), err, nil)
		}
		got := listAll(t, s, "t-race", anomaly.Filter{AgentID: "ag_race_raise"}, 100)
		want := anomaly.New(event("t-race", "ag_race_raise", anomaly.ReplayDetected, anomaly.High, 5), 0)
		want.Count = n
		if len(got) != 1 {
			t.Fatalf("ListAnomalies shows %d anomalies, want 1", len(got))
		}
		same(t, "the anomaly", normAnomaly(got[0]), normAnomaly(want))
	})
}
