package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// TestRequestPackHotWindow: with a hot window of 45 days at eventTime
// (2026-04-01), the oldest day the hub holds is 2026-02-15. A period that
// starts before it is served from the month's archived pack when it is
// exactly that month, else refused naming the oldest day; a period inside
// the window is built as ever.
func TestRequestPackHotWindow(t *testing.T) {
	f := newPacksFxCfg(t, hub.PackConfig{HotDays: 45})
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ready := hub.Pack{TenantID: tenant, PackID: hub.MonthlyPackID(jan, 2), Status: hub.PackReady, PeriodStart: jan,
		PeriodEnd: time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC), RequestedAt: jan.AddDate(0, 1, 0),
		GeneratedAt: jan.AddDate(0, 1, 0).Add(time.Second), ObjectKey: "packs/acme/jan.tar.gz", ObjectVersion: "v1",
		FileName: "evidence_acme_january-2026.tar.gz", Size: 10, Records: 1, ManifestSHA256: strings.Repeat("ab", 32), SigningKeyID: "sk_x"}
	failed := ready
	failed.PackID, failed.Status, failed.Reason = hub.MonthlyPackID(jan, 1), hub.PackFailed, "build: test"
	failed.GeneratedAt, failed.ObjectKey, failed.ObjectVersion, failed.FileName, failed.Size, failed.Records = time.Time{}, "", "", "", 0, 0
	failed.ManifestSHA256, failed.SigningKeyID = "", ""
	send := func(t *testing.T, body string) result {
		t.Helper()
		ev := event(t, "request-pack.json")
		ev.Body = body
		return f.call(ev)
	}
	const january = `{"period_start":"2026-01-01T00:00:00Z","period_end":"2026-01-31T23:59:59Z"}`
	for _, tc := range []struct {
		name, body string
	}{
		{"fail/400/whole-month-not-archived", january},
		{"fail/400/part-of-an-old-month", `{"period_start":"2026-01-10T00:00:00Z","period_end":"2026-01-20T00:00:00Z"}`},
		{"fail/400/starts-a-day-before-the-window", `{"period_start":"2026-02-14T00:00:00Z","period_end":"2026-03-01T00:00:00Z"}`},
		{"fail/400/two-old-months", `{"period_start":"2025-12-01T00:00:00Z","period_end":"2026-01-31T23:59:59Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.body)
			e, _ := r.json["error"].(map[string]any)
			if r.Status != http.StatusBadRequest || str(e["code"]) != string(hub.CodeInvalidRequest) || !strings.Contains(str(e["message"]), "2026-02-15") {
				t.Fatalf("answer %d %s, want 400 invalid_request naming 2026-02-15", r.Status, r.Body)
			}
			if n := f.packCount(); n != 0 {
				t.Fatalf("%d packs stored, want none", n)
			}
		})
	}
	f.putPack(failed)
	f.putPack(ready)
	t.Run("ok/whole-archived-month", func(t *testing.T) {
		r := send(t, january)
		if r.Status != http.StatusAccepted || str(r.json["pack_id"]) != ready.PackID || str(r.json["status"]) != hub.PackReady {
			t.Fatalf("answer %d %s, want the archived %s, ready", r.Status, r.Body, ready.PackID)
		}
		if q := f.starter.Take(); len(q) != 0 {
			t.Fatalf("started builds %v, want none", q)
		}
	})
	t.Run("ok/archived-pack-is-the-tenants-only", func(t *testing.T) {
		ev := event(t, "request-pack.json")
		ev.Body = january
		asOther(t, &ev)
		if r := f.call(ev); r.Status != http.StatusBadRequest {
			t.Fatalf("globex asking for January = %d %s, want 400 (acme's pack is not its)", r.Status, r.Body)
		}
	})
	t.Run("ok/first-day-of-the-window-is-built", func(t *testing.T) {
		r := send(t, `{"period_start":"2026-02-15T00:00:00Z","period_end":"2026-03-01T00:00:00Z"}`)
		if r.Status != http.StatusAccepted || str(r.json["status"]) != hub.PackPending {
			t.Fatalf("answer %d %s, want 202 pending", r.Status, r.Body)
		}
		if q := f.starter.Take(); len(q) != 1 {
			t.Fatalf("started builds %v, want one", q)
		}
	})
}
