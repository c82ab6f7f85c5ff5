package hub_test

import (
	"errors"
	"slices"
	"strconv"
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
	t.Run("ok/the run after starts one lane per shard", func(t *testing.T) {
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		q := f.builds.TakeExpiries()
		if len(q) != f.store.ExpiryShards() {
			t.Fatalf("the run started %d expiry parts, want one per shard (%d)", len(q), f.store.ExpiryShards())
		}
		for i, task := range q {
			if task.TenantID != tenant || task.PackID != march || task.Cursor != "" || task.Part.Shard != i ||
				!task.Part.Day.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("started %+v, want March 1 of shard %d of %s %s, from the start", task, i, tenant, march)
			}
		}
		if e := f.expiry(in); !e.IsZero() {
			t.Fatalf("batch expires at %v before its part ran", e)
		}
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		if again := f.builds.TakeExpiries(); len(again) != 0 {
			t.Fatalf("a run while the parts are under way started %d again", len(again))
		}
		f.builds.Restore(q)
		if n := f.expireAll(f.core.Archive); n != 31*f.store.ExpiryShards() {
			t.Fatalf("the lanes ran %d parts, want every day of every shard (%d)", n, 31*f.store.ExpiryShards())
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
		if ev := f.store.Audited(tenant, "pack_archived"); len(ev) != 1 || ev[0].Detail["batches"] != "1" || ev[0].Detail["parts"] != strconv.Itoa(31*f.store.ExpiryShards()) {
			t.Fatalf("pack_archived events %+v, want one of 1 batch over every part", ev)
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
	if q := f.builds.TakeExpiries(); len(q) != 0 {
		t.Fatalf("the run started %d expiry parts without a hot window", len(q))
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
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.expireAll(f.core.Archive) // archives March: its batches expire in 47 days
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

// expireAll runs every queued expiry part, and the parts they start,
// until none is left; it returns how many ran. Two parts of one shard are
// never queued at once (a lane per shard).
func (f *packFx) expireAll(a *hub.Archive) int {
	f.t.Helper()
	n := 0
	for q := f.builds.TakeExpiries(); len(q) > 0; q = f.builds.TakeExpiries() {
		shards := map[int]bool{}
		for _, task := range q {
			if shards[task.Part.Shard] {
				f.t.Fatalf("two parts of shard %d under way at once: %+v", task.Part.Shard, q)
			}
			shards[task.Part.Shard] = true
			if err := a.Expire(f.ctx, task); err != nil {
				f.t.Fatalf("Expire(%s %s): %v", task.PackID, task.Part.Name(), err)
			}
			n++
		}
	}
	return n
}

// readyMarch is archiveFx with March's monthly pack of acme ready and its
// expiry lanes started by a run (queued), none run yet.
func readyMarch(t *testing.T) (*packFx, hub.Pack, hub.StoredBatch) {
	f, in, _ := archiveFx(t)
	id := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.builds.Take()
	pk := f.mustBuild(id)
	if err := f.run(); err != nil {
		t.Fatal(err)
	}
	return f, pk, in
}

// TestArchiveExpireBounded: a part stops when its budget on the hub's clock
// is spent and starts itself again with its cursor; the rest of the part is
// done by that task, and the pack is archived only after it.
func TestArchiveExpireBounded(t *testing.T) {
	f, pk, in := readyMarch(t)
	a, err := hub.NewArchive(f.packs, hub.ArchiveDeps{Tenants: f.store, Expirer: f.store, Archiver: f.store, Starter: f.builds},
		hub.ArchiveConfig{Page: 1, Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Three batches of one agent on March 8: one part, three entries.
	var eight []hub.StoredBatch
	for _, k := range []string{"u#8a", "u#8b", "u#8c"} {
		b := in
		b.Key, b.SHA, b.Days = k, k, []string{"2026-03-08"}
		b.MinTS, b.MaxTS = time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC)
		if err := f.store.PutBatch(f.ctx, b); err != nil {
			t.Fatal(err)
		}
		eight = append(eight, b)
	}
	var resumed []hub.ExpiryTask
	expired := func() int {
		n := 0
		for _, b := range eight {
			if !f.expiry(b).IsZero() {
				n++
			}
		}
		return n
	}
	for q := f.builds.TakeExpiries(); len(q) > 0; q = f.builds.TakeExpiries() {
		var next []hub.ExpiryTask
		for _, task := range q {
			if task.Part.Day.Day() == 8 && task.Cursor == "" {
				// The part's first page takes two minutes on the hub's clock.
				f.store.BeforeNext("ExpirePart", func() { f.clock.Advance(2 * time.Minute) })
			}
			if err := a.Expire(f.ctx, task); err != nil {
				t.Fatal(err)
			}
			for _, s := range f.builds.TakeExpiries() {
				if s.Cursor != "" {
					resumed = append(resumed, s)
					if s.Marked != 1 || s.Part.Day.Day() != 8 || s.Part != task.Part {
						t.Fatalf("started again %+v after %+v, want March 8 with its cursor and 1 batch marked", s, task)
					}
					if n := expired(); n != 1 {
						t.Fatalf("%d of the part's 3 batches have an expiry after one page of 1, want 1", n)
					}
					if got := f.stored(pk.PackID); !got.ArchivedAt.IsZero() {
						t.Fatal("the pack is archived while a part is still under way")
					}
				}
				next = append(next, s)
			}
		}
		f.builds.Restore(next)
	}
	if len(resumed) != 1 {
		t.Fatalf("parts started again with a cursor: %+v, want one", resumed)
	}
	if n := expired(); n != 3 || f.expiry(in).IsZero() {
		t.Fatalf("%d of March 8's 3 batches have an expiry after the pass (March 10's: %v), want all", n, f.expiry(in))
	}
	if got := f.stored(pk.PackID); got.ArchivedAt.IsZero() {
		t.Fatal("the pack is not archived after its last part")
	}
	if ev := f.store.Audited(tenant, "pack_archived"); len(ev) != 1 || ev[0].Detail["batches"] != "4" {
		t.Fatalf("pack_archived events %+v, want one of 4 batches", ev)
	}
}

// TestArchiveExpireCrash: a crash at any write of the pass (the fault
// wrapper fails the call) leaves the pack not archived and its batches at
// worst without expiry; the run after Redrive starts again only the lane
// that stopped, from its first part not done, and the pass ends archived.
func TestArchiveExpireCrash(t *testing.T) {
	for _, method := range []string{"ExpirePart", "MarkPartExpired", "MarkArchived"} {
		t.Run("ok/"+method, func(t *testing.T) {
			f, pk, in := readyMarch(t)
			ran, failed := 0, []hub.ExpiryTask{}
			for q := f.builds.TakeExpiries(); len(q) > 0; q = f.builds.TakeExpiries() {
				for _, task := range q {
					if ran++; ran == 10 && method != "MarkArchived" || ran == 1 && method == "MarkArchived" {
						f.store.FailNext(method, errors.New("function died"))
					}
					if err := f.core.Archive.Expire(f.ctx, task); err != nil {
						failed = append(failed, task)
					}
				}
			}
			if len(failed) != 1 {
				t.Fatalf("%d parts failed, want the one crashed", len(failed))
			}
			if got := f.stored(pk.PackID); !got.ArchivedAt.IsZero() {
				t.Fatal("the pack is archived though a part crashed")
			}
			if err := f.run(); err != nil {
				t.Fatal(err)
			}
			if method != "MarkArchived" {
				if q := f.builds.TakeExpiries(); len(q) != 0 {
					t.Fatalf("the run before Redrive started %d parts again", len(q))
				}
				f.clock.Advance(21 * time.Hour)
				if err := f.run(); err != nil {
					t.Fatal(err)
				}
				q := f.builds.TakeExpiries()
				if len(q) != 1 || q[0].Part != failed[0].Part || q[0].Cursor != "" {
					t.Fatalf("the run after Redrive started %+v, want only the crashed part %s from the start", q, failed[0].Part.Name())
				}
				f.builds.Restore(q)
				f.expireAll(f.core.Archive)
			}
			if got := f.stored(pk.PackID); got.ArchivedAt.IsZero() {
				t.Fatal("the pack is not archived after the rerun")
			}
			if f.expiry(in).IsZero() {
				t.Fatal("the packed batch has no expiry after the rerun")
			}
		})
	}
	t.Run("ok/a retried part that is recorded only starts the next", func(t *testing.T) {
		f, pk, _ := readyMarch(t)
		task := f.builds.TakeExpiries()[0]
		f.builds.Fail(errors.New("lambda down"))
		if err := f.core.Archive.Expire(f.ctx, task); err == nil {
			t.Fatal("a part that cannot start the next = nil, want an error (Lambda retries the event)")
		}
		if _, ok := f.stored(pk.PackID).ExpiredParts[task.Part.Name()]; !ok {
			t.Fatal("the part is not recorded")
		}
		f.builds.Fail(nil)
		f.store.FailNext("ExpirePart", errors.New("a recorded part is not done again"))
		if err := f.core.Archive.Expire(f.ctx, task); err != nil {
			t.Fatalf("retry of a recorded part: %v", err)
		}
		if q := f.builds.TakeExpiries(); len(q) != 1 || q[0].Part.Shard != task.Part.Shard || q[0].Part.Day.Day() != 2 {
			t.Fatalf("the retry started %+v, want March 2 of shard %d", q, task.Part.Shard)
		}
	})
	t.Run("ok/a lane still under way is not started again", func(t *testing.T) {
		// A lane of a large tenant outlives Redrive: its invocations beat it.
		f, _, _ := readyMarch(t)
		q := f.builds.TakeExpiries()
		f.clock.Advance(19 * time.Hour)
		if err := f.core.Archive.Expire(f.ctx, q[0]); err != nil { // shard 0's March 1: beats, then starts March 2
			t.Fatal(err)
		}
		lane0 := f.builds.TakeExpiries()
		f.clock.Advance(2 * time.Hour) // 21 hours after the claim, 2 after shard 0's beat
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		again := f.builds.TakeExpiries()
		if len(again) != f.store.ExpiryShards()-1 {
			t.Fatalf("the run after Redrive started %+v, want the %d silent lanes", again, f.store.ExpiryShards()-1)
		}
		for _, task := range again {
			if task.Part.Shard == q[0].Part.Shard {
				t.Fatalf("the run started %s again while its lane is under way (%+v)", task.Part.Name(), lane0)
			}
		}
	})
	t.Run("fail/beat fails: nothing expires", func(t *testing.T) {
		f, _, in := readyMarch(t)
		q := f.builds.TakeExpiries()
		f.store.FailNext("BeatLane", errors.New("throttled"))
		if err := f.core.Archive.Expire(f.ctx, q[0]); err == nil {
			t.Fatal("Expire whose beat failed = nil, want an error")
		}
		if f.store.Asked(q[0].Part.Name()) || !f.expiry(in).IsZero() {
			t.Fatal("a part whose beat failed went on to expire")
		}
	})
	t.Run("fail/claim fails: nothing starts", func(t *testing.T) {
		f, _, _ := archiveFx(t)
		id := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		f.builds.Take()
		f.mustBuild(id)
		f.store.FailNext("ClaimExpiryFan", errors.New("throttled"))
		if err := f.run(); err == nil {
			t.Fatal("a run whose claim failed = nil, want an error")
		}
		if q := f.builds.TakeExpiries(); len(q) != 0 {
			t.Fatalf("a run whose claim failed started %d parts", len(q))
		}
	})
	t.Run("fail/start fails: the next run after Redrive starts them", func(t *testing.T) {
		f, _, _ := archiveFx(t)
		id := hub.MonthlyPackID(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1)
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		f.builds.Take()
		f.mustBuild(id)
		f.builds.Fail(errors.New("lambda down"))
		if err := f.run(); err == nil {
			t.Fatal("a run whose parts cannot start = nil, want an error")
		}
		f.builds.Fail(nil)
		f.clock.Advance(21 * time.Hour)
		if err := f.run(); err != nil {
			t.Fatal(err)
		}
		if n := f.expireAll(f.core.Archive); n != 31*f.store.ExpiryShards() {
			t.Fatalf("the run after Redrive ran %d parts, want every one", n)
		}
		if f.stored(id).ArchivedAt.IsZero() {
			t.Fatal("not archived")
		}
	})
}

// TestArchiveExpireRefused: a part of a pack that is not ready, not a
// monthly pack, or outside its period, expires nothing.
func TestArchiveExpireRefused(t *testing.T) {
	f, pk, in := readyMarch(t)
	tasks := f.builds.TakeExpiries()
	jan := hub.MonthlyPackID(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1) // pending
	asked := f.request()                                                     // March, ready, not monthly
	f.mustBuild(asked)
	bad := []hub.ExpiryTask{
		{TenantID: tenant, PackID: asked, Part: tasks[0].Part},
		{TenantID: tenant, PackID: jan, Part: hub.ExpiryPart{Day: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}},
		{TenantID: tenant, PackID: pk.PackID, Part: hub.ExpiryPart{Day: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}},
		{TenantID: tenant, PackID: pk.PackID, Part: hub.ExpiryPart{Day: tasks[0].Part.Day, Shard: f.store.ExpiryShards()}},
		{TenantID: tenant, PackID: "pk_nothere", Part: tasks[0].Part},
		{TenantID: otherTenant, PackID: pk.PackID, Part: tasks[0].Part},
	}
	for i, task := range bad {
		t.Run("fail/"+strconv.Itoa(i), func(t *testing.T) {
			if err := f.core.Archive.Expire(f.ctx, task); err == nil {
				t.Fatalf("Expire(%+v) = nil, want a refusal", task)
			}
		})
	}
	if e := f.expiry(in); !e.IsZero() {
		t.Fatalf("a refused part gave a batch expiry %v", e)
	}
	if q := f.builds.TakeExpiries(); len(q) != 0 {
		t.Fatalf("refused parts started %d", len(q))
	}
}
