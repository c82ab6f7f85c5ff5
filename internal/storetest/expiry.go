package storetest

import (
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// testExpiry holds BatchExpirer to "only what a ready pack holds": no batch
// has an expiry when stored, and ExpireBatches marks exactly the batches
// whose records all fall in the period and that came before the cut.
func testExpiry(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	day := func(d int, h int) time.Time { return time.Date(2026, 4, d, h, 0, 0, 0, time.UTC) }
	from, to := day(1, 0), time.Date(2026, 4, 30, 23, 59, 59, 0, time.UTC)
	cut := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	exp := time.Date(2026, 6, 17, 6, 0, 0, 0, time.UTC)
	mk := func(tenant, key string, minTS, maxTS, received time.Time, days ...string) hub.StoredBatch {
		return hub.StoredBatch{TenantID: tenant, AgentID: "ag_exp", Key: key, SHA: hash(key), Body: []byte(`[]`), Records: len(days),
			MinTS: minTS, MaxTS: maxTS, Days: days, ReceivedAt: received}
	}
	in := mk("t-exp", "u#in", day(10, 3), day(10, 4), day(10, 5), "2026-04-10")
	twoDays := mk("t-exp", "u#two", day(11, 23), day(12, 1), day(12, 2), "2026-04-11", "2026-04-12")
	lastSecond := mk("t-exp", "u#last", to, to, cut.Add(-time.Second), "2026-04-30")
	late := mk("t-exp", "u#late", day(20, 0), day(20, 0), cut, "2026-04-20")
	straddle := mk("t-exp", "u#straddle", time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC), day(1, 0), day(1, 1), "2026-03-31", "2026-04-01")
	after := mk("t-exp", "u#after", to, cut.Add(-time.Hour), cut.Add(-time.Hour), "2026-04-30", "2026-05-01")
	other := mk("t-other", "u#other", day(10, 3), day(10, 4), day(10, 5), "2026-04-10")
	heartbeat := mk("t-exp", "u#heartbeat", time.Time{}, time.Time{}, day(10, 5))
	all := []hub.StoredBatch{in, twoDays, lastSecond, late, straddle, after, other, heartbeat}
	for _, b := range all {
		check(t, "PutBatch("+b.Key+")", s.Batches.PutBatch(ctx, b), nil)
	}
	expiry := func(t *testing.T, b hub.StoredBatch) time.Time {
		t.Helper()
		got, err := s.Batches.GetBatch(ctx, b.AgentID, b.Key)
		check(t, "GetBatch("+b.Key+")", err, nil)
		return got.ExpireAt
	}
	t.Run("ok/stored without expiry", func(t *testing.T) {
		for _, b := range all {
			if e := expiry(t, b); !e.IsZero() {
				t.Errorf("batch %s stored with expiry %v, want none until a pack holds it", b.Key, e)
			}
		}
	})
	marked := []hub.StoredBatch{in, twoDays, lastSecond}
	kept := []hub.StoredBatch{late, straddle, after, other, heartbeat}
	for _, run := range []string{"first", "again"} {
		t.Run("ok/expire the period's batches, "+run, func(t *testing.T) {
			n, err := s.Batches.ExpireBatches(ctx, "t-exp", from, to, cut, exp)
			check(t, "ExpireBatches", err, nil)
			if n != len(marked) {
				t.Errorf("ExpireBatches = %d batches, want %d", n, len(marked))
			}
			for _, b := range marked {
				if e := expiry(t, b); !e.Equal(exp) {
					t.Errorf("batch %s expiry = %v, want %v", b.Key, e, exp)
				}
			}
			for _, b := range kept {
				if e := expiry(t, b); !e.IsZero() {
					t.Errorf("batch %s (not wholly in the pack) expiry = %v, want none", b.Key, e)
				}
			}
		})
	}
	t.Run("ok/period reads still see marked batches", func(t *testing.T) {
		seen := map[string]time.Time{}
		check(t, "PeriodBatches", s.Batches.PeriodBatches(ctx, "t-exp", from, to, func(b hub.StoredBatch) error {
			seen[b.Key] = b.ExpireAt
			return nil
		}), nil)
		if e, ok := seen[in.Key]; !ok || !e.Equal(exp) {
			t.Errorf("PeriodBatches gave %s with expiry %v (found %v), want %v", in.Key, e, ok, exp)
		}
	})
	t.Run("ok/a batch put again has no expiry", func(t *testing.T) {
		check(t, "PutBatch(again)", s.Batches.PutBatch(ctx, in), nil)
		if e := expiry(t, in); !e.IsZero() {
			t.Errorf("batch %s put again keeps expiry %v, want none", in.Key, e)
		}
	})
	t.Run("ok/nothing in an empty period", func(t *testing.T) {
		n, err := s.Batches.ExpireBatches(ctx, "t-none", from, to, cut, exp)
		check(t, "ExpireBatches", err, nil)
		if n != 0 {
			t.Errorf("ExpireBatches of a tenant with no batches = %d", n)
		}
	})
}
