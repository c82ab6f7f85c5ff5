package storetest

import (
	"maps"
	"testing"

	"github.com/monsys/hub/internal/hub"
)

// testLogPending holds the sparse log-pending index to the writes that move
// agents in and out of it: a pin or unpin puts the agent in, with the
// change's mark; only clearing that mark takes it out; nothing else (data,
// the integrity cycle's marks) touches it. Read through the attention
// store, as the integrity cycle does, with each agent's item as it is now.
func testLogPending(t *testing.T, s hub.Stores) {
	const tenant = "t-logpending"
	pinned, unpinned, idle := newAgent(tenant, "ag_lp_pinned"), newAgent(tenant, "ag_lp_unpinned"), newAgent(tenant, "ag_lp_idle")
	for _, a := range []hub.Agent{pinned, unpinned, idle} {
		createAgent(t, s, a)
	}
	pending := func(t *testing.T) map[string]string {
		t.Helper()
		got := map[string]string{}
		check(t, "LogPendingAgents", s.Attention.LogPendingAgents(t.Context(), func(a hub.Agent) error {
			if a.TenantID == tenant {
				got[a.AgentID] = a.LogMark
			}
			return nil
		}), nil)
		return got
	}
	want := func(t *testing.T, w map[string]string) {
		t.Helper()
		if got := pending(t); !maps.Equal(got, w) {
			t.Fatalf("LogPendingAgents = %v, want %v", got, w)
		}
	}
	ctx := t.Context()
	t.Run("ok/no change, no agent", func(t *testing.T) { want(t, map[string]string{}) })
	check(t, "PinSigningKey", s.Agents.PinSigningKey(ctx, pinned.AgentID, key(1), at(1)), nil)
	check(t, "PinSigningKey", s.Agents.PinSigningKey(ctx, unpinned.AgentID, key(2), at(2)), nil)
	pinMark, pin2 := hub.LogMark(hub.KeyPin, at(1)), hub.LogMark(hub.KeyPin, at(2))
	t.Run("ok/pins put the agents in with their marks", func(t *testing.T) {
		want(t, map[string]string{pinned.AgentID: pinMark, unpinned.AgentID: pin2})
	})
	p := hub.Pending{Seq: 1, SHA: "a", At: at(3)}
	check(t, "BeginBatch", s.Commits.BeginBatch(ctx, pinned.AgentID, p, key(1), "1.0.0", "1.0.0"), nil)
	check(t, "EndBatch", s.Commits.EndBatch(ctx, pinned.AgentID, p), nil)
	check(t, "ClearLogMark", s.Attention.ClearLogMark(ctx, unpinned.AgentID, pin2), nil)
	t.Run("ok/data leaves the mark, clearing it takes the agent out", func(t *testing.T) {
		want(t, map[string]string{pinned.AgentID: pinMark})
	})
	check(t, "UnpinSigningKey", s.Agents.UnpinSigningKey(ctx, unpinned.AgentID,
		[]hub.SigningKey{{PublicKey: key(2), PinnedAt: at(2), UnpinnedAt: at(4)}}), nil)
	unpinMark := hub.LogMark(hub.KeyUnpin, at(4))
	t.Run("fail/the pin's mark does not clear the unpin's", func(t *testing.T) {
		check(t, "ClearLogMark", s.Attention.ClearLogMark(ctx, unpinned.AgentID, pin2), hub.ErrConflict)
		want(t, map[string]string{pinned.AgentID: pinMark, unpinned.AgentID: unpinMark})
	})
	t.Run("fail/clear on an agent that does not exist", func(t *testing.T) {
		check(t, "ClearLogMark", s.Attention.ClearLogMark(ctx, "ag_lp_none", pinMark), hub.ErrConflict)
	})
	t.Run("ok/clear both", func(t *testing.T) {
		check(t, "ClearLogMark", s.Attention.ClearLogMark(ctx, unpinned.AgentID, unpinMark), nil)
		check(t, "ClearLogMark", s.Attention.ClearLogMark(ctx, pinned.AgentID, pinMark), nil)
		want(t, map[string]string{})
	})
}
