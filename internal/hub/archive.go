package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Starter starts each part of an expiry pass asynchronously (a Lambda
	// function's own event, as builds are started; a goroutine locally).
	Starter ExpiryStarter
}

// ExpiryTask is one part of a ready monthly pack's expiry pass, where to go
// on from (Cursor, "" = the start) and the batches marked before it.
type ExpiryTask struct {
	TenantID string
	PackID   string
	Part     ExpiryPart
	Cursor   string
	Marked   int
}

// ExpiryStarter starts Archive.Expire of a task asynchronously.
type ExpiryStarter interface {
	StartExpiry(ctx context.Context, t ExpiryTask) error
}

// AsyncStarter starts builds and expiry passes: the pack function's one
// mechanism, its own asynchronous invocations.
type AsyncStarter interface {
	BuildStarter
	ExpiryStarter
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
	// Page is how many index entries one ExpirePart call looks at.
	// Default 1000.
	Page int
	// Budget is how long one Expire works before it starts itself again
	// with its cursor: under the function's timeout by more than a page
	// takes. Default 12 minutes (the pack function's timeout is 15).
	Budget time.Duration
	// Redrive is how long after a run started a pack's parts the next run
	// starts again those not done (a part whose invocation crashed or
	// could not start itself again). Default 20 hours: the next daily run.
	Redrive time.Duration
}

// Archive builds each tenant's monthly pack once the month is over, and
// then gives the batches it holds their expiry.
type Archive struct {
	packs    *Packs
	tenants  TenantLister
	expirer  BatchExpirer
	archiver PackArchiver
	starter  ExpiryStarter
	cfg      ArchiveConfig
}

// NewArchive returns the monthly archive over p.
func NewArchive(p *Packs, d ArchiveDeps, cfg ArchiveConfig) (*Archive, error) {
	if p == nil || d.Tenants == nil || d.Expirer == nil || d.Archiver == nil || d.Starter == nil {
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
	if cfg.Page <= 0 {
		cfg.Page = 1000
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 12 * time.Minute
	}
	if cfg.Redrive <= 0 {
		cfg.Redrive = 20 * time.Hour
	}
	return &Archive{packs: p, tenants: d.Tenants, expirer: d.Expirer, archiver: d.Archiver, starter: d.Starter, cfg: cfg}, nil
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
// built, fails a build that is lost, and starts (or re-drives) the expiry
// pass of a ready pack not archived yet (expire; the pass itself runs in
// Expire's invocations). A tenant's failure does not stop the others; the
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

// expire brings a ready monthly pack's expiry pass one step on, once the
// pack is not archived yet: when every part is done, it marks the pack
// archived (a crash after the last part is finished here); else, unless a
// run started the parts less than Redrive ago, it claims the pass (one
// conditional write, so two runs do not both start it) and starts, for
// each shard whose lane is silent for Redrive (none of its invocations
// began since), its first day not done: each its own invocation, which starts
// the shard's next day when it is done (a lane per shard). The days of one
// shard never run at once: they hold the same agents, in the same order, so
// together they would all write the same agent's batch items (docs/dynamodb.md,
// "The expiry pass at 100,000 agents"). Without a hot window nothing expires.
func (a *Archive) expire(ctx context.Context, pk Pack, now time.Time) error {
	if !pk.ArchivedAt.IsZero() || a.packs.cfg.HotDays <= 0 {
		return nil
	}
	parts := a.parts(pk)
	if done(parts, pk.ExpiredParts) {
		return a.archived(ctx, pk, pk.ExpiredParts, now)
	}
	if !pk.ExpiryFannedAt.IsZero() && now.Sub(pk.ExpiryFannedAt) < a.cfg.Redrive {
		return nil // its parts are under way
	}
	if err := a.archiver.ClaimExpiryFan(ctx, pk.TenantID, pk.PackID, pk.ExpiryFannedAt, now); errors.Is(err, ErrConflict) {
		return nil // another run started them
	} else if err != nil {
		return fmt.Errorf("archive %s %s: claim the expiry pass: %w", pk.TenantID, pk.PackID, err)
	}
	var errs []error
	for sh := range a.expirer.ExpiryShards() {
		if beat, ok := pk.LaneBeats[sh]; ok && now.Sub(beat) < a.cfg.Redrive {
			continue // the lane is alive
		}
		if err := a.next(ctx, pk, parts, pk.ExpiredParts, ExpiryPart{Day: pk.PeriodStart.AddDate(0, 0, -1), Shard: sh}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// next starts the first part of after's shard with a later day that rec
// does not hold, if any: the lane's next step.
func (a *Archive) next(ctx context.Context, pk Pack, parts []ExpiryPart, rec map[string]int, after ExpiryPart) error {
	for _, part := range parts {
		if part.Shard != after.Shard || !part.Day.After(after.Day) {
			continue
		}
		if _, ok := rec[part.Name()]; ok {
			continue
		}
		if err := a.starter.StartExpiry(ctx, ExpiryTask{TenantID: pk.TenantID, PackID: pk.PackID, Part: part}); err != nil {
			return fmt.Errorf("archive %s %s: start expiry of %s: %w", pk.TenantID, pk.PackID, part.Name(), err)
		}
		return nil
	}
	return nil
}

// monthly reports whether pk is one of the archive's monthly packs: its id
// is a monthly id of the whole month its period is.
func monthly(pk Pack) bool {
	ms, me := monthOf(pk.PeriodStart)
	if !pk.PeriodStart.Equal(ms) || !pk.PeriodEnd.Equal(me) {
		return false
	}
	for k := 1; k <= maxMonthlyAttempts; k++ {
		if pk.PackID == MonthlyPackID(ms, k) {
			return true
		}
	}
	return false
}

// parts are the partitions of pk's expiry pass: every day of its period ×
// the store's index shards.
func (a *Archive) parts(pk Pack) []ExpiryPart {
	var out []ExpiryPart
	for d := pk.PeriodStart.UTC().Truncate(24 * time.Hour); !d.After(pk.PeriodEnd); d = d.AddDate(0, 0, 1) {
		for sh := range a.expirer.ExpiryShards() {
			out = append(out, ExpiryPart{Day: d, Shard: sh})
		}
	}
	return out
}

// done reports whether every part is recorded in rec.
func done(parts []ExpiryPart, rec map[string]int) bool {
	for _, p := range parts {
		if _, ok := rec[p.Name()]; !ok {
			return false
		}
	}
	return true
}

// Expire does one part of a ready monthly pack's expiry pass (the task an
// ExpiryStarter started), page by page from its cursor, after recording
// that its lane is alive (BeatLane). When Budget is spent before the part
// is done it starts itself again with its cursor and returns; when the
// part is done it records it on the pack and starts its shard's next day,
// and the part that completes the pass marks the pack archived. A part
// recorded already (a retried event) only starts the next. A task of a
// pack that is not ready or not monthly, or of a part the pack does not
// have, is refused: nothing expires outside a ready monthly pack. A failure leaves the part to Lambda's retry
// of the event or to the next run's Redrive; every write is idempotent.
func (a *Archive) Expire(ctx context.Context, t ExpiryTask) error {
	p := a.packs
	start := p.env.now()
	pk, err := p.store.GetPack(ctx, t.TenantID, t.PackID)
	if err != nil {
		return fmt.Errorf("expire %s %s %s: get pack: %w", t.TenantID, t.PackID, t.Part.Name(), err)
	}
	if pk.Status != PackReady {
		return fmt.Errorf("expire %s %s %s: the pack is %s, not ready: nothing expires", t.TenantID, t.PackID, t.Part.Name(), pk.Status)
	}
	if !monthly(pk) {
		return fmt.Errorf("expire %s %s %s: not a monthly pack: only the monthly archive gives batches an expiry", t.TenantID, t.PackID, t.Part.Name())
	}
	parts := a.parts(pk)
	if !slices.ContainsFunc(parts, func(q ExpiryPart) bool { return q.Name() == t.Part.Name() }) || t.Marked < 0 {
		return fmt.Errorf("expire %s %s: %s is not a part of the pack's period", t.TenantID, t.PackID, t.Part.Name())
	}
	if !pk.ArchivedAt.IsZero() || p.cfg.HotDays <= 0 {
		return nil
	}
	if err := a.archiver.BeatLane(ctx, t.TenantID, t.PackID, t.Part.Shard, start); err != nil {
		return fmt.Errorf("expire %s %s %s: beat the lane: %w", t.TenantID, t.PackID, t.Part.Name(), err)
	}
	if _, ok := pk.ExpiredParts[t.Part.Name()]; ok {
		return a.next(ctx, pk, parts, pk.ExpiredParts, t.Part)
	}
	cut, at := ExpiryOf(pk.GeneratedAt, a.cfg.Margin, p.cfg.HotDays)
	sc := ExpiryScope{TenantID: pk.TenantID, From: pk.PeriodStart, To: pk.PeriodEnd, ReceivedBefore: cut, At: at}
	for {
		pg, err := a.expirer.ExpirePart(ctx, sc, t.Part, t.Cursor, a.cfg.Page)
		if err != nil {
			return fmt.Errorf("expire %s %s %s: %w", t.TenantID, t.PackID, t.Part.Name(), err)
		}
		t.Marked += pg.Marked
		t.Cursor = pg.Cursor
		if t.Cursor == "" {
			break
		}
		if a.spent(ctx, start) {
			if err := a.starter.StartExpiry(ctx, t); err != nil {
				return fmt.Errorf("expire %s %s %s: start the rest: %w", t.TenantID, t.PackID, t.Part.Name(), err)
			}
			return nil
		}
	}
	rec, err := a.archiver.MarkPartExpired(ctx, t.TenantID, t.PackID, t.Part.Name(), t.Marked)
	if err != nil {
		return fmt.Errorf("expire %s %s %s: record the part: %w", t.TenantID, t.PackID, t.Part.Name(), err)
	}
	if !done(parts, rec) {
		return a.next(ctx, pk, parts, rec, t.Part)
	}
	return a.archived(ctx, pk, rec, p.env.now())
}

// spent reports whether an Expire that started at start must hand its
// part over: its Budget is spent (the hub's clock decides), or less than a
// minute is left before the invocation's deadline.
func (a *Archive) spent(ctx context.Context, start time.Time) bool {
	now := a.packs.env.now()
	if d, ok := ctx.Deadline(); ok && d.Sub(now) < time.Minute {
		return true
	}
	return now.Sub(start) >= a.cfg.Budget
}

// archived marks a pack whose every part is done archived: an audit event
// pack_archived (the batches marked, the expiry, the parts), then the mark
// on the pack. Both are idempotent, so the last part and a run may both
// get here.
func (a *Archive) archived(ctx context.Context, pk Pack, rec map[string]int, now time.Time) error {
	p := a.packs
	_, at := ExpiryOf(pk.GeneratedAt, a.cfg.Margin, p.cfg.HotDays)
	n := 0
	for _, m := range rec {
		n += m
	}
	if err := p.audit.record(ctx, AuditEvent{TenantID: pk.TenantID, Actor: "hub", At: now, Action: "pack_archived",
		ID: auditID("pack_archived", pk.PackID), Detail: map[string]string{"pack_id": pk.PackID, "batches": strconv.Itoa(n),
			"expire_at": pack.TimeString(at), "parts": strconv.Itoa(len(rec))}}); err != nil {
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
