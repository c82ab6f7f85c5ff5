package storetest

import (
	"crypto/ed25519"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

func normPack(p hub.Pack) hub.Pack {
	utc(&p.PeriodStart, &p.PeriodEnd, &p.RequestedAt, &p.GeneratedAt, &p.FinishedAt, &p.ArchivedAt, &p.BatchesExpireAt, &p.ExpiryFannedAt)
	return p
}

func normHead(h hub.PackHead) hub.PackHead {
	utc(&h.LeaseUntil)
	return h
}

// testPacks holds the pack records to their conditions: a pack is created
// once, finished once (ready or failed) while pending, and read only by
// its tenant; the tenant's head item is no pack.
func testPacks(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-packs"
	pending := hub.Pack{TenantID: tenant, PackID: "pk_contract1", Status: hub.PackPending,
		PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), RequestedAt: at(1)}
	ready := pending
	ready.Status, ready.GeneratedAt, ready.FinishedAt = hub.PackReady, at(2), at(3)
	ready.ObjectKey, ready.ObjectVersion, ready.FileName = "packs/t-packs/pk_contract1/evidence.tar.gz", "v1", "evidence.tar.gz"
	ready.Size, ready.Records, ready.ManifestSHA256, ready.SigningKeyID = 12345, 678, hash("manifest"), "sk_contract"
	ready.Previous = &pack.PackRef{PackID: "pk_contract0", ManifestSHA256: hash("previous")}
	failed := hub.Pack{TenantID: tenant, PackID: "pk_contract2", Status: hub.PackPending, PeriodStart: pending.PeriodStart,
		PeriodEnd: pending.PeriodEnd, RequestedAt: at(4)}

	get := func(t *testing.T, want hub.Pack) {
		t.Helper()
		got, err := s.Packs.GetPack(ctx, want.TenantID, want.PackID)
		check(t, "GetPack("+want.PackID+")", err, nil)
		same(t, "GetPack("+want.PackID+")", normPack(got), normPack(want))
	}
	steps := []struct {
		name  string
		run   func(t *testing.T)
		check func(t *testing.T)
	}{
		{"fail/get unknown", func(t *testing.T) {
			_, err := s.Packs.GetPack(ctx, tenant, pending.PackID)
			check(t, "GetPack(unknown)", err, hub.ErrNotFound)
		}, nil},
		{"ok/create", func(t *testing.T) { check(t, "CreatePack", s.Packs.CreatePack(ctx, pending), nil) },
			func(t *testing.T) { get(t, pending) }},
		{"fail/create again", func(t *testing.T) {
			again := pending
			again.RequestedAt = at(99)
			check(t, "CreatePack(again)", s.Packs.CreatePack(ctx, again), hub.ErrConflict)
		}, func(t *testing.T) { get(t, pending) }},
		{"fail/another tenant's pack is not found", func(t *testing.T) {
			_, err := s.Packs.GetPack(ctx, "t-packs-b", pending.PackID)
			check(t, "GetPack(other tenant)", err, hub.ErrNotFound)
		}, nil},
		{"fail/finish an unknown pack", func(t *testing.T) {
			unknown := ready
			unknown.PackID = "pk_contract9"
			check(t, "FinishPack(unknown)", s.Packs.FinishPack(ctx, unknown), hub.ErrConflict)
			_, err := s.Packs.GetPack(ctx, tenant, unknown.PackID)
			check(t, "GetPack(unknown)", err, hub.ErrNotFound)
		}, nil},
		{"ok/finish ready", func(t *testing.T) { check(t, "FinishPack(ready)", s.Packs.FinishPack(ctx, ready), nil) },
			func(t *testing.T) { get(t, ready) }},
		{"fail/finish a pack that is not pending", func(t *testing.T) {
			late := ready
			late.Status, late.Reason = hub.PackFailed, "build: late"
			check(t, "FinishPack(again)", s.Packs.FinishPack(ctx, late), hub.ErrConflict)
		}, func(t *testing.T) { get(t, ready) }},
		{"ok/finish failed, with its reason", func(t *testing.T) {
			check(t, "CreatePack", s.Packs.CreatePack(ctx, failed), nil)
			failed.Status, failed.Reason, failed.FinishedAt = hub.PackFailed, "build: the build did not finish; request the pack again", at(5)
			check(t, "FinishPack(failed)", s.Packs.FinishPack(ctx, failed), nil)
		}, func(t *testing.T) { get(t, failed); get(t, ready) }},
		{"fail/the head item is no pack", func(t *testing.T) {
			_, err := s.Packs.AcquireBuild(ctx, tenant, pending.PackID, at(60), at(1))
			check(t, "AcquireBuild", err, nil)
			_, err = s.Packs.GetPack(ctx, tenant, "_head")
			check(t, "GetPack(_head)", err, hub.ErrNotFound)
		}, nil},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			st.run(t)
			if st.check != nil {
				st.check(t)
			}
		})
		if !ok {
			return
		}
	}
}

// testBuildLease holds a tenant's build lease and chain head to their
// conditions: one holder at a time until its lease ends, only the holder
// releases, and a release may move the chain.
func testBuildLease(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-lease"
	first := &pack.PackRef{PackID: "pk_lease1", ManifestSHA256: hash("first")}
	steps := []struct {
		name     string
		acquire  string // the pack that acquires; "" for a release
		release  string
		last     *pack.PackRef
		until    time.Time
		now      time.Time
		want     error
		wantHead hub.PackHead // of a successful acquire
	}{
		{name: "ok/acquire with no head", acquire: "pk_lease1", until: at(60), now: at(1),
			wantHead: hub.PackHead{Building: "pk_lease1", LeaseUntil: at(60)}},
		{name: "ok/the holder acquires again", acquire: "pk_lease1", until: at(70), now: at(2),
			wantHead: hub.PackHead{Building: "pk_lease1", LeaseUntil: at(70)}},
		{name: "fail/another pack while the lease holds", acquire: "pk_lease2", until: at(90), now: at(30), want: hub.ErrConflict},
		{name: "fail/another pack as the lease ends", acquire: "pk_lease2", until: at(90), now: at(70), want: hub.ErrConflict},
		{name: "fail/release by another pack", release: "pk_lease2", want: hub.ErrConflict},
		{name: "ok/the holder releases and moves the chain", release: "pk_lease1", last: first},
		{name: "fail/release again", release: "pk_lease1", want: hub.ErrConflict},
		{name: "ok/the next build sees the chain", acquire: "pk_lease2", until: at(200), now: at(100),
			wantHead: hub.PackHead{Last: first, Building: "pk_lease2", LeaseUntil: at(200)}},
		{name: "ok/a lease that ended is taken over", acquire: "pk_lease3", until: at(300), now: at(201),
			wantHead: hub.PackHead{Last: first, Building: "pk_lease3", LeaseUntil: at(300)}},
		{name: "ok/a release without a chain keeps the chain", release: "pk_lease3"},
		{name: "ok/and the next build sees it still", acquire: "pk_lease4", until: at(400), now: at(301),
			wantHead: hub.PackHead{Last: first, Building: "pk_lease4", LeaseUntil: at(400)}},
		{name: "ok/another tenant has its own lease", acquire: "pk_lease5", until: at(400), now: at(301)},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			tn := tenant
			if strings.Contains(st.name, "another tenant") {
				tn = "t-lease-b"
				st.wantHead = hub.PackHead{Building: st.acquire, LeaseUntil: st.until}
			}
			if st.acquire == "" {
				check(t, "ReleaseBuild("+st.release+")", s.Packs.ReleaseBuild(ctx, tn, st.release, st.last), st.want)
				return
			}
			head, err := s.Packs.AcquireBuild(ctx, tn, st.acquire, st.until, st.now)
			check(t, "AcquireBuild("+st.acquire+")", err, st.want)
			if st.want == nil {
				same(t, "AcquireBuild("+st.acquire+")", normHead(head), normHead(st.wantHead))
			}
		})
		if !ok {
			return
		}
	}
	t.Run("ok/20 builds, one lease", func(t *testing.T) {
		race(t, 20, func(i int) error {
			_, err := s.Packs.AcquireBuild(ctx, "t-lease-race", "pk_race"+strconv.Itoa(i), at(60), at(1))
			return err
		})
	})
}

// testKeys holds a tenant's signing-key record to its one condition: a
// write of version v only over version v-1 (v 1: no record), the pending
// slot kept with or without its reference, the lineage and references kept
// exactly.
func testKeys(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-keys"
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	l, err := pack.NewLineage("sk_a", pub, at(1))
	check(t, "NewLineage", err, nil)
	refs := map[string]string{"sk_a": "arn:aws:kms:x:1:key/a"}
	steps := []struct {
		name string
		rec  hub.KeyRecord
		want error
	}{
		{"ok/claim", hub.KeyRecord{TenantID: tenant, Version: 1, Refs: map[string]string{}, Pending: &hub.PendingKey{KeyID: "sk_a", At: at(1)}}, nil},
		{"fail/second claim of the same version", hub.KeyRecord{TenantID: tenant, Version: 1, Refs: map[string]string{},
			Pending: &hub.PendingKey{KeyID: "sk_b", At: at(1)}}, hub.ErrConflict},
		{"ok/recorded", hub.KeyRecord{TenantID: tenant, Version: 2, Refs: map[string]string{},
			Pending: &hub.PendingKey{KeyID: "sk_a", Ref: refs["sk_a"], At: at(1)}}, nil},
		{"fail/stale version", hub.KeyRecord{TenantID: tenant, Version: 2, Refs: map[string]string{}}, hub.ErrConflict},
		{"fail/a version ahead", hub.KeyRecord{TenantID: tenant, Version: 5, Refs: map[string]string{}}, hub.ErrConflict},
		{"ok/in the lineage", hub.KeyRecord{TenantID: tenant, Version: 3, Lineage: l, Refs: refs}, nil},
	}
	t.Run("fail/get unknown", func(t *testing.T) {
		_, err := s.Keys.GetKeys(ctx, tenant)
		check(t, "GetKeys(unknown)", err, hub.ErrNotFound)
	})
	var last hub.KeyRecord
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			check(t, "PutKeys", s.Keys.PutKeys(ctx, st.rec), st.want)
			if st.want == nil {
				last = st.rec
			}
			got, err := s.Keys.GetKeys(ctx, tenant)
			check(t, "GetKeys", err, nil)
			if got.Pending != nil {
				utc(&got.Pending.At)
			}
			if len(got.Lineage) == 0 {
				got.Lineage = nil
			}
			same(t, "GetKeys", got, last)
		})
		if !ok {
			return
		}
	}
	t.Run("ok/10 first writes, one record", func(t *testing.T) {
		race(t, 10, func(i int) error {
			return s.Keys.PutKeys(ctx, hub.KeyRecord{TenantID: "t-keys-race", Version: 1, Refs: map[string]string{"k": strconv.Itoa(i)}})
		})
	})
}
