package collect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHoneypot(t *testing.T) {
	tests := []struct {
		name  string
		touch func(t *testing.T, p string)
		want  string
	}{
		{name: "ok/untouched", touch: func(*testing.T, string) {}, want: ""},
		{name: "ok/accessed", touch: func(t *testing.T, p string) {
			before, _ := observe(p)
			if _, err := os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
			if after, _ := observe(p); !after.atime.After(before.atime) {
				t.Skip("this filesystem does not record reads (noatime)")
			}
		}, want: TripAccessed},
		{name: "ok/modified", touch: func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("changed"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: TripModified},
		{name: "ok/deleted", touch: func(t *testing.T, p string) { _ = os.Remove(p) }, want: TripDeleted},
		{name: "ok/replaced", touch: func(t *testing.T, p string) {
			tmp := p + ".x"
			_ = os.WriteFile(tmp, []byte(canaryBait), 0o644)
			_ = os.Rename(tmp, p)
		}, want: TripReplaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secrets", "aws-credentials")
			h := &Honeypot{Paths: []string{p}}
			recs, err := h.Collect(context.Background(), t0)
			if err != nil || len(recs) != 0 {
				t.Fatalf("planting: %v, %d records", err, len(recs))
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("canary not planted: %v", err)
			}
			tt.touch(t, p)
			recs, err = h.Collect(context.Background(), t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(recs) != 0 {
					t.Fatalf("untouched canary tripped: %+v", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].(HoneypotTrip).Event != tt.want || recs[0].(HoneypotTrip).Path != p {
				t.Fatalf("records = %+v, want one %s", recs, tt.want)
			}
			// Re-armed: quiet until touched again.
			recs, _ = h.Collect(context.Background(), t0.Add(2*time.Minute))
			if len(recs) != 0 {
				t.Fatalf("tripped again without a touch: %+v", recs)
			}
		})
	}
	t.Run("fail/unplantable", func(t *testing.T) {
		dir := t.TempDir()
		block := filepath.Join(dir, "file")
		_ = os.WriteFile(block, nil, 0o644)
		h := &Honeypot{Paths: []string{filepath.Join(block, "canary")}}
		if _, err := h.Collect(context.Background(), t0); err == nil {
			t.Fatal("canary under a regular file was planted")
		}
	})
}
