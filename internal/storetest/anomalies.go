package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

func event(tenant, agent string, k anomaly.Kind, sev anomaly.Severity, n int) anomaly.Event {
	return anomaly.Event{TenantID: tenant, AgentID: agent, Kind: k, Severity: sev, Detail: "occurrence " + strconv.Itoa(n), At: at(n)}
}

// listed returns the anomaly id of tenant as ListAnomalies shows it.
func listed(t *testing.T, s hub.Stores, tenant, agentID, id string) anomaly.Anomaly {
	t.Helper()
	for _, a := range listAll(t, s, tenant, anomaly.Filter{AgentID: agentID}, 100) {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("ListAnomalies(%s, agent %s) does not show %s", tenant, agentID, id)
	return anomaly.Anomaly{}
}

// listAll walks every page of a listing.
func listAll(t *testing.T, s hub.Stores, tenant string, f anomaly.Filter, limit int) []anomaly.Anomaly {
	t.Helper()
	var out []anomaly.Anomaly
	cursor := ""
	for range 100 {
		p, err := s.Anomalies.ListAnomalies(t.Context(), tenant, f, cursor, limit)
		check(t, "ListAnomalies", err, nil)
		if len(p.Anomalies) > limit {
			t.Fatalf("ListAnomalies(limit %d) returned %d anomalies", limit, len(p.Anomalies))
		}
		out = append(out, p.Anomalies...)
		if p.NextCursor == "" {
			return out
		}
		if len(p.Anomalies) == 0 {
			t.Fatalf("ListAnomalies(limit %d) returned an empty page with a cursor", limit)
		}
		cursor = p.NextCursor
	}
	t.Fatalf("ListAnomalies(limit %d) did not end after 100 pages", limit)
	return nil
}

func ids(as []anomaly.Anomaly) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// raiseStep is one raise of generation 0 and what it does to the anomaly.
type raiseStep struct {
	name  string
	e     anomaly.Event
	apply func(a *anomaly.Anomaly)
}

// raiseSteps raises each step's event in turn: the anomaly, as the raise
// returns it and as listed, must be want with the step applied. It reports
// whether every step held.
func raiseSteps(t *testing.T, s hub.Stores, tenant, agent string, want *anomaly.Anomaly, steps []raiseStep) bool {
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			got, err := s.Anomalies.RaiseAnomaly(t.Context(), st.e, 0)
			check(t, "RaiseAnomaly", err, nil)
			st.apply(want)
			same(t, "RaiseAnomaly", normAnomaly(got), normAnomaly(*want))
			same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(*want))
		})
		if !ok {
			return false
		}
	}
	return true
}

func testRaise(t *testing.T, s hub.Stores) {
	const tenant, agent = "t-raise", "ag_raise"
	k := anomaly.ReplayDetected
	want := anomaly.New(event(tenant, agent, k, anomaly.High, 1), 0)
	steps := []raiseStep{
		{"ok/first raise opens", event(tenant, agent, k, anomaly.High, 1), func(*anomaly.Anomaly) {}},
		{"ok/repeat counts and moves last_seen", event(tenant, agent, k, anomaly.High, 2), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail = 2, at(2), "occurrence 2"
		}},
		{"ok/higher severity escalates", event(tenant, agent, k, anomaly.Critical, 3), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail, a.Severity = 3, at(3), "occurrence 3", anomaly.Critical
		}},
		{"ok/lower severity does not lower it", event(tenant, agent, k, anomaly.Medium, 4), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail = 4, at(4), "occurrence 4"
		}},
	}
	if !raiseSteps(t, s, tenant, agent, &want, steps) {
		return
	}
	others := []struct {
		name string
		e    anomaly.Event
		gen  int64
	}{
		{"ok/another kind is another anomaly", event(tenant, agent, anomaly.SignatureInvalid, anomaly.Critical, 5), 0},
		{"ok/another generation is another anomaly", event(tenant, agent, k, anomaly.High, 6), 1},
		{"ok/the same agent and kind in another tenant is another anomaly", event("t-raise-b", agent, k, anomaly.High, 7), 0},
	}
	for _, o := range others {
		t.Run(o.name, func(t *testing.T) {
			got, err := s.Anomalies.RaiseAnomaly(t.Context(), o.e, o.gen)
			check(t, "RaiseAnomaly", err, nil)
			same(t, "RaiseAnomaly", normAnomaly(got), normAnomaly(anomaly.New(o.e, o.gen)))
			same(t, "the first anomaly", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
		})
	}
}

// testRaiseOnce: an event that names its occurrence (a retried request's)
// is counted once, whether the anomaly is open or closed since; the store
// remembers only the last occurrence.
func testRaiseOnce(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant, agent = "t-once", "ag_once"
	k := anomaly.ChainFork
	createAgent(t, s, newAgent(tenant, agent))
	named := func(n int, occ string) anomaly.Event {
		e := event(tenant, agent, k, anomaly.Critical, n)
		e.Occurrence = occ
		return e
	}
	want := anomaly.New(named(1, "x"), 0)
	steps := []raiseStep{
		{"ok/first occurrence opens", named(1, "x"), func(*anomaly.Anomaly) {}},
		{"ok/the same occurrence again changes nothing", named(2, "x"), func(*anomaly.Anomaly) {}},
		{"ok/another occurrence counts", named(3, "y"), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail, a.LastOccurrence = 2, at(3), "occurrence 3", "y"
		}},
		{"ok/an unnamed event counts and is the last", named(4, ""), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail, a.LastOccurrence = 3, at(4), "occurrence 4", ""
		}},
		{"ok/only the last occurrence is remembered", named(5, "y"), func(a *anomaly.Anomaly) {
			a.Count, a.LastSeen, a.Detail, a.LastOccurrence = 4, at(5), "occurrence 5", "y"
		}},
	}
	if !raiseSteps(t, s, tenant, agent, &want, steps) {
		return
	}
	check(t, "CloseAnomaly", s.Anomalies.CloseAnomaly(ctx, tenant, want.ID, at(6), "resolved"), nil)
	want = want.Close(at(6), "resolved")
	t.Run("ok/the last occurrence again after the close changes nothing", func(t *testing.T) {
		_, err := s.Anomalies.RaiseAnomaly(ctx, named(7, "y"), 0)
		check(t, "RaiseAnomaly(counted, closed)", err, nil)
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
	t.Run("fail/another occurrence into the closed generation", func(t *testing.T) {
		_, err := s.Anomalies.RaiseAnomaly(ctx, named(8, "z"), 0)
		check(t, "RaiseAnomaly(closed generation)", err, hub.ErrClosed)
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
}

func testClosed(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	c := s.Anomalies
	const tenant, agent = "t-closed", "ag_closed"
	k := anomaly.UnsignedPayload
	createAgent(t, s, newAgent(tenant, agent))
	e := event(tenant, agent, k, anomaly.Medium, 1)
	want := anomaly.New(e, 0)
	t.Run("ok/raise opens generation 0", func(t *testing.T) {
		_, err := s.Anomalies.RaiseAnomaly(ctx, e, 0)
		check(t, "RaiseAnomaly", err, nil)
	})
	t.Run("fail/close an unknown anomaly", func(t *testing.T) {
		check(t, "CloseAnomaly(unknown)", c.CloseAnomaly(ctx, tenant, anomaly.ID(agent, k, 7), at(9), "agent_signing"), hub.ErrNotFound)
	})
	t.Run("fail/close it in another tenant", func(t *testing.T) {
		check(t, "CloseAnomaly(other tenant)", c.CloseAnomaly(ctx, "t-closed-b", want.ID, at(9), "agent_signing"), hub.ErrNotFound)
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
	t.Run("ok/close", func(t *testing.T) {
		check(t, "CloseAnomaly", c.CloseAnomaly(ctx, tenant, want.ID, at(10), "agent_signing"), nil)
		want = want.Close(at(10), "agent_signing")
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
	t.Run("fail/close again", func(t *testing.T) {
		check(t, "CloseAnomaly(again)", c.CloseAnomaly(ctx, tenant, want.ID, at(11), "other"), hub.ErrConflict)
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
	t.Run("fail/raise into the closed generation", func(t *testing.T) {
		_, err := s.Anomalies.RaiseAnomaly(ctx, event(tenant, agent, k, anomaly.High, 12), 0)
		check(t, "RaiseAnomaly(closed generation)", err, hub.ErrClosed)
		same(t, "listed", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
	})
	t.Run("ok/the next generation opens afresh", func(t *testing.T) {
		check(t, "BumpAnomalyGen", s.Agents.BumpAnomalyGen(ctx, agent, k, 0), nil)
		e2 := event(tenant, agent, k, anomaly.Medium, 13)
		got, err := s.Anomalies.RaiseAnomaly(ctx, e2, 1)
		check(t, "RaiseAnomaly(generation 1)", err, nil)
		same(t, "RaiseAnomaly(generation 1)", normAnomaly(got), normAnomaly(anomaly.New(e2, 1)))
		same(t, "generation 0", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
		open := listAll(t, s, tenant, anomaly.Filter{AgentID: agent, Kind: k, Status: anomaly.Open}, 100)
		same(t, "open anomalies of the agent and kind", ids(open), []string{got.ID})
	})
}

// listFixture is one anomaly of the listing tests.
type listFixture struct {
	tenant, agent string
	kind          anomaly.Kind
	closed        bool
}

func testList(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	c := s.Anomalies
	const ta, tb = "t-list-a", "t-list-b"
	// Seven anomalies in tenant A, where ag_1 is a prefix of ag_12 and ag_ of
	// every agent; two in tenant B, one for an agent id that A uses too.
	fixtures := []listFixture{
		{ta, "ag_1", anomaly.UnsignedPayload, false},
		{ta, "ag_1", anomaly.SignatureInvalid, true},
		{ta, "ag_1", anomaly.ReplayDetected, false},
		{ta, "ag_12", anomaly.UnsignedPayload, false},
		{ta, "ag_12", anomaly.CertPinMismatch, true},
		{ta, "ag_2", anomaly.VersionDowngrade, false},
		{ta, "ag_2", anomaly.StaleAgent, false},
		{tb, "ag_1", anomaly.UnsignedPayload, false},
		{tb, "bg_9", anomaly.ReplayDetected, false},
	}
	all := map[string][]anomaly.Anomaly{} // by tenant, in id order
	for i, f := range fixtures {
		e := event(f.tenant, f.agent, f.kind, anomaly.High, i)
		a, err := s.Anomalies.RaiseAnomaly(ctx, e, 0)
		check(t, "RaiseAnomaly", err, nil)
		if f.closed {
			check(t, "CloseAnomaly", c.CloseAnomaly(ctx, f.tenant, a.ID, at(100+i), "resolved"), nil)
			a = a.Close(at(100+i), "resolved")
		}
		all[f.tenant] = append(all[f.tenant], normAnomaly(a))
	}
	for _, as := range all {
		slices.SortFunc(as, func(a, b anomaly.Anomaly) int { return strings.Compare(a.ID, b.ID) })
	}
	matching := func(tenant string, f anomaly.Filter, after string) []anomaly.Anomaly {
		var out []anomaly.Anomaly
		for _, a := range all[tenant] {
			if f.Match(a) && a.ID > after {
				out = append(out, a)
			}
		}
		return out
	}

	filters := []struct {
		name string
		f    anomaly.Filter
		n    int
	}{
		{"ok/everything", anomaly.Filter{}, 7},
		{"ok/open", anomaly.Filter{Status: anomaly.Open}, 5},
		{"ok/closed", anomaly.Filter{Status: anomaly.Closed}, 2},
		{"ok/kind", anomaly.Filter{Kind: anomaly.UnsignedPayload}, 2},
		{"ok/agent ag_1 not ag_12", anomaly.Filter{AgentID: "ag_1"}, 3},
		{"ok/agent ag_12 not ag_1", anomaly.Filter{AgentID: "ag_12"}, 2},
		{"ok/agent ag_ matches no longer id", anomaly.Filter{AgentID: "ag_"}, 0},
		{"ok/agent and status", anomaly.Filter{AgentID: "ag_1", Status: anomaly.Open}, 2},
		{"ok/agent, kind and status", anomaly.Filter{AgentID: "ag_12", Kind: anomaly.UnsignedPayload, Status: anomaly.Open}, 1},
		{"ok/no such agent", anomaly.Filter{AgentID: "ag_9"}, 0},
	}
	for _, tc := range filters {
		want := matching(ta, tc.f, "")
		if len(want) != tc.n {
			t.Fatalf("%s: fixture has %d matches, case expects %d", tc.name, len(want), tc.n)
		}
		for _, limit := range []int{1, 2, 3, 100} {
			t.Run(tc.name+"/limit "+strconv.Itoa(limit), func(t *testing.T) {
				got := listAll(t, s, ta, tc.f, limit)
				for i := range got {
					got[i] = normAnomaly(got[i])
				}
				if len(got) == 0 && len(want) == 0 {
					return
				}
				same(t, "ListAnomalies", got, want)
			})
		}
	}

	t.Run("fail/bad cursor", func(t *testing.T) {
		for _, cur := range []string{"%%%", "not base64!"} {
			_, err := s.Anomalies.ListAnomalies(ctx, ta, anomaly.Filter{}, cur, 10)
			check(t, "ListAnomalies(cursor "+cur+")", err, hub.ErrBadCursor)
		}
	})
	// A cursor means "after this anomaly id" and carries no tenant or filter:
	// reused elsewhere it must not leak another tenant's items or fail.
	reuse := []struct {
		name         string
		fromTenant   string
		from         anomaly.Filter
		fromLimit    int
		tenant       string
		f            anomaly.Filter
		wantNonEmpty bool
	}{
		{"ok/cursor of tenant A used for tenant B", ta, anomaly.Filter{}, 2, tb, anomaly.Filter{}, true},
		{"ok/cursor of tenant B used for tenant A", tb, anomaly.Filter{}, 1, ta, anomaly.Filter{}, true},
		{"ok/cursor of agent ag_1 used for ag_12", ta, anomaly.Filter{AgentID: "ag_1"}, 1, ta, anomaly.Filter{AgentID: "ag_12"}, true},
		{"ok/cursor of agent ag_12 used for ag_1", ta, anomaly.Filter{AgentID: "ag_12"}, 1, ta, anomaly.Filter{AgentID: "ag_1"}, false},
		{"ok/cursor of agent ag_2 used for ag_1", ta, anomaly.Filter{AgentID: "ag_2"}, 1, ta, anomaly.Filter{AgentID: "ag_1"}, false},
		{"ok/cursor of agent ag_1 used for ag_2", ta, anomaly.Filter{AgentID: "ag_1"}, 1, ta, anomaly.Filter{AgentID: "ag_2"}, true},
	}
	for _, tc := range reuse {
		t.Run(tc.name, func(t *testing.T) {
			first, err := s.Anomalies.ListAnomalies(ctx, tc.fromTenant, tc.from, "", tc.fromLimit)
			check(t, "ListAnomalies(first page)", err, nil)
			if first.NextCursor == "" {
				t.Fatalf("first page of %s %+v has no cursor", tc.fromTenant, tc.from)
			}
			last := first.Anomalies[len(first.Anomalies)-1].ID
			p, err := s.Anomalies.ListAnomalies(ctx, tc.tenant, tc.f, first.NextCursor, 100)
			check(t, "ListAnomalies(reused cursor)", err, nil)
			for _, a := range p.Anomalies {
				if a.TenantID != tc.tenant {
					t.Fatalf("listing %s with a cursor of %s returned %s of tenant %s", tc.tenant, tc.fromTenant, a.ID, a.TenantID)
				}
			}
			want := matching(tc.tenant, tc.f, last)
			if len(want) > 0 != tc.wantNonEmpty {
				t.Fatalf("fixture: %d anomalies after %s, case expects some: %v", len(want), last, tc.wantNonEmpty)
			}
			same(t, "ids after "+last, ids(p.Anomalies), ids(want))
		})
	}
}

// testRefresh holds the integrity cycle's raise to at most one count per
// period: a new anomaly counts, a refresh within every does not, one after
// it does, and a closed generation is ErrClosed.
func testRefresh(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant, agent = "t-refresh", "ag_refresh"
	k, every := anomaly.UnsignedPayload, time.Hour
	e := event(tenant, agent, k, anomaly.Medium, 1)
	want := anomaly.New(e, 0)
	steps := []struct {
		name    string
		e       anomaly.Event
		counted bool
	}{
		{"ok/opens", e, true},
		{"ok/within the period it is left alone", event(tenant, agent, k, anomaly.Medium, 3599), false},
		{"ok/a period later it counts again", event(tenant, agent, k, anomaly.Medium, 3601), true},
		{"ok/right after, alone again", event(tenant, agent, k, anomaly.Medium, 3602), false},
	}
	for i, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			got, counted, err := s.Anomalies.RefreshAnomaly(ctx, st.e, 0, every)
			check(t, "RefreshAnomaly", err, nil)
			if counted != st.counted {
				t.Fatalf("RefreshAnomaly counted = %v, want %v", counted, st.counted)
			}
			if counted && i > 0 {
				want = want.Repeat(st.e)
			}
			same(t, "RefreshAnomaly", normAnomaly(got), normAnomaly(want))
			same(t, "the stored anomaly", normAnomaly(listed(t, s, tenant, agent, want.ID)), normAnomaly(want))
		})
		if !ok {
			return
		}
	}
	t.Run("fail/closed generation", func(t *testing.T) {
		check(t, "CloseAnomaly", s.Anomalies.CloseAnomaly(ctx, tenant, want.ID, at(4000), "agent_signing"), nil)
		_, counted, err := s.Anomalies.RefreshAnomaly(ctx, event(tenant, agent, k, anomaly.Medium, 9000), 0, every)
		check(t, "RefreshAnomaly(closed)", err, hub.ErrClosed)
		if counted {
			t.Fatal("a refresh of a closed generation counted")
		}
	})
}
