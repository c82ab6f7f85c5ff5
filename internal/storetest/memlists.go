package storetest

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// The listings' cursors name the last item returned, as the DynamoDB
// adapter's do; anything else is hub.ErrBadCursor.
const memCursor = "mem1:"

func encodeCursor(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(memCursor + last))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	after, ok := strings.CutPrefix(string(b), memCursor)
	if err != nil || !ok || after == "" {
		return "", hub.ErrBadCursor
	}
	return after, nil
}

// ListAgents implements hub.AgentLister.
func (s *Memory) ListAgents(_ context.Context, tenant string, status hub.AgentStatus, cursor string, limit int) (hub.AgentPage, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return hub.AgentPage{}, err
	}
	s.mu.Lock()
	open := map[string]bool{}
	for k, a := range s.anomalies {
		if strings.HasPrefix(k, tenant+"|") && a.Status == anomaly.Open {
			open[a.AgentID] = true
		}
	}
	var all []hub.Agent
	for id, a := range s.agents {
		if a.TenantID == tenant && id > after && status.Matches(a, open[id]) {
			all = append(all, clone(a))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].AgentID < all[j].AgentID })
	p := hub.AgentPage{Agents: all}
	if len(all) > limit {
		p.Agents = all[:limit]
		p.NextCursor = encodeCursor(all[limit-1].AgentID)
	}
	return p, nil
}

// packOrder is the order of a pack listing, newest request first, as the
// DynamoDB adapter's index sorts it.
func packOrder(p hub.Pack) string {
	return p.RequestedAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + p.PackID
}

// ListPacks implements hub.PackLister.
func (s *Memory) ListPacks(_ context.Context, tenant, cursor string, limit int) (hub.PackPage, error) {
	before, err := decodeCursor(cursor)
	if err != nil {
		return hub.PackPage{}, err
	}
	s.mu.Lock()
	var all []hub.Pack
	for k, p := range s.packs {
		if strings.HasPrefix(k, tenant+"|") && (before == "" || packOrder(p) < before) {
			all = append(all, clonePack(p))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return packOrder(all[i]) > packOrder(all[j]) })
	p := hub.PackPage{Packs: all}
	if len(all) > limit {
		p.Packs = all[:limit]
		p.NextCursor = encodeCursor(packOrder(all[limit-1]))
	}
	return p, nil
}
