package storetest

import (
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
)

// testArchive holds PackArchiver to its rule: only a ready pack is marked,
// once, and the mark survives a rerun.
func testArchive(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-archive"
	pending := hub.Pack{TenantID: tenant, PackID: "pk_m202603r1", Status: hub.PackPending,
		PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), RequestedAt: at(1)}
	ready := pending
	ready.Status, ready.GeneratedAt, ready.FinishedAt, ready.ManifestSHA256 = hub.PackReady, at(2), at(3), hash("m")
	archived := func(t *testing.T) time.Time {
		t.Helper()
		got, err := s.Packs.GetPack(ctx, tenant, pending.PackID)
		check(t, "GetPack", err, nil)
		if !got.ArchivedAt.IsZero() && !got.BatchesExpireAt.Equal(at(100)) {
			t.Fatalf("BatchesExpireAt = %v, want the first mark's %v", got.BatchesExpireAt, at(100))
		}
		return got.ArchivedAt
	}
	t.Run("fail/unknown pack", func(t *testing.T) {
		err := s.Packs.MarkArchived(ctx, tenant, "pk_nothere", at(4), at(99))
		if err == nil {
			t.Fatal("MarkArchived(unknown pack) = nil, want an error")
		}
		if _, err := s.Packs.MarkPartExpired(ctx, tenant, "pk_nothere", "20260301s0", 1); err == nil {
			t.Fatal("MarkPartExpired(unknown pack) = nil, want an error")
		}
		if err := s.Packs.ClaimExpiryFan(ctx, tenant, "pk_nothere", time.Time{}, at(4)); err == nil {
			t.Fatal("ClaimExpiryFan(unknown pack) = nil, want an error")
		}
	})
	check(t, "CreatePack", s.Packs.CreatePack(ctx, pending), nil)
	t.Run("fail/pending pack", func(t *testing.T) {
		check(t, "MarkArchived(pending)", s.Packs.MarkArchived(ctx, tenant, pending.PackID, at(4), at(99)), hub.ErrConflict)
		_, err := s.Packs.MarkPartExpired(ctx, tenant, pending.PackID, "20260301s0", 1)
		check(t, "MarkPartExpired(pending)", err, hub.ErrConflict)
		check(t, "ClaimExpiryFan(pending)", s.Packs.ClaimExpiryFan(ctx, tenant, pending.PackID, time.Time{}, at(4)), hub.ErrConflict)
		check(t, "BeatLane(pending)", s.Packs.BeatLane(ctx, tenant, pending.PackID, 0, at(4)), hub.ErrConflict)
		if a := archived(t); !a.IsZero() {
			t.Fatalf("a pending pack is marked archived at %v", a)
		}
	})
	check(t, "FinishPack", s.Packs.FinishPack(ctx, ready), nil)
	t.Run("ok/ready pack", func(t *testing.T) {
		if a := archived(t); !a.IsZero() {
			t.Fatalf("a ready pack starts archived at %v", a)
		}
		check(t, "MarkArchived", s.Packs.MarkArchived(ctx, tenant, pending.PackID, at(5), at(100)), nil)
		if a := archived(t); !a.Equal(at(5)) {
			t.Fatalf("ArchivedAt = %v, want %v", a, at(5))
		}
	})
	t.Run("ok/again keeps the first time", func(t *testing.T) {
		check(t, "MarkArchived(again)", s.Packs.MarkArchived(ctx, tenant, pending.PackID, at(9), at(200)), nil)
		if a := archived(t); !a.Equal(at(5)) {
			t.Fatalf("ArchivedAt = %v after a rerun, want the first %v", a, at(5))
		}
	})
	t.Run("ok/parts of the expiry pass", func(t *testing.T) {
		rec, err := s.Packs.MarkPartExpired(ctx, tenant, pending.PackID, "20260301s0", 3)
		check(t, "MarkPartExpired", err, nil)
		same(t, "parts after the first", rec, map[string]int{"20260301s0": 3})
		_, err = s.Packs.MarkPartExpired(ctx, tenant, pending.PackID, "20260301s1", 0)
		check(t, "MarkPartExpired(second)", err, nil)
		rec, err = s.Packs.MarkPartExpired(ctx, tenant, pending.PackID, "20260301s0", 4)
		check(t, "MarkPartExpired(rerun)", err, nil)
		same(t, "parts after a rerun", rec, map[string]int{"20260301s0": 4, "20260301s1": 0})
		got, err := s.Packs.GetPack(ctx, tenant, pending.PackID)
		check(t, "GetPack", err, nil)
		same(t, "the pack's parts", got.ExpiredParts, rec)
	})
	t.Run("ok/claim the expiry pass", func(t *testing.T) {
		check(t, "ClaimExpiryFan(first)", s.Packs.ClaimExpiryFan(ctx, tenant, pending.PackID, time.Time{}, at(6)), nil)
		check(t, "ClaimExpiryFan(lost race)", s.Packs.ClaimExpiryFan(ctx, tenant, pending.PackID, time.Time{}, at(7)), hub.ErrConflict)
		check(t, "ClaimExpiryFan(redrive)", s.Packs.ClaimExpiryFan(ctx, tenant, pending.PackID, at(6), at(8)), nil)
		got, err := s.Packs.GetPack(ctx, tenant, pending.PackID)
		check(t, "GetPack", err, nil)
		if !got.ExpiryFannedAt.Equal(at(8)) {
			t.Fatalf("ExpiryFannedAt = %v, want %v", got.ExpiryFannedAt, at(8))
		}
	})
	t.Run("ok/lane beats", func(t *testing.T) {
		check(t, "BeatLane(0)", s.Packs.BeatLane(ctx, tenant, pending.PackID, 0, at(10)), nil)
		check(t, "BeatLane(7)", s.Packs.BeatLane(ctx, tenant, pending.PackID, 7, at(11)), nil)
		check(t, "BeatLane(0 again)", s.Packs.BeatLane(ctx, tenant, pending.PackID, 0, at(12)), nil)
		got, err := s.Packs.GetPack(ctx, tenant, pending.PackID)
		check(t, "GetPack", err, nil)
		if len(got.LaneBeats) != 2 || !got.LaneBeats[0].Equal(at(12)) || !got.LaneBeats[7].Equal(at(11)) {
			t.Fatalf("LaneBeats = %v, want 0 at %v and 7 at %v", got.LaneBeats, at(12), at(11))
		}
	})
	t.Run("fail/finish an archived pack", func(t *testing.T) {
		check(t, "FinishPack(archived)", s.Packs.FinishPack(ctx, ready), hub.ErrConflict)
	})
}
