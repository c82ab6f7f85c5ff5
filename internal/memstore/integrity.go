package memstore

import (
	"context"
	"sort"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

var _ hub.IntegrityStore = (*Store)(nil)

// indexed returns the agents of a sparse index that pass keep.
func (s *Store) indexed(set map[string]bool, keep func(hub.Agent) bool) []hub.Agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hub.Agent
	for id := range set {
		if a, ok := s.agents[id]; ok && keep(a) {
			out = append(out, clone(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

func each(list []hub.Agent, fn func(hub.Agent) error) error {
	for _, a := range list {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// AttentionAgents implements hub.IntegrityStore.
func (s *Store) AttentionAgents(_ context.Context, fn func(hub.Agent) error) error {
	return each(s.indexed(s.attn, func(hub.Agent) bool { return true }), fn)
}

// QuietAgents implements hub.IntegrityStore.
func (s *Store) QuietAgents(_ context.Context, cutoff time.Time, fn func(hub.Agent) error) error {
	return each(s.indexed(s.live, func(a hub.Agent) bool { return a.LiveAt.Before(cutoff) }), fn)
}

// MarkStale implements hub.IntegrityStore.
func (s *Store) MarkStale(_ context.Context, id string, liveAt, at time.Time) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !a.LiveAt.Equal(liveAt) {
			return false
		}
		a.StaleSince = at
		delete(s.live, id)
		s.attn[id] = true
		return true
	})
}

// ClearStale implements hub.IntegrityStore.
func (s *Store) ClearStale(_ context.Context, id string, since time.Time) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !a.StaleSince.Equal(since) || a.StaleSince.IsZero() {
			return false
		}
		a.StaleSince = time.Time{}
		return true
	})
}

// ClearAttention implements hub.IntegrityStore.
func (s *Store) ClearAttention(_ context.Context, id string, unsignedAt time.Time) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !a.StaleSince.IsZero() || !a.LastUnsignedAt.Equal(unsignedAt) {
			return false
		}
		delete(s.attn, id)
		return true
	})
}

// RefreshAnomaly implements hub.IntegrityStore.
func (s *Store) RefreshAnomaly(_ context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := e.TenantID + "|" + anomaly.ID(e.AgentID, e.Kind, gen)
	a, ok := s.anomalies[k]
	switch {
	case !ok:
		a = anomaly.New(e, gen)
	case a.Status == anomaly.Closed:
		return a, false, hub.ErrClosed
	case a.LastSeen.After(e.At.Add(-every)):
		return a, false, nil
	default:
		a = a.Repeat(e)
	}
	s.anomalies[k] = a
	return a, true, nil
}
