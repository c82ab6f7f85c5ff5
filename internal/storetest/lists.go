package storetest

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// walk reads every page of a listing of tenant and returns the ids, checking
// the page size, the tenant of each item and that a page with a cursor is
// not empty. key gives an item's id and tenant.
func walk[T any](t *testing.T, op, tenant string, limit int, page func(cursor string) ([]T, string, error), key func(T) (string, string)) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 100 {
		items, next, err := page(cursor)
		check(t, op, err, nil)
		if len(items) > limit {
			t.Fatalf("%s(limit %d) returned %d items", op, limit, len(items))
		}
		for _, it := range items {
			id, tn := key(it)
			if tn != tenant {
				t.Fatalf("%s(%s) returned %s of tenant %s", op, tenant, id, tn)
			}
			out = append(out, id)
		}
		if next == "" {
			return out
		}
		if len(items) == 0 {
			t.Fatalf("%s(limit %d) returned an empty page with a cursor", op, limit)
		}
		cursor = next
	}
	t.Fatalf("%s(limit %d) did not end after 100 pages", op, limit)
	return nil
}

// listAgents walks every page of an agent listing and returns the ids.
func listAgents(t *testing.T, s hub.Stores, tenant string, st hub.AgentStatus, limit int) []string {
	t.Helper()
	return walk(t, "ListAgents", tenant, limit, func(cursor string) ([]hub.Agent, string, error) {
		p, err := s.Agents.ListAgents(t.Context(), tenant, st, cursor, limit)
		return p.Agents, p.NextCursor, err
	}, func(a hub.Agent) (string, string) { return a.AgentID, a.TenantID })
}

// listPacks walks every page of a pack listing and returns the ids.
func listPacks(t *testing.T, s hub.Stores, tenant string, limit int) []string {
	t.Helper()
	return walk(t, "ListPacks", tenant, limit, func(cursor string) ([]hub.Pack, string, error) {
		p, err := s.Packs.ListPacks(t.Context(), tenant, cursor, limit)
		return p.Packs, p.NextCursor, err
	}, func(p hub.Pack) (string, string) { return p.PackID, p.TenantID })
}

// badCursors are cursors no store issued.
var badCursors = map[string]string{
	"not base64url":         "!!",
	"base64 of nonsense":    base64.RawURLEncoding.EncodeToString([]byte("nonsense")),
	"a key of another kind": base64.RawURLEncoding.EncodeToString([]byte("v1:an_x.y.0")),
}

func testAgentList(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant, other = "t-alist", "t-alist-b"
	id := func(i int) string { return fmt.Sprintf("ag_alist%02d", i) }
	for i := 1; i <= 7; i++ {
		createAgent(t, s, newAgent(tenant, id(i)))
	}
	createAgent(t, s, newAgent(other, "ag_alist00"))
	createAgent(t, s, newAgent(other, "ag_alist99"))
	for _, i := range []int{2, 3, 5} {
		check(t, "PinSigningKey", s.Agents.PinSigningKey(ctx, id(i), key(byte(i)), at(1)), nil)
	}
	// Agent 4 goes quiet and is marked stale.
	check(t, "MarkUnsigned", s.Commits.MarkUnsigned(ctx, id(4), at(2)), nil)
	check(t, "MarkStale", s.Attention.MarkStale(ctx, id(4), at(2), at(3)), nil)
	// Agents 3 and 6 have open anomalies (6 two of them); 7's is closed.
	for _, e := range []anomaly.Event{event(tenant, id(3), anomaly.ReplayDetected, anomaly.High, 1),
		event(tenant, id(6), anomaly.SignatureInvalid, anomaly.Critical, 2), event(tenant, id(6), anomaly.VersionDowngrade, anomaly.High, 3),
		event(tenant, id(7), anomaly.ReplayDetected, anomaly.High, 4), event(other, "ag_alist99", anomaly.SignatureInvalid, anomaly.Critical, 5)} {
		_, err := s.Anomalies.RaiseAnomaly(ctx, e, 0)
		check(t, "RaiseAnomaly", err, nil)
	}
	check(t, "CloseAnomaly", s.Anomalies.CloseAnomaly(ctx, tenant, anomaly.ID(id(7), anomaly.ReplayDetected, 0), at(5), "test"), nil)

	all := []string{id(1), id(2), id(3), id(4), id(5), id(6), id(7)}
	cases := []struct {
		name   string
		status hub.AgentStatus
		want   []string
	}{
		{"ok/all", hub.AgentsAll, all},
		{"ok/pinned", hub.AgentsPinned, []string{id(2), id(3), id(5)}},
		{"ok/legacy", hub.AgentsLegacy, []string{id(1), id(4), id(6), id(7)}},
		{"ok/stale", hub.AgentsStale, []string{id(4)}},
		{"ok/attention: an open anomaly, counted once", hub.AgentsAttention, []string{id(3), id(6)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 3, 100} {
				got := listAgents(t, s, tenant, c.status, limit)
				if len(got) == 0 {
					got = nil
				}
				same(t, fmt.Sprintf("ListAgents(%q, limit %d)", c.status, limit), got, c.want)
			}
		})
	}
	t.Run("ok/another tenant sees its own only", func(t *testing.T) {
		same(t, "ListAgents(other)", listAgents(t, s, other, hub.AgentsAll, 1), []string{"ag_alist00", "ag_alist99"})
		same(t, "ListAgents(other, attention)", listAgents(t, s, other, hub.AgentsAttention, 1), []string{"ag_alist99"})
	})
	t.Run("ok/a tenant without agents", func(t *testing.T) {
		p, err := s.Agents.ListAgents(ctx, "t-alist-none", hub.AgentsAll, "", 10)
		check(t, "ListAgents(empty)", err, nil)
		if len(p.Agents) != 0 || p.NextCursor != "" {
			t.Fatalf("ListAgents(empty tenant) = %+v", p)
		}
	})
	for name, c := range badCursors {
		t.Run("fail/cursor "+name, func(t *testing.T) {
			_, err := s.Agents.ListAgents(ctx, tenant, hub.AgentsAll, c, 10)
			check(t, "ListAgents(bad cursor)", err, hub.ErrBadCursor)
		})
	}
}

func testPackList(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant, other = "t-plist", "t-plist-b"
	var want []string
	for i := 1; i <= 5; i++ {
		p := hub.Pack{TenantID: tenant, PackID: fmt.Sprintf("pk_plist%d", 6-i), Status: hub.PackPending,
			PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC),
			RequestedAt: t0.Add(time.Duration(i) * time.Millisecond)} // ids sort against time: the order is time's
		check(t, "CreatePack", s.Packs.CreatePack(ctx, p), nil)
		want = append([]string{p.PackID}, want...)
		if i == 2 {
			p.Status, p.GeneratedAt, p.FinishedAt, p.ManifestSHA256 = hub.PackReady, at(9), at(9), hash("m")
			check(t, "FinishPack", s.Packs.FinishPack(ctx, p), nil)
		}
	}
	check(t, "CreatePack(other)", s.Packs.CreatePack(ctx, hub.Pack{TenantID: other, PackID: "pk_plistz", Status: hub.PackPending,
		PeriodStart: t0, PeriodEnd: at(60), RequestedAt: at(99)}), nil)
	// A head item (chain and lease) must never show as a pack.
	_, err := s.Packs.AcquireBuild(ctx, tenant, "pk_plist4", at(100), at(1))
	check(t, "AcquireBuild", err, nil)

	t.Run("ok/newest first, every page size", func(t *testing.T) {
		for _, limit := range []int{1, 2, 4, 100} {
			same(t, fmt.Sprintf("ListPacks(limit %d)", limit), listPacks(t, s, tenant, limit), want)
		}
	})
	t.Run("ok/what the listing shows of a finished pack", func(t *testing.T) {
		p, err := s.Packs.ListPacks(ctx, tenant, "", 100)
		check(t, "ListPacks", err, nil)
		got := p.Packs[3] // pk_plist4, finished
		if got.PackID != "pk_plist4" || got.Status != hub.PackReady || got.ManifestSHA256 != hash("m") ||
			!got.GeneratedAt.Equal(at(9)) || !got.RequestedAt.Equal(t0.Add(2*time.Millisecond)) || !got.PeriodEnd.Equal(time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)) {
			t.Fatalf("ListPacks shows %+v", got)
		}
	})
	t.Run("ok/another tenant sees its own only", func(t *testing.T) {
		same(t, "ListPacks(other)", listPacks(t, s, other, 1), []string{"pk_plistz"})
	})
	for name, c := range badCursors {
		t.Run("fail/cursor "+name, func(t *testing.T) {
			_, err := s.Packs.ListPacks(ctx, tenant, c, 10)
			check(t, "ListPacks(bad cursor)", err, hub.ErrBadCursor)
		})
	}
}
