package hub_test

import (
	"errors"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

func TestParsePeriod(t *testing.T) {
	const year = 366 * 24 * time.Hour
	tests := []struct {
		name, body string
		start, end string
	}{
		{"ok/month", `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-30T23:59:59Z"}`, "2026-04-01T00:00:00Z", "2026-04-30T23:59:59Z"},
		{"ok/offset-and-fraction", `{"period_start":"2026-04-01T02:00:00.9+02:00","period_end":"2026-04-02T00:00:00Z"}`, "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"},
		{"ok/366-days", `{"period_start":"2024-01-01T00:00:00Z","period_end":"2025-01-01T00:00:00Z"}`, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"fail/date-only", `{"period_start":"2026-04-01","period_end":"2026-04-30T23:59:59Z"}`, "", ""},
		{"fail/end-before-start", `{"period_start":"2026-04-30T00:00:00Z","period_end":"2026-04-01T00:00:00Z"}`, "", ""},
		{"fail/empty-period", `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-01T00:00:00.5Z"}`, "", ""},
		{"fail/too-long", `{"period_start":"2024-01-01T00:00:00Z","period_end":"2025-01-01T00:00:01Z"}`, "", ""},
		{"fail/missing-end", `{"period_start":"2026-04-01T00:00:00Z"}`, "", ""},
		{"fail/number", `{"period_start":1,"period_end":2}`, "", ""},
		{"fail/array", `[]`, "", ""},
		{"fail/two-objects", `{} {}`, "", ""},
		{"fail/ancient", `{"period_start":"1999-12-01T00:00:00Z","period_end":"1999-12-02T00:00:00Z"}`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, end, err := hub.ParsePeriod([]byte(tc.body), year)
			if tc.start == "" {
				var he *hub.Error
				if !errors.As(err, &he) || he.Code != hub.CodeInvalidRequest {
					t.Fatalf("ParsePeriod(%s) = %v, want invalid_request", tc.body, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := start.Format(time.RFC3339) + " " + end.Format(time.RFC3339); got != tc.start+" "+tc.end {
				t.Fatalf("ParsePeriod = %s, want %s %s", got, tc.start, tc.end)
			}
		})
	}
}
