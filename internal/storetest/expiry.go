package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// testExpiry holds BatchExpirer to "only what a ready pack holds": no batch
// has an expiry when stored, and ExpirePart, over every part of a period, marks exactly the batches
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
			n, calls, err := ExpirePeriod(ctx, s.Batches, hub.ExpiryScope{TenantID: "t-exp", From: from, To: to, ReceivedBefore: cut, At: exp}, 1)
			check(t, "ExpirePeriod", err, nil)
			if n != len(marked) {
				t.Errorf("ExpirePeriod = %d batches, want %d (a batch of two days counted once)", n, len(marked))
			}
			if min := s.Batches.ExpiryShards() * 30; calls <= min {
				t.Errorf("ExpirePeriod took %d ExpirePart calls with a page of 1, want more than one per part (%d): a cursor per entry", calls, min)
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
		n, _, err := ExpirePeriod(ctx, s.Batches, hub.ExpiryScope{TenantID: "t-none", From: from, To: to, ReceivedBefore: cut, At: exp}, 100)
		check(t, "ExpirePeriod", err, nil)
		if n != 0 {
			t.Errorf("ExpirePeriod of a tenant with no batches = %d", n)
		}
	})
	t.Run("ok/a part resumed from a cursor marks the rest", func(t *testing.T) {
		// Three batches of one agent on one day: one shard, three entries.
		later := func(key string) hub.StoredBatch {
			return mk("t-cur", key, day(8, 1), day(8, 1), day(8, 2), "2026-04-08")
		}
		bs := []hub.StoredBatch{later("u#1"), later("u#2"), later("u#3")}
		for _, b := range bs {
			check(t, "PutBatch("+b.Key+")", s.Batches.PutBatch(ctx, b), nil)
		}
		sc := hub.ExpiryScope{TenantID: "t-cur", From: from, To: to, ReceivedBefore: cut, At: exp}
		var part hub.ExpiryPart
		found := false
		for sh := range s.Batches.ExpiryShards() {
			part = hub.ExpiryPart{Day: day(8, 0), Shard: sh}
			pg, err := s.Batches.ExpirePart(ctx, sc, part, "", 2)
			check(t, "ExpirePart(first page)", err, nil)
			if pg.Marked == 0 && pg.Cursor == "" {
				continue
			}
			found = true
			if pg.Marked != 2 || pg.Cursor == "" {
				t.Fatalf("first page of 2 = %+v, want 2 marked and a cursor", pg)
			}
			if e := expiry(t, bs[2]); !e.IsZero() {
				t.Fatalf("the entry after the page is marked already (%v)", e)
			}
			rest, err := s.Batches.ExpirePart(ctx, sc, part, pg.Cursor, 2)
			check(t, "ExpirePart(rest)", err, nil)
			if rest.Marked != 1 || rest.Cursor != "" {
				t.Fatalf("rest from the cursor = %+v, want 1 marked and done", rest)
			}
		}
		if !found {
			t.Fatal("no shard of 2026-04-08 holds the three batches")
		}
		for _, b := range bs {
			if e := expiry(t, b); !e.Equal(exp) {
				t.Errorf("batch %s expiry = %v, want %v", b.Key, e, exp)
			}
		}
	})
}

// ExpirePeriod runs a whole period's expiry pass in one process, part by
// part and page by page (limit entries a page), as the fanned-out
// invocations of Archive.Expire do: the batches marked and the ExpirePart
// calls it took.
func ExpirePeriod(ctx context.Context, e hub.BatchExpirer, sc hub.ExpiryScope, limit int) (marked, calls int, err error) {
	for d := sc.From.UTC().Truncate(24 * time.Hour); !d.After(sc.To); d = d.AddDate(0, 0, 1) {
		for sh := range e.ExpiryShards() {
			cursor := ""
			for {
				pg, err := e.ExpirePart(ctx, sc, hub.ExpiryPart{Day: d, Shard: sh}, cursor, limit)
				calls++
				if err != nil {
					return marked, calls, err
				}
				marked += pg.Marked
				if cursor = pg.Cursor; cursor == "" {
					break
				}
			}
		}
	}
	return marked, calls, nil
}
