package hub_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/hub"
)

// archiveFx is a pack fixture with a hot window of 45 days, and two batches
// of acme put straight into the store with March records: one received in
// March, one received within the margin before the month's pack is built.
func archiveFx(t *testing.T) (*packFx, hub.StoredBatch, hub.StoredBatch) {
	f := newPackFx(t, hub.PackConfig{HotDays: 45})
	in := hub.StoredBatch{TenantID: tenant, AgentID: "ag_arch", Key: "u#in", SHA: "11", Records: 1,
		Body:  []byte(`[{"type":"metric","ts":"2026-03-10T00:00:00Z"}]`),
		MinTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), MaxTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
		Days: []string{"2026-03-10"}, ReceivedAt: time.Date(2026, 3, 10, 0, 0, 1, 0, time.UTC)}
	late := in
	late.Key, late.SHA, late.ReceivedAt = "u#late", "22", t0.Add(-30*time.Minute) // within the margin before the build
	for _, b := range []hub.StoredBatch{in, late} {
		if err := f.store.PutBatch(f.ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return f, in, late
}

func (f *packFx) expiry(b hub.StoredBatch) time.Time {
	f.t.Helper()
	got, err := f.store.GetBatch(f.ctx, b.AgentID, b.Key)
	if err != nil {
		f.t.Fatal(err)
	}
	return got.ExpireAt
}

func (f *packFx) run() error {
	err, _ := runWaiting(f.clock, time.Second, func() error { return f.core.Archive.Run(f.ctx) })
	return err
}

// TestArchiveExpiresOnlyAfterPacked: the archive starts each tenant's
// monthly pack once, gives the batches an expiry only after the pack is
// ready, and only to the batches it holds.
func TestArchiveExpiresOnlyAfterPacked(t *testing.T) {
	f, in, late := archiveFx(t)
	march := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
	if err := f.run(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	started := f.builds.Take()
	if !slices.Contains(started, [2]string{tenant, march}) || !slices.Contains(started, [2]string{otherTenant, march}) || len(started) != 6 {
		t.Fatalf("first run started %v, want the packs of January to March of both tenants, %s among them", started, march)
	}
	t.Run("fail/no expiry while the pack is pending", func(t *testing.T) {
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		if again := f.builds.Take(); len(again) != 0 {
			t.Fatalf("second run started %v again, want nothing while the builds are pending", again)
		}
		if e := f.expiry(in); !e.IsZero() {
			t.Fatalf("batch expires at %v before its pack is ready", e)
		}
	})
	pk := f.mustBuild(march)
	if pk.Status != hub.PackReady {
		t.Fatalf("March pack is %s: %s", pk.Status, pk.Reason)
	}
	t.Run("fail/no expiry until the run after the pack is ready", func(t *testing.T) {
		if e := f.expiry(in); !e.IsZero() {
			t.Fatalf("batch expires at %v before a run saw its pack ready", e)
		}
	})
	t.Run("ok/the run after gives the packed batch its expiry", func(t *testing.T) {
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		_, want := hub.ExpiryOf(pk.GeneratedAt, time.Hour, 45)
		if e := f.expiry(in); !e.Equal(want) {
			t.Fatalf("batch in the pack expires at %v, want %v", e, want)
		}
		if e := f.expiry(late); !e.IsZero() {
			t.Fatalf("batch received within the margin before the pack expires at %v, want never", e)
		}
		if a := f.stored(march).ArchivedAt; a.IsZero() {
			t.Fatal("the pack is not marked archived")
		}
		if again := f.builds.Take(); len(again) != 0 {
			t.Fatalf("the run started %v, want nothing", again)
		}
	})
}

// TestArchiveRetriesFailedBuild: a build that fails to start, or is lost,
// is retried under the next attempt's id by the next run.
func TestArchiveRetriesFailedBuild(t *testing.T) {
	f, in, _ := archiveFx(t)
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.builds.Fail(errors.New("lambda down"))
	if err := f.run(); err == nil {
		t.Fatal("a run whose builds cannot start = nil, want an error")
	}
	if pk := f.stored(hub.MonthlyPackID(march, 1)); pk.Status != hub.PackFailed {
		t.Fatalf("first attempt is %s, want failed", pk.Status)
	}
	f.builds.Fail(nil)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	r2 := hub.MonthlyPackID(march, 2)
	if q := f.builds.Take(); !slices.Contains(q, [2]string{tenant, r2}) {
		t.Fatalf("second run started %v, want %s", q, r2)
	}
	// r2's build never runs (a crashed function): once it is lost, r3.
	f.clock.Advance(time.Hour)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	r3 := hub.MonthlyPackID(march, 3)
	if q := f.builds.Take(); !slices.Contains(q, [2]string{tenant, r3}) {
		t.Fatalf("run after the lost build started %v, want %s", q, r3)
	}
	if pk := f.stored(r2); pk.Status != hub.PackFailed {
		t.Fatalf("lost build is %s, want failed", pk.Status)
	}
	if e := f.expiry(in); !e.IsZero() {
		t.Fatalf("batch expires at %v though no pack is ready", e)
	}
}

// TestArchiveNoHotWindow: without MONSYS_HOT_DAYS nothing ever expires.
func TestArchiveNoHotWindow(t *testing.T) {
	f := newPackFx(t, hub.PackConfig{})
	b := hub.StoredBatch{TenantID: tenant, AgentID: "ag_arch", Key: "u#in", SHA: "11", Records: 1, Body: []byte(`[]`),
		MinTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), MaxTS: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
		Days: []string{"2026-03-10"}, ReceivedAt: time.Date(2026, 3, 10, 0, 0, 1, 0, time.UTC)}
	if err := f.store.PutBatch(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	march := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.builds.Take()
	f.mustBuild(march)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	if e := f.expiry(b); !e.IsZero() {
		t.Fatalf("batch expires at %v without a hot window", e)
	}
}

// TestRequestPackExpiredInsideWindow: a period inside today's hot window
// whose month was archived under a shorter one (its batches expire within
// a day) is refused, not built partial.
func TestRequestPackExpiredInsideWindow(t *testing.T) {
	f, _, _ := archiveFx(t)
	march := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.builds.Take()
	f.mustBuild(march)
	if err := f.run(); err != nil { // archives March: its batches expire in 47 days
		t.Fatal(err)
	}
	inMarch := `{"period_start":"2026-03-20T00:00:00Z","period_end":"2026-03-25T00:00:00Z"}`
	t.Run("ok/archived under this window", func(t *testing.T) {
		v, err := f.packs.RequestPack(f.ctx, f.admin, []byte(inMarch))
		if err != nil || v.Status != hub.PackPending {
			t.Fatalf("RequestPack = %+v, %v; want a pending pack", v, err)
		}
		f.builds.Take()
	})
	t.Run("fail/archived under a shorter window", func(t *testing.T) {
		f.clock.Advance(46 * 24 * time.Hour) // 2026-05-17: window from 2026-04-02, as if it were 92 days, March is in
		if err := f.core.AddPacks(app.PackPorts{Vault: f.vault, Objects: f.objects, Starter: f.builds},
			hub.PackConfig{HotDays: 92, TempDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		_, err := f.core.Packs.RequestPack(f.ctx, f.admin, []byte(inMarch))
		wantCode(t, err, hub.CodeInvalidRequest)
	})
}
