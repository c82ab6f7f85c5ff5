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
	})
	check(t, "CreatePack", s.Packs.CreatePack(ctx, pending), nil)
	t.Run("fail/pending pack", func(t *testing.T) {
		check(t, "MarkArchived(pending)", s.Packs.MarkArchived(ctx, tenant, pending.PackID, at(4), at(99)), hub.ErrConflict)
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
	t.Run("fail/finish an archived pack", func(t *testing.T) {
		check(t, "FinishPack(archived)", s.Packs.FinishPack(ctx, ready), hub.ErrConflict)
	})
}
