package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// auditOf reads the audit log of tenant, by event id.
func auditOf(t *testing.T, s hub.Stores, tenant string) []hub.AuditEvent {
	t.Helper()
	events, err := s.Audit.Audit(t.Context(), tenant, at(-86400), at(86400))
	check(t, "Audit", err, nil)
	for i := range events {
		events[i] = normAudit(events[i])
	}
	slices.SortFunc(events, func(a, b hub.AuditEvent) int { return strings.Compare(a.ID, b.ID) })
	return events
}

func testAudit(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-audit"
	created := hub.AuditEvent{TenantID: tenant, ID: "ev-1", At: at(1), Action: "agent_created", AgentID: "ag_audit", Actor: "admin"}
	pinned := hub.AuditEvent{TenantID: tenant, ID: "ev-2", At: at(2), Action: "signing_key_pinned", AgentID: "ag_audit", Actor: "agent",
		Detail: map[string]string{"fingerprint": hash("key"), "note": "first use"}}
	steps := []struct {
		name   string
		append hub.AuditEvent
		want   []hub.AuditEvent
	}{
		{"ok/append", created, []hub.AuditEvent{created}},
		{"ok/append the same id again", created, []hub.AuditEvent{created}},
		{"ok/append another id with detail", pinned, []hub.AuditEvent{created, pinned}},
		{"ok/a retried event overwrites itself", pinned, []hub.AuditEvent{created, pinned}},
		{"ok/another tenant's event", hub.AuditEvent{TenantID: "t-audit-b", ID: "ev-1", At: at(3), Action: "token_rotated",
			AgentID: "ag_other", Actor: "admin"}, []hub.AuditEvent{created, pinned}},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			check(t, "AppendAudit", s.Audit.AppendAudit(ctx, st.append), nil)
			want := make([]hub.AuditEvent, 0, len(st.want))
			for _, e := range st.want {
				want = append(want, normAudit(e))
			}
			same(t, "Audit("+tenant+")", auditOf(t, s, tenant), want)
		})
		if !ok {
			return
		}
	}
}

// testAuditRange holds the audit reader to [from, to), oldest first, one
// tenant only.
func testAuditRange(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-audit-range"
	var events []hub.AuditEvent
	// Appended out of order: the reader sorts by time.
	for _, n := range []int{3, 1, 4, 2} {
		e := hub.AuditEvent{TenantID: tenant, ID: "ev-" + strconv.Itoa(n), At: at(n), Action: "token_rotated", Actor: "admin"}
		check(t, "AppendAudit", s.Audit.AppendAudit(ctx, e), nil)
		events = append(events, e)
	}
	check(t, "AppendAudit(other tenant)", s.Audit.AppendAudit(ctx, hub.AuditEvent{TenantID: "t-audit-range-b", ID: "ev-2",
		At: at(2), Action: "token_rotated", Actor: "admin"}), nil)
	byN := func(ns ...int) []hub.AuditEvent {
		var out []hub.AuditEvent
		for _, n := range ns {
			for _, e := range events {
				if e.At.Equal(at(n)) {
					out = append(out, normAudit(e))
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []hub.AuditEvent
	}{
		{"ok/from is in, to is out", at(1), at(3), byN(1, 2)},
		{"ok/everything, oldest first", at(0), at(5), byN(1, 2, 3, 4)},
		{"ok/nanoseconds count", at(2).Add(time.Nanosecond), at(4).Add(time.Nanosecond), byN(3, 4)},
		{"ok/nothing in range", at(5), at(9), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Audit.Audit(ctx, tenant, tc.from, tc.to)
			check(t, "Audit", err, nil)
			var norm []hub.AuditEvent
			for _, e := range got {
				norm = append(norm, normAudit(e))
			}
			same(t, "Audit", norm, tc.want)
		})
	}
}
