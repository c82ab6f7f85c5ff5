package hub_test

import (
	"errors"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/storetest"
)

func TestParsePeriod(t *testing.T) {
	const year = 366 * 24 * time.Hour
	tests := []struct {
		name, body string
		start, end string
	}{
		{"ok/month", `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-30T23:59:59Z"}`, "2026-04-01T00:00:00Z", "2026-04-30T23:59:59Z"},
		{"ok/offset-and-fraction", `{"period_start":"2026-04-01T02:00:00.9+02:00","period_end":"2026-04-02T00:00:00Z"}`, "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"},
		{"ok/366-days", `{"period_start":"2024-01-01T00:00:00Z","period_end":"2025-01-01T00:00:00Z"}`, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"fail/date-only", `{"period_start":"2026-04-01","period_end":"2026-04-30T23:59:59Z"}`, "", ""},
		{"fail/end-before-start", `{"period_start":"2026-04-30T00:00:00Z","period_end":"2026-04-01T00:00:00Z"}`, "", ""},
		{"fail/empty-period", `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-01T00:00:00.5Z"}`, "", ""},
		{"fail/too-long", `{"period_start":"2024-01-01T00:00:00Z","period_end":"2025-01-01T00:00:01Z"}`, "", ""},
		{"fail/missing-end", `{"period_start":"2026-04-01T00:00:00Z"}`, "", ""},
		{"fail/number", `{"period_start":1,"period_end":2}`, "", ""},
		{"fail/array", `[]`, "", ""},
		{"fail/two-objects", `{} {}`, "", ""},
		{"fail/ancient", `{"period_start":"1999-12-01T00:00:00Z","period_end":"1999-12-02T00:00:00Z"}`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, end, err := hub.ParsePeriod([]byte(tc.body), year)
			if tc.start == "" {
				var he *hub.Error
				if !errors.As(err, &he) || he.Code != hub.CodeInvalidRequest {
					t.Fatalf("ParsePeriod(%s) = %v, want invalid_request", tc.body, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := start.Format(time.RFC3339) + " " + end.Format(time.RFC3339); got != tc.start+" "+tc.end {
				t.Fatalf("ParsePeriod = %s, want %s %s", got, tc.start, tc.end)
			}
		})
	}
}

// packFx is fx with the evidence packs: the kit's in-memory archives, key
// vault and build queue, and the fixture's clock, which every wait of a
// build is on.
type packFx struct {
	*fx
	packs   *hub.Packs
	keys    *hub.Keys
	vault   *storetest.Vault
	objects *storetest.Objects
	builds  *storetest.Builds
}

func newPackFx(t *testing.T, cfg hub.PackConfig) *packFx {
	t.Helper()
	return newPackFxCore(t, cfg, app.CoreConfig{})
}

// newPackFxCore is newPackFx over a core assembled with core.
func newPackFxCore(t *testing.T, cfg hub.PackConfig, core app.CoreConfig) *packFx {
	t.Helper()
	f := &packFx{fx: newFxCfg(t, core), vault: &storetest.Vault{}, objects: storetest.NewObjects(), builds: &storetest.Builds{}}
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if err := f.core.AddPacks(app.PackPorts{Vault: f.vault, Objects: f.objects, Starter: f.builds}, cfg); err != nil {
		t.Fatal(err)
	}
	f.packs, f.keys = f.core.Packs, f.core.Keys
	return f
}

// march is the period of a March 2026 pack request.
const march = `{"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-31T23:59:59Z"}`

// request asks for a pack of March as acme's admin and takes its build
// from the queue.
func (f *packFx) request() string {
	f.t.Helper()
	v, err := f.packs.RequestPack(f.ctx, f.admin, []byte(march))
	if err != nil {
		f.t.Fatalf("request: %v", err)
	}
	if q := f.builds.Take(); len(q) != 1 || q[0] != [2]string{tenant, v.PackID} {
		f.t.Fatalf("started builds %v, want [[%s %s]]", q, tenant, v.PackID)
	}
	return v.PackID
}

// build runs the build of pack id, advancing the clock whenever the build
// waits on it, and returns the build's error and how often it waited.
func (f *packFx) build(id string) (error, int) {
	return runWaiting(f.clock, time.Second, func() error { return f.packs.BuildPack(f.ctx, tenant, id) })
}

// mustBuild builds pack id and wants it ready.
func (f *packFx) mustBuild(id string) hub.Pack {
	f.t.Helper()
	if err, _ := f.build(id); err != nil {
		f.t.Fatalf("build: %v", err)
	}
	return f.stored(id)
}

func (f *packFx) stored(id string) hub.Pack {
	f.t.Helper()
	p, err := f.store.GetPack(f.ctx, tenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// runWaiting runs fn; each time it waits on clk, clk moves on by step (or
// to the end of the wait, if that is sooner). It returns fn's error and how
// many times clk moved.
func runWaiting(clk *clocktest.Clock, step time.Duration, fn func() error) (error, int) {
	done := make(chan struct{})
	var err error
	go func() {
		err = fn()
		close(done)
	}()
	moved := 0
	for clk.Await(1, done) {
		clk.Advance(step)
		moved++
	}
	return err, moved
}

// TestBuildWaitsOnTheClock: a build waits for the tenant's lease and for
// generated_at's whole second on the injected clock, never in real time.
func TestBuildWaitsOnTheClock(t *testing.T) {
	t.Run("ok/generated_at-is-the-next-whole-second", func(t *testing.T) {
		f := newPackFx(t, hub.PackConfig{})
		id := f.request()
		f.clock.Advance(2*time.Minute + 400*time.Millisecond)
		err, waits := runWaiting(f.clock, 600*time.Millisecond, func() error { return f.packs.BuildPack(f.ctx, tenant, id) })
		if err != nil {
			t.Fatal(err)
		}
		if p := f.stored(id); waits != 1 || !p.GeneratedAt.Equal(t0.Add(2*time.Minute+time.Second)) {
			t.Fatalf("generated_at %v after %d waits on the clock, want %v after 1", p.GeneratedAt, waits, t0.Add(2*time.Minute+time.Second))
		}
	})
	t.Run("fail/another-build-holds-the-lease-past-the-wait", func(t *testing.T) {
		f := newPackFx(t, hub.PackConfig{LeaseWait: 5 * time.Second})
		id := f.request()
		if _, err := f.store.AcquireBuild(f.ctx, tenant, "pk_other", t0.Add(15*time.Minute), t0); err != nil {
			t.Fatal(err)
		}
		err, waits := f.build(id)
		if !errors.Is(err, hub.ErrPackFailed) {
			t.Fatalf("build: %v, want %v", err, hub.ErrPackFailed)
		}
		// One wait a second, until the clock is past the five seconds.
		if p := f.stored(id); waits != 6 || p.Reason != "build: another pack of this tenant is still being built; request the pack again later" {
			t.Fatalf("%d waits, pack %+v", waits, p)
		}
	})
	t.Run("ok/the-lease-ends-during-the-wait", func(t *testing.T) {
		f := newPackFx(t, hub.PackConfig{})
		id := f.request()
		if _, err := f.store.AcquireBuild(f.ctx, tenant, "pk_other", t0.Add(10*time.Second), t0); err != nil {
			t.Fatal(err)
		}
		err, waits := f.build(id)
		if p := f.stored(id); err != nil || waits != 11 || p.Status != hub.PackReady || !p.GeneratedAt.Equal(t0.Add(11*time.Second)) {
			t.Fatalf("build after %d waits: %v; pack %+v", waits, err, p)
		}
	})
}
