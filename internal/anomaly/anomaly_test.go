package anomaly_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
)

var t0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func event(k anomaly.Kind, sev anomaly.Severity, at time.Time, detail string) anomaly.Event {
	return anomaly.Event{TenantID: "acme", AgentID: "ag_1", Kind: k, Severity: sev, Detail: detail, At: at}
}

func TestValidKind(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"ok/unsigned_payload", "unsigned_payload", true},
		{"ok/signature_invalid", "signature_invalid", true},
		{"ok/cert_pin_mismatch", "cert_pin_mismatch", true},
		{"ok/replay_detected", "replay_detected", true},
		{"ok/version_downgrade", "version_downgrade", true},
		{"ok/stale_agent", "stale_agent", true},
		{"fail/empty", "", false},
		{"fail/uppercase", "SIGNATURE_INVALID", false},
		{"fail/unknown", "meteor_strike", false},
		{"fail/trailing-space", "replay_detected ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := anomaly.ValidKind(tt.in); got != tt.want {
				t.Fatalf("ValidKind(%q) = %v", tt.in, got)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	order := []anomaly.Severity{anomaly.Low, anomaly.Medium, anomaly.High, anomaly.Critical}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := anomaly.MaxSeverity(a, b); got != want {
				t.Errorf("MaxSeverity(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
	if anomaly.Severity("bogus").Rank() != 0 || anomaly.Low.Rank() != 1 || anomaly.Critical.Rank() != 4 {
		t.Fatal("Rank order broken")
	}
	if got := anomaly.MaxSeverity("bogus", anomaly.Low); got != anomaly.Low {
		t.Fatalf("an unknown severity outranks low: %s", got)
	}
	if got := anomaly.MaxSeverity(anomaly.Medium, "bogus"); got != anomaly.Medium {
		t.Fatalf("an unknown severity replaced medium: %s", got)
	}
}

func TestNew(t *testing.T) {
	a := anomaly.New(event(anomaly.ReplayDetected, anomaly.High, t0, "seq 5 <= 9"), 3)
	want := anomaly.Anomaly{ID: "an_ag_1.replay_detected.3", TenantID: "acme", AgentID: "ag_1",
		Kind: anomaly.ReplayDetected, Severity: anomaly.High, Status: anomaly.Open,
		FirstSeen: t0, LastSeen: t0, Count: 1, Detail: "seq 5 <= 9", Generation: 3}
	if a.ID != want.ID || a.Status != want.Status || a.Count != 1 || !a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(t0) ||
		a.Severity != want.Severity || a.Generation != 3 || a.ClosedAt != nil || a.ClosedReason != nil || a.Detail != want.Detail {
		t.Fatalf("New = %+v, want %+v", a, want)
	}
	if anomaly.ID("ag_1", anomaly.ReplayDetected, 3) == anomaly.ID("ag_1", anomaly.ReplayDetected, 4) ||
		anomaly.ID("ag_1", anomaly.ReplayDetected, 0) == anomaly.ID("ag_2", anomaly.ReplayDetected, 0) ||
		anomaly.ID("ag_1", anomaly.ReplayDetected, 0) == anomaly.ID("ag_1", anomaly.SignatureInvalid, 0) {
		t.Fatal("anomaly ids collide")
	}
}

func TestRepeat(t *testing.T) {
	base := anomaly.New(event(anomaly.UnsignedPayload, anomaly.High, t0, "first"), 0)
	tests := []struct {
		name         string
		e            anomaly.Event
		wantSeverity anomaly.Severity
		wantLast     time.Time
		wantDetail   string
	}{
		{"ok/later-same-severity", event(anomaly.UnsignedPayload, anomaly.High, t0.Add(time.Minute), "second"), anomaly.High, t0.Add(time.Minute), "second"},
		{"ok/raises-severity", event(anomaly.UnsignedPayload, anomaly.Critical, t0.Add(time.Minute), "worse"), anomaly.Critical, t0.Add(time.Minute), "worse"},
		{"ok/never-lowers-severity", event(anomaly.UnsignedPayload, anomaly.Medium, t0.Add(time.Minute), "milder"), anomaly.High, t0.Add(time.Minute), "milder"},
		{"ok/earlier-event-keeps-last-seen", event(anomaly.UnsignedPayload, anomaly.High, t0.Add(-time.Hour), "late report"), anomaly.High, t0, "late report"},
		{"ok/empty-detail-keeps-detail", event(anomaly.UnsignedPayload, anomaly.High, t0.Add(time.Second), ""), anomaly.High, t0.Add(time.Second), "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base.Repeat(tt.e)
			if a.Count != 2 {
				t.Fatalf("count = %d, want 2", a.Count)
			}
			if !a.FirstSeen.Equal(t0) {
				t.Fatalf("first_seen moved to %v", a.FirstSeen)
			}
			if !a.LastSeen.Equal(tt.wantLast) {
				t.Fatalf("last_seen = %v, want %v", a.LastSeen, tt.wantLast)
			}
			if a.Severity != tt.wantSeverity {
				t.Fatalf("severity = %s, want %s", a.Severity, tt.wantSeverity)
			}
			if a.Detail != tt.wantDetail {
				t.Fatalf("detail = %q, want %q", a.Detail, tt.wantDetail)
			}
			if a.ID != base.ID || a.Status != anomaly.Open || a.Generation != base.Generation {
				t.Fatalf("identity changed: %+v", a)
			}
			if base.Count != 1 {
				t.Fatal("Repeat changed its receiver")
			}
		})
	}
	// Many repeats count each one.
	a := base
	for i := 1; i <= 10; i++ {
		a = a.Repeat(event(anomaly.UnsignedPayload, anomaly.Low, t0.Add(time.Duration(i)*time.Minute), ""))
	}
	if a.Count != 11 || a.Severity != anomaly.High || !a.LastSeen.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("after 10 repeats: %+v", a)
	}
}

func TestClose(t *testing.T) {
	a := anomaly.New(event(anomaly.UnsignedPayload, anomaly.Medium, t0, ""), 0)
	c := a.Close(t0.Add(time.Hour), "agent_signing")
	if c.Status != anomaly.Closed || c.ClosedAt == nil || !c.ClosedAt.Equal(t0.Add(time.Hour)) || c.ClosedReason == nil || *c.ClosedReason != "agent_signing" {
		t.Fatalf("Close = %+v", c)
	}
	if a.Status != anomaly.Open || a.ClosedAt != nil {
		t.Fatal("Close changed its receiver")
	}
}

// TestJSON pins the field names of SPEC 4.3; the generation stays internal.
func TestJSON(t *testing.T) {
	open := anomaly.New(event(anomaly.SignatureInvalid, anomaly.Critical, t0, "d"), 2)
	b, err := json.Marshal(open)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"agent_id", "anomaly_id", "closed_at", "closed_reason", "count", "detail", "first_seen", "kind", "last_seen", "severity", "status", "tenant_id"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	if m["closed_at"] != nil || m["closed_reason"] != nil || m["first_seen"] != "2026-04-01T10:00:00Z" || m["count"] != 1.0 {
		t.Fatalf("open anomaly JSON = %s", b)
	}
	closed, _ := json.Marshal(open.Close(t0, "agent_signing"))
	if err := json.Unmarshal(closed, &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != "closed" || m["closed_reason"] != "agent_signing" || m["closed_at"] != "2026-04-01T10:00:00Z" {
		t.Fatalf("closed anomaly JSON = %s", closed)
	}
}

func TestFilter(t *testing.T) {
	a := anomaly.New(event(anomaly.ReplayDetected, anomaly.High, t0, ""), 0)
	closed := a.Close(t0, "x")
	tests := []struct {
		name string
		f    anomaly.Filter
		a    anomaly.Anomaly
		want bool
	}{
		{"ok/empty-filter-matches-open", anomaly.Filter{}, a, true},
		{"ok/empty-filter-matches-closed", anomaly.Filter{}, closed, true},
		{"ok/status-open", anomaly.Filter{Status: anomaly.Open}, a, true},
		{"ok/status-closed", anomaly.Filter{Status: anomaly.Closed}, closed, true},
		{"ok/kind", anomaly.Filter{Kind: anomaly.ReplayDetected}, a, true},
		{"ok/agent", anomaly.Filter{AgentID: "ag_1"}, a, true},
		{"ok/all-three", anomaly.Filter{Status: anomaly.Open, Kind: anomaly.ReplayDetected, AgentID: "ag_1"}, a, true},
		{"fail/status-closed-on-open", anomaly.Filter{Status: anomaly.Closed}, a, false},
		{"fail/status-open-on-closed", anomaly.Filter{Status: anomaly.Open}, closed, false},
		{"fail/other-kind", anomaly.Filter{Kind: anomaly.SignatureInvalid}, a, false},
		{"fail/other-agent", anomaly.Filter{AgentID: "ag_2"}, a, false},
		{"fail/agent-prefix-only", anomaly.Filter{AgentID: "ag_"}, a, false},
		{"fail/one-of-three-wrong", anomaly.Filter{Status: anomaly.Open, Kind: anomaly.ReplayDetected, AgentID: "ag_9"}, a, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.a); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}
