package storetest

import (
	"context"
	"sort"
	"time"

	"github.com/monsys/hub/internal/hub"
)

var (
	_ hub.AgentStore     = (*Memory)(nil)
	_ hub.CommitStore    = (*Memory)(nil)
	_ hub.AttentionStore = (*Memory)(nil)
	_ hub.BatchStore     = (*Memory)(nil)
	_ hub.AnomalyStore   = (*Memory)(nil)
)

// indexMarks say which sparse index an agent is in, as the DynamoDB
// adapter's live_shard and attn attributes do.
type indexMarks struct {
	live bool // sends data: in the live index, by LiveAt
	attn bool // needs the integrity cycle's attention
}

// agentsWhere calls fn for each agent whose marks and record pass keep, by
// agent id, outside the lock.
func (s *Memory) agentsWhere(keep func(hub.Agent, indexMarks) bool, fn func(hub.Agent) error) error {
	s.mu.Lock()
	var out []hub.Agent
	for id, a := range s.agents {
		if keep(a, s.index[id]) {
			out = append(out, clone(a))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	for _, a := range out {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// AttentionAgents implements hub.AttentionIndex.
func (s *Memory) AttentionAgents(_ context.Context, fn func(hub.Agent) error) error {
	return s.agentsWhere(func(_ hub.Agent, m indexMarks) bool { return m.attn }, fn)
}

// LogPendingAgents implements hub.LogPendingIndex.
func (s *Memory) LogPendingAgents(_ context.Context, fn func(hub.Agent) error) error {
	return s.agentsWhere(func(a hub.Agent, _ indexMarks) bool { return a.LogMark != "" }, fn)
}

// QuietAgents implements hub.AttentionIndex.
func (s *Memory) QuietAgents(_ context.Context, cutoff time.Time, fn func(hub.Agent) error) error {
	return s.agentsWhere(func(a hub.Agent, m indexMarks) bool { return m.live && a.LiveAt.Before(cutoff) }, fn)
}

// ActiveAgents implements hub.ActiveIndex.
func (s *Memory) ActiveAgents(_ context.Context, since time.Time, fn func(hub.Agent) error) error {
	return s.agentsWhere(func(a hub.Agent, m indexMarks) bool { return m.live && !a.LiveAt.Before(since) }, fn)
}

// MarkStale implements hub.StaleMarks.
func (s *Memory) MarkStale(_ context.Context, id string, liveAt, at time.Time) error {
	return s.updateMarked(id, func(a *hub.Agent, m *indexMarks) bool {
		if !a.LiveAt.Equal(liveAt) {
			return false
		}
		a.StaleSince, m.attn, m.live = at, true, false
		return true
	})
}

// ClearStale implements hub.StaleMarks.
func (s *Memory) ClearStale(_ context.Context, id string, since time.Time) error {
	return s.update(id, func(a *hub.Agent) bool {
		if a.StaleSince.IsZero() || !a.StaleSince.Equal(since) {
			return false
		}
		a.StaleSince = time.Time{}
		return true
	})
}

// ClearAttention implements hub.StaleMarks.
func (s *Memory) ClearAttention(_ context.Context, id string, unsignedAt time.Time) error {
	return s.updateMarked(id, func(a *hub.Agent, m *indexMarks) bool {
		if !a.StaleSince.IsZero() || !a.LastUnsignedAt.Equal(unsignedAt) {
			return false
		}
		m.attn = false
		return true
	})
}
