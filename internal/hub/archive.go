package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/pack"
)

// The hot window and the monthly archive (docs/dynamodb.md, "Hot window";
// docs/packs.md, "Monthly packs"). Batches stay in the store with no expiry
// until a ready monthly pack of their tenant holds them; only then does
// Archive give them one, HotDays after the month, so that the store stops
// growing while a body never leaves it before a pack under Object Lock
// holds it. A pack asked for a period that starts before the hot window is
// served from the month's archived pack, or refused.

// TenantLister lists every tenant (the archive's run).
type TenantLister interface {
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// ArchiveDeps are what the monthly archive calls besides the packs.
type ArchiveDeps struct {
	Tenants  TenantLister
	Expirer  BatchExpirer
	Archiver PackArchiver
}

// ArchiveConfig tunes the monthly archive. Zero values take the defaults.
type ArchiveConfig struct {
	// Months is how many ended months each run looks at, the last first:
	// a month whose builds keep failing is retried by the runs of the
	// following months too. Default 3.
	Months int
	// Attempts is how many builds of a tenant's month the runs may start in
	// all before they give up on the month (and log it). Default 5, at most
	// maxMonthlyAttempts.
	Attempts int
	// Margin is how long before its pack's generated_at a batch must have
	// been received to be given an expiry: longer than any ingest request
	// lives (SPEC 4.2's lease), so that the pack surely read it. Default 1h.
	Margin time.Duration
}

// Archive builds each tenant's monthly pack once the month is over, and
// then gives the batches it holds their expiry.
type Archive struct {
	packs    *Packs
	tenants  TenantLister
	expirer  BatchExpirer
	archiver PackArchiver
	cfg      ArchiveConfig
}

// NewArchive returns the monthly archive over p.
func NewArchive(p *Packs, d ArchiveDeps, cfg ArchiveConfig) (*Archive, error) {
	if p == nil || d.Tenants == nil || d.Expirer == nil || d.Archiver == nil {
		return nil, errors.New("hub: the archive needs the packs and every one of ArchiveDeps")
	}
	if cfg.Months <= 0 {
		cfg.Months = 3
	}
	if cfg.Attempts <= 0 || cfg.Attempts > maxMonthlyAttempts {
		cfg.Attempts = 5
	}
	if cfg.Margin <= 0 {
		cfg.Margin = time.Hour
	}
	return &Archive{packs: p, tenants: d.Tenants, expirer: d.Expirer, archiver: d.Archiver, cfg: cfg}, nil
}

// maxMonthlyAttempts bounds the monthly packs of a tenant's month.
const maxMonthlyAttempts = 10

// MonthlyPackID is the id of a tenant's attempt-th monthly pack of the
// month that starts at month: deterministic, so that two runs (or a run
// and its retry) find the same pack instead of building another.
func MonthlyPackID(month time.Time, attempt int) string {
	return "pk_m" + month.UTC().Format("200601") + "r" + strconv.Itoa(attempt)
}

// monthOf returns the bounds of the calendar month (UTC) that holds t, as
// a pack's period: the first second and the last.
func monthOf(t time.Time) (time.Time, time.Time) {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0).Add(-time.Second)
}

// Run does one scheduled run: for every tenant and each of the last Months
// ended months, it starts the month's pack unless one is ready or being
// built, fails a build that is lost, and gives the batches of a ready pack
// their expiry once. A tenant's failure does not stop the others; the
// errors are joined.
func (a *Archive) Run(ctx context.Context) error {
	tenants, err := a.tenants.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("archive: list tenants: %w", err)
	}
	now := a.packs.env.now()
	this, _ := monthOf(now)
	var errs []error
	for _, t := range tenants {
		for i := a.cfg.Months; i >= 1; i-- {
			if err := a.month(ctx, t.TenantID, this.AddDate(0, -i, 0), now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// month brings one tenant's month one step on.
func (a *Archive) month(ctx context.Context, tenantID string, month, now time.Time) error {
	p := a.packs
	for k := 1; k <= a.cfg.Attempts; k++ {
		id := MonthlyPackID(month, k)
		pk, err := p.store.GetPack(ctx, tenantID, id)
		if errors.Is(err, ErrNotFound) {
			return a.start(ctx, tenantID, id, month, now)
		}
		if err != nil {
			return fmt.Errorf("archive %s %s: %w", tenantID, id, err)
		}
		if pk.Status == PackPending && p.lost(pk, now) {
			pk = p.fail(ctx, pk, reasonLost)
		}
		switch pk.Status {
		case PackReady:
			return a.expire(ctx, pk, now)
		case PackPending:
			return nil // being built
		}
	}
	return fmt.Errorf("archive %s %s: %d builds failed; the month's batches keep no expiry", tenantID, month.Format("2006-01"), a.cfg.Attempts)
}

// start creates the monthly pack id and starts its build, as RequestPack does.
func (a *Archive) start(ctx context.Context, tenantID, id string, month, now time.Time) error {
	p := a.packs
	start, end := monthOf(month)
	pk := Pack{TenantID: tenantID, PackID: id, Status: PackPending, PeriodStart: start, PeriodEnd: end, RequestedAt: now}
	if err := p.store.CreatePack(ctx, pk); errors.Is(err, ErrConflict) {
		return nil // another run made it
	} else if err != nil {
		return fmt.Errorf("archive %s %s: create pack: %w", tenantID, id, err)
	}
	if err := p.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: "hub", At: now, Action: "pack_requested",
		ID: auditID("pack_requested", id), Detail: map[string]string{"pack_id": id, "period_start": pack.TimeString(start),
			"period_end": pack.TimeString(end), "monthly": "true"}}); err != nil {
		return err
	}
	if err := p.start.StartBuild(ctx, tenantID, id); err != nil {
		p.fail(ctx, pk, reasonStart)
		return fmt.Errorf("archive %s %s: start build: %w", tenantID, id, err)
	}
	return nil
}

// ExpiryOf is when the batches of a ready monthly pack generated at gen
// expire: HotDays and two days of grace after the cut (gen less margin).
// Every batch so marked was received before the cut, so it outlives the
// hot window of any period that it is in, or that its agent's chain passes
// through (docs/dynamodb.md, "Hot window").
func ExpiryOf(gen time.Time, margin time.Duration, hotDays int) (cut, at time.Time) {
	cut = gen.Add(-margin)
	return cut, cut.Add(time.Duration(hotDays+2) * 24 * time.Hour).Truncate(time.Second)
}

// expire gives the batches a ready monthly pack holds their expiry, once:
// the pack is marked archived after every batch is, so a crash in between
// is finished by the next run. Without a hot window nothing expires.
func (a *Archive) expire(ctx context.Context, pk Pack, now time.Time) error {
	p := a.packs
	if !pk.ArchivedAt.IsZero() || p.cfg.HotDays <= 0 {
		return nil
	}
	cut, at := ExpiryOf(pk.GeneratedAt, a.cfg.Margin, p.cfg.HotDays)
	n, err := a.expirer.ExpireBatches(ctx, pk.TenantID, pk.PeriodStart, pk.PeriodEnd, cut, at)
	if err != nil {
		return fmt.Errorf("archive %s %s: expire batches: %w", pk.TenantID, pk.PackID, err)
	}
	if err := p.audit.record(ctx, AuditEvent{TenantID: pk.TenantID, Actor: "hub", At: now, Action: "pack_archived",
		ID: auditID("pack_archived", pk.PackID), Detail: map[string]string{"pack_id": pk.PackID, "batches": strconv.Itoa(n),
			"expire_at": pack.TimeString(at)}}); err != nil {
		return err
	}
	if err := a.archiver.MarkArchived(ctx, pk.TenantID, pk.PackID, now, at); err != nil {
		return fmt.Errorf("archive %s %s: mark archived: %w", pk.TenantID, pk.PackID, err)
	}
	return nil
}

// OldestDay is the first UTC day whose batches the hub surely still holds
// at now: HotDays before today. Zero without a hot window.
func (p *Packs) OldestDay(now time.Time) time.Time {
	if p.cfg.HotDays <= 0 {
		return time.Time{}
	}
	return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -p.cfg.HotDays)
}

// fromArchive answers a pack request whose period starts before the hot
// window: with the month's ready monthly pack when the period is exactly
// that month, else a refusal naming the oldest day available. done is
// false when the period is inside the hot window and must be built; a
// period inside it that reaches batches expiring within a day is refused.
func (p *Packs) fromArchive(ctx context.Context, ad Admin, start, end time.Time) (PackView, bool, error) {
	now := p.env.now()
	oldest := p.OldestDay(now)
	if oldest.IsZero() {
		return PackView{}, false, nil
	}
	if !start.Before(oldest) {
		err := p.expiredInside(ctx, ad.TenantID, start, end, now)
		return PackView{}, err != nil, err
	}
	if ms, me := monthOf(start); start.Equal(ms) && end.Equal(me) {
		pk, ok, err := p.monthlyReady(ctx, ad.TenantID, ms)
		if err != nil {
			return PackView{}, true, err
		}
		if ok {
			return packView(pk), true, nil
		}
	}
	return PackView{}, true, refuse(CodeInvalidRequest,
		"period_start %s is before %s, the oldest day the hub still holds; for an older whole month ask for exactly that month (its archived monthly pack)",
		pack.TimeString(start), oldest.Format("2006-01-02"))
}

// monthlyReady returns the tenant's ready monthly pack of month, if any.
func (p *Packs) monthlyReady(ctx context.Context, tenantID string, month time.Time) (Pack, bool, error) {
	for k := 1; k <= maxMonthlyAttempts; k++ {
		pk, err := p.store.GetPack(ctx, tenantID, MonthlyPackID(month, k))
		if errors.Is(err, ErrNotFound) {
			return Pack{}, false, nil
		}
		if err != nil {
			return Pack{}, false, backend("get monthly pack", err)
		}
		if pk.Status == PackReady {
			return pk, true, nil
		}
	}
	return Pack{}, false, nil
}

// expiredInside refuses a period inside the hot window that reaches a month
// whose batches expire within a day: archived under a shorter window than
// today's (MONSYS_HOT_DAYS was raised), so a pack of it could be partial.
// With an unchanged window this never happens (docs/dynamodb.md, "Hot window").
func (p *Packs) expiredInside(ctx context.Context, tenantID string, start, end, now time.Time) error {
	for m, _ := monthOf(start); !m.After(end) && m.Before(now); m = m.AddDate(0, 1, 0) {
		pk, ok, err := p.monthlyReady(ctx, tenantID, m)
		if err != nil {
			return err
		}
		if ok && !pk.BatchesExpireAt.IsZero() && pk.BatchesExpireAt.Before(now.Add(24*time.Hour)) {
			return refuse(CodeInvalidRequest,
				"the batches of %s expire from %s (archived under a shorter hot window); ask for that whole month (its archived monthly pack) or a period from %s",
				m.Format("2006-01"), pack.TimeString(pk.BatchesExpireAt), m.AddDate(0, 1, 0).Format("2006-01-02"))
		}
	}
	return nil
}
