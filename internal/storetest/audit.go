package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// auditOf reads the audit log of tenant through whichever reader the store
// offers: Memory's snapshot or the DynamoDB adapter's time-range query.
func auditOf(t *testing.T, s hub.Store, tenant string) []hub.AuditEvent {
	t.Helper()
	var events []hub.AuditEvent
	switch r := s.(type) {
	case interface {
		Audit(tenant string) []hub.AuditEvent
	}:
		events = r.Audit(tenant)
	case interface {
		Audit(ctx context.Context, tenant string, from, to time.Time) ([]hub.AuditEvent, error)
	}:
		var err error
		events, err = r.Audit(t.Context(), tenant, at(-86400), at(86400))
		check(t, "Audit", err, nil)
	default:
		t.Fatalf("%T has no Audit method the suite knows how to call", s)
	}
	for i := range events {
		events[i] = normAudit(events[i])
	}
	slices.SortFunc(events, func(a, b hub.AuditEvent) int { return strings.Compare(a.ID, b.ID) })
	return events
}

func testAudit(t *testing.T, s hub.Store) {
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
			check(t, "AppendAudit", s.AppendAudit(ctx, st.append), nil)
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
