package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// indexes returns the ids of tenant's agents in the attention index, and in
// the live index with data before cutoff.
func indexes(t *testing.T, s hub.Stores, tenant string, cutoff time.Time) (attention, quiet []string) {
	t.Helper()
	ctx := t.Context()
	collect := func(into *[]string) func(hub.Agent) error {
		return func(a hub.Agent) error {
			if a.TenantID == tenant {
				*into = append(*into, a.AgentID)
			}
			return nil
		}
	}
	check(t, "AttentionAgents", s.Attention.AttentionAgents(ctx, collect(&attention)), nil)
	check(t, "QuietAgents", s.Attention.QuietAgents(ctx, cutoff, collect(&quiet)), nil)
	slices.Sort(attention)
	slices.Sort(quiet)
	return attention, quiet
}

// testAttention holds the integrity cycle's sparse indexes (SPEC 4.4) to
// the writes that move agents in and out of them: data puts an agent in the
// live index, unsigned data in the attention index too; going stale moves
// it from the first to the second; only an agent that is neither stale nor
// sending unsigned data since leaves attention.
func testAttention(t *testing.T, s hub.Stores) {
	const tenant = "t-attention"
	signed, unsigned, idle := newAgent(tenant, "ag_att_signed"), newAgent(tenant, "ag_att_unsigned"), newAgent(tenant, "ag_att_idle")
	for _, a := range []hub.Agent{signed, unsigned, idle} {
		createAgent(t, s, a)
	}
	signed.SigningPubKey = key(7)
	check(t, "PinSigningKey", s.Agents.PinSigningKey(t.Context(), signed.AgentID, signed.SigningPubKey, at(1)), nil)
	signed.SigningSetAt = at(1)
	signed.SigningKeys = []hub.SigningKey{{PublicKey: signed.SigningPubKey, PinnedAt: at(1)}}
	signed.LogMark = hub.LogMark(hub.KeyPin, at(1))
	p := hub.Pending{Seq: 1, SHA: "a", At: at(10)}
	check(t, "BeginBatch", s.Commits.BeginBatch(t.Context(), signed.AgentID, p, signed.SigningPubKey, "1.0.0", "1.0.0"), nil)
	check(t, "EndBatch", s.Commits.EndBatch(t.Context(), signed.AgentID, p), nil)
	signed.LastSeq, signed.LastBatchSHA, signed.AgentVersion, signed.MaxAgentVersion = 1, "a", "1.0.0", "1.0.0"
	signed.LastSeen, signed.LastSignedAt, signed.LiveAt = at(10), at(10), at(10)
	check(t, "MarkUnsigned", s.Commits.MarkUnsigned(t.Context(), unsigned.AgentID, at(20)), nil)
	unsigned.LastUnsignedAt, unsigned.LastSeen, unsigned.LiveAt = at(20), at(20), at(20)

	type want struct{ attention, quiet []string }
	wantIndexes := func(t *testing.T, cutoff time.Time, w want) {
		t.Helper()
		attention, quiet := indexes(t, s, tenant, cutoff)
		same(t, "AttentionAgents", attention, w.attention)
		same(t, "QuietAgents", quiet, w.quiet)
	}
	t.Run("ok/data puts an agent in the live index, unsigned data in attention", func(t *testing.T) {
		wantIndexes(t, at(21), want{[]string{unsigned.AgentID}, []string{signed.AgentID, unsigned.AgentID}})
	})
	t.Run("ok/quiet means data before the cutoff", func(t *testing.T) {
		wantIndexes(t, at(15), want{[]string{unsigned.AgentID}, []string{signed.AgentID}})
		wantIndexes(t, at(10), want{[]string{unsigned.AgentID}, nil})
	})
	t.Run("ok/active means data at or after since, the agent as stored", func(t *testing.T) {
		for since, w := range map[time.Time][]string{at(10): {signed.AgentID, unsigned.AgentID}, at(11): {unsigned.AgentID},
			at(20): {unsigned.AgentID}, at(21): nil} {
			var got []string
			check(t, "ActiveAgents", s.Attention.ActiveAgents(t.Context(), since, func(a hub.Agent) error {
				if a.TenantID == tenant {
					got = append(got, a.AgentID)
					if a.AgentID == signed.AgentID && (a.LastSeq != 1 || a.LastBatchSHA != "a" || !a.LastSignedAt.Equal(at(10))) {
						t.Errorf("ActiveAgents gave %+v, want last seq 1, sha a, signed at %s", a, at(10))
					}
				}
				return nil
			}), nil)
			slices.Sort(got)
			same(t, "ActiveAgents", got, w)
		}
	})

	steps := []struct {
		name  string
		write func(ctx context.Context) error
		want  error
		after want // the indexes with the cutoff at(100)
		apply func()
	}{
		{name: "fail/mark stale with another last-data time", want: hub.ErrConflict,
			write: func(ctx context.Context) error { return s.Attention.MarkStale(ctx, signed.AgentID, at(9), at(50)) },
			after: want{[]string{unsigned.AgentID}, []string{signed.AgentID, unsigned.AgentID}}},
		{name: "ok/mark stale moves it from live to attention",
			write: func(ctx context.Context) error { return s.Attention.MarkStale(ctx, signed.AgentID, at(10), at(50)) },
			after: want{[]string{signed.AgentID, unsigned.AgentID}, []string{unsigned.AgentID}},
			apply: func() { signed.StaleSince = at(50) }},
		{name: "fail/clear attention of a stale agent", want: hub.ErrConflict,
			write: func(ctx context.Context) error { return s.Attention.ClearAttention(ctx, signed.AgentID, time.Time{}) },
			after: want{[]string{signed.AgentID, unsigned.AgentID}, []string{unsigned.AgentID}}},
		{name: "fail/clear stale with another mark", want: hub.ErrConflict,
			write: func(ctx context.Context) error { return s.Attention.ClearStale(ctx, signed.AgentID, at(49)) },
			after: want{[]string{signed.AgentID, unsigned.AgentID}, []string{unsigned.AgentID}}},
		{name: "ok/clear stale",
			write: func(ctx context.Context) error { return s.Attention.ClearStale(ctx, signed.AgentID, at(50)) },
			after: want{[]string{signed.AgentID, unsigned.AgentID}, []string{unsigned.AgentID}},
			apply: func() { signed.StaleSince = time.Time{} }},
		{name: "fail/clear stale again", want: hub.ErrConflict,
			write: func(ctx context.Context) error { return s.Attention.ClearStale(ctx, signed.AgentID, at(50)) },
			after: want{[]string{signed.AgentID, unsigned.AgentID}, []string{unsigned.AgentID}}},
		{name: "ok/clear attention of an agent that sent no unsigned data",
			write: func(ctx context.Context) error { return s.Attention.ClearAttention(ctx, signed.AgentID, time.Time{}) },
			after: want{[]string{unsigned.AgentID}, []string{unsigned.AgentID}}},
		{name: "fail/clear attention after newer unsigned data", want: hub.ErrConflict,
			write: func(ctx context.Context) error { return s.Attention.ClearAttention(ctx, unsigned.AgentID, at(19)) },
			after: want{[]string{unsigned.AgentID}, []string{unsigned.AgentID}}},
		{name: "ok/clear attention as of the last unsigned data",
			write: func(ctx context.Context) error { return s.Attention.ClearAttention(ctx, unsigned.AgentID, at(20)) },
			after: want{nil, []string{unsigned.AgentID}}},
		{name: "ok/unsigned data again puts it back",
			write: func(ctx context.Context) error { return s.Commits.MarkUnsigned(ctx, unsigned.AgentID, at(30)) },
			after: want{[]string{unsigned.AgentID}, []string{unsigned.AgentID}},
			apply: func() { unsigned.LastUnsignedAt, unsigned.LastSeen, unsigned.LiveAt = at(30), at(30), at(30) }},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			check(t, st.name, st.write(t.Context()), st.want)
			if st.apply != nil {
				st.apply()
			}
			wantIndexes(t, at(100), st.after)
			for _, a := range []hub.Agent{signed, unsigned, idle} {
				wantAgent(t, s, a)
			}
		})
		if !ok {
			return
		}
	}
}
