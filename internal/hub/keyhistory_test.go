package hub_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// TestKeyHistory: every pin and unpin of an agent's signing key is in its
// history, written by the same write as the pin (SPEC 9, "Key history").
func TestKeyHistory(t *testing.T) {
	f := newFx(t)
	a := f.enrolled()
	k1 := a.key.Public().(ed25519.PublicKey)
	f.clock.Advance(time.Hour)
	if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	a.key = newSigningKey(t)
	if _, err := f.register(a.token, a.cert, regBody("1.4.2", pubB64(a.key), "")); err != nil {
		t.Fatal(err)
	}
	// A rotation of an agent with no pin changes nothing.
	f.clock.Advance(time.Minute)
	if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, a.id); err != nil {
		t.Fatal(err)
	}
	want := []hub.SigningKey{
		{PublicKey: k1, PinnedAt: t0, UnpinnedAt: t0.Add(time.Hour)},
		{PublicKey: a.key.Public().(ed25519.PublicKey), PinnedAt: t0.Add(time.Hour + time.Minute), UnpinnedAt: t0.Add(time.Hour + 2*time.Minute)},
	}
	wantHistory(t, hub.KeyHistory(f.agentState(a.id)), want)
}

// TestKeyHistoryFallback: an agent pinned before histories were kept has
// its pin as its history when read, and its next unpin writes it down.
func TestKeyHistoryFallback(t *testing.T) {
	f := newFx(t)
	key := newSigningKey(t).Public().(ed25519.PublicKey)
	old := hub.Agent{TenantID: tenant, AgentID: "ag_old", TokenHash: "x", SigningPubKey: key, SigningSetAt: t0.Add(-time.Hour), CreatedAt: t0.Add(-2 * time.Hour)}
	if err := f.store.CreateAgent(f.ctx, old); err != nil {
		t.Fatal(err)
	}
	first := hub.SigningKey{PublicKey: key, PinnedAt: t0.Add(-time.Hour)}
	wantHistory(t, hub.KeyHistory(f.agentState("ag_old")), []hub.SigningKey{first})
	if _, err := f.core.Agents.RotateSigningKey(f.ctx, f.admin, "ag_old"); err != nil {
		t.Fatal(err)
	}
	first.UnpinnedAt = t0
	st := f.agentState("ag_old")
	wantHistory(t, st.SigningKeys, []hub.SigningKey{first})
	if len(st.SigningPubKey) != 0 {
		t.Fatal("pin left after the unpin")
	}
}

// TestKeyChangeAt: the instant of a change is written as the pack writes
// pinned_at and unpinned_at, nanoseconds and all.
func TestKeyChangeAt(t *testing.T) {
	at := time.Date(2026, 4, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, tt := range []struct {
		name string
		c    hub.KeyChange
		want string
	}{
		{"ok/pin", hub.KeyChange{Type: hub.KeyPin, Entry: hub.SigningKey{PinnedAt: at}}, "2026-04-01T09:00:00.123456789Z"},
		{"ok/unpin", hub.KeyChange{Type: hub.KeyUnpin, Entry: hub.SigningKey{PinnedAt: at, UnpinnedAt: at.Add(-123456789)}}, "2026-04-01T09:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.At(); got != tt.want {
				t.Fatalf("At() = %q, want %q", got, tt.want)
			}
		})
	}
}

func wantHistory(t *testing.T, got, want []hub.SigningKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("history %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.PublicKey, w.PublicKey) || !g.PinnedAt.Equal(w.PinnedAt) || !g.UnpinnedAt.Equal(w.UnpinnedAt) {
			t.Fatalf("history entry %d = %+v, want %+v", i, g, w)
		}
	}
}
