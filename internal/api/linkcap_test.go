package api_test

import (
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

func newLinkCapConfig(t *testing.T) hub.PackConfig {
	return hub.PackConfig{TempDir: t.TempDir(), LinkCap: 55 * time.Minute}
}

// With a LinkCap (the life of the credentials links are signed with, in AWS
// under an hour), a longer expires_in or default is shortened to it, and
// expires_at and the audit event tell the link's real end.
func TestGetPackLinkCap(t *testing.T) {
	for _, tc := range []struct {
		name, expiresIn string
		ttl             time.Duration
		expiresAt       string
	}{
		{"ok/shorter-than-cap", "600", 10 * time.Minute, "2026-04-01T10:15:00Z"},
		{"ok/seven-days-capped", "604800", 55 * time.Minute, "2026-04-01T11:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPacksFxWith(t, newLinkCapConfig(t))
			id := f.request()
			f.build(id)
			f.clock.Advance(5 * time.Minute)
			r := f.call(getPackEvent(t, id, tc.expiresIn))
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := r.json["expires_at"]; got != tc.expiresAt {
				t.Errorf("expires_at %v, want %s", got, tc.expiresAt)
			}
			links := f.objects.Links()
			if len(links) != 1 || links[0].TTL != tc.ttl {
				t.Fatalf("links %+v, want one of %s", links, tc.ttl)
			}
			if a := f.audits(tenant, "pack_link_issued"); len(a) != 1 || a[0].Detail["expires_at"] != tc.expiresAt {
				t.Errorf("pack_link_issued %+v", a)
			}
		})
	}
}
