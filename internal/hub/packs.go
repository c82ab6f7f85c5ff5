package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/pack"
)

// PackKeys are the tenants' signing keys as the packs use them (Keys).
type PackKeys interface {
	// Active returns the tenant's lineage, its active key and a signer for
	// it, creating the first key when the tenant has none.
	Active(ctx context.Context, tenantID string) (KeyRecord, pack.LineageEntry, pack.Signer, error)
	// Signing returns the tenant's lineage, the entry of keyID and a signer of it.
	Signing(ctx context.Context, tenantID, keyID string) (KeyRecord, pack.LineageEntry, pack.Signer, error)
}

// ObjectStore keeps pack archives. Upload streams r as one object with a
// multipart upload under the store's retention and returns its size and
// version; on any error it aborts the upload, so that no object and no parts
// are left. Links name the version, so a later write under the same key
// (a new version) never changes what a link serves.
type ObjectStore interface {
	Upload(ctx context.Context, key string, r io.Reader) (size int64, version string, err error)
	PresignGet(ctx context.Context, key, version, fileName string, ttl time.Duration) (string, error)
}

// BuildStarter starts the build of a pending pack asynchronously (a Lambda
// self-invocation in AWS, a goroutine in the local hub).
type BuildStarter interface {
	StartBuild(ctx context.Context, tenantID, packID string) error
}

// PackConfig tunes evidence packs. Zero values take the defaults.
type PackConfig struct {
	MaxSpan     time.Duration // longest period, default 366 days
	LinkTTL     time.Duration // default presigned link lifetime, 15 minutes
	MaxLinkTTL  time.Duration // at most 7 days (SigV4's limit)
	LinkCap     time.Duration // no link outlives it (0: none); expires_at says so (docs/packs.md)
	BuildLease  time.Duration // how long a build holds the tenant's lease, default 15 minutes
	LeaseWait   time.Duration // how long a build waits for another one of the tenant, default 2 minutes
	KeyPrefix   string        // object key prefix, default "packs/"
	TempDir     string
	SortMemory  int64
	GzipLevel   int
	RetainUntil func(time.Time) time.Time // for the pack view only; the store applies retention
	// HotDays is the hot window (MONSYS_HOT_DAYS): a period that starts
	// more than HotDays before today is served from its month's archived
	// pack or refused (archive.go). 0: no hot window, nothing expires.
	HotDays int
}

// PacksDeps are what the evidence packs read and write: their own records
// and lease, what goes into a pack, the signing keys, the archives and the
// builds.
type PacksDeps struct {
	Packs     PackRecords
	List      PackLister
	Lease     BuildLease
	Batches   PackBatches
	Anomalies AnomalyLister
	Agents    AgentReader
	AuditLog  AuditReader
	Audit     AuditSink
	Keys      PackKeys
	Objects   ObjectStore
	Starter   BuildStarter
	// Log, when set, gets the entry of every pack before it is ready (SPEC 10).
	Log LogSubmitter
	// Prover, when set, logs every pack and gets it cosigned before it is
	// ready, and puts the proofs into its transparency/ (SPEC 10); Log is
	// then not used. Nil: packs without transparency/ (a deployment without
	// witnesses, docs/transparency-log.md).
	Prover LogProver
}

// Packs requests, builds and hands out evidence packs (SPEC 8).
type Packs struct {
	store   PackRecords
	list    PackLister
	lease   BuildLease
	src     packSource
	keys    PackKeys
	objects ObjectStore
	start   BuildStarter
	log     LogSubmitter
	prover  LogProver
	cfg     PackConfig
	env     Env
	audit   auditor
}

// NewPacks returns the evidence-pack use case.
func NewPacks(d PacksDeps, cfg PackConfig, env Env) (*Packs, error) {
	if d.Packs == nil || d.List == nil || d.Lease == nil || d.Batches == nil || d.Anomalies == nil || d.Agents == nil || d.AuditLog == nil ||
		d.Audit == nil || d.Keys == nil || d.Objects == nil || d.Starter == nil {
		return nil, errors.New("hub: packs need every one of PacksDeps")
	}
	if cfg.MaxSpan <= 0 {
		cfg.MaxSpan = 366 * 24 * time.Hour
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 15 * time.Minute
	}
	if cfg.MaxLinkTTL <= 0 || cfg.MaxLinkTTL > 7*24*time.Hour {
		cfg.MaxLinkTTL = 7 * 24 * time.Hour
	}
	if cfg.BuildLease <= 0 {
		cfg.BuildLease = 15 * time.Minute
	}
	if cfg.LeaseWait <= 0 {
		cfg.LeaseWait = 2 * time.Minute
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "packs/"
	}
	env = env.filled()
	return &Packs{store: d.Packs, list: d.List, lease: d.Lease, src: packSource{batches: d.Batches, anomalies: d.Anomalies, agents: d.Agents, audit: d.AuditLog}, keys: d.Keys,
		objects: d.Objects, start: d.Starter, log: d.Log, prover: d.Prover, cfg: cfg, env: env, audit: auditor{d.Audit, env}}, nil
}

// PackView is the answer of the evidence-pack endpoints.
type PackView struct {
	PackID         string        `json:"pack_id"`
	Status         string        `json:"status"`
	PeriodStart    string        `json:"period_start"`
	PeriodEnd      string        `json:"period_end"`
	RequestedAt    time.Time     `json:"requested_at"`
	GeneratedAt    *string       `json:"generated_at"`
	FileName       *string       `json:"file_name"`
	Size           *int64        `json:"size"`
	Records        *int64        `json:"records"`
	SigningKeyID   *string       `json:"signing_key_id"`
	ManifestSHA256 *string       `json:"manifest_sha256"`
	PreviousPack   *pack.PackRef `json:"previous_pack"`
	DownloadURL    *string       `json:"download_url"`
	ExpiresAt      *time.Time    `json:"expires_at"`
	Reason         *string       `json:"reason"`
}

func packView(pk Pack) PackView {
	v := PackView{PackID: pk.PackID, Status: pk.Status, PeriodStart: pack.TimeString(pk.PeriodStart),
		PeriodEnd: pack.TimeString(pk.PeriodEnd), RequestedAt: pk.RequestedAt}
	if pk.Status == PackReady {
		g, f, s, n, k, m := pack.TimeString(pk.GeneratedAt), pk.FileName, pk.Size, pk.Records, pk.SigningKeyID, pk.ManifestSHA256
		v.GeneratedAt, v.FileName, v.Size, v.Records, v.SigningKeyID, v.ManifestSHA256 = &g, &f, &s, &n, &k, &m
		v.PreviousPack = pk.Previous
	}
	if pk.Status == PackFailed {
		r := pk.Reason
		v.Reason = &r
	}
	return v
}

// maxPeriodBody bounds the request body of POST /evidence-packs.
const maxPeriodBody = 4 << 10

// ParsePeriod validates a pack request: RFC 3339 bounds, start before end,
// a span of at most maxSpan. The bounds are kept to the second.
func ParsePeriod(body []byte, maxSpan time.Duration) (time.Time, time.Time, error) {
	if len(body) > maxPeriodBody {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "body is %d bytes, limit %d", len(body), maxPeriodBody)
	}
	var req struct {
		Start *string `json:"period_start"`
		End   *string `json:"period_end"`
	}
	if err := DecodeJSONObject(body, &req); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if req.Start == nil || req.End == nil {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "period_start and period_end are required")
	}
	start, err := time.Parse(time.RFC3339, *req.Start)
	if err != nil {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "period_start %q is not an RFC 3339 time", *req.Start)
	}
	end, err := time.Parse(time.RFC3339, *req.End)
	if err != nil {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "period_end %q is not an RFC 3339 time", *req.End)
	}
	start, end = start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
	if !start.Before(end) {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "period_start %q must be before period_end %q", *req.Start, *req.End)
	}
	if end.Sub(start) > maxSpan {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "the period spans %s, limit %d days", end.Sub(start).Round(time.Hour), int(maxSpan/(24*time.Hour)))
	}
	if start.Year() < 2000 || end.Year() > 9999 {
		return time.Time{}, time.Time{}, refuse(CodeInvalidRequest, "the period must lie between the years 2000 and 9999")
	}
	return start, end, nil
}

// RequestPack is POST /evidence-packs: a pending pack whose build starts now.
func (p *Packs) RequestPack(ctx context.Context, ad Admin, body []byte) (PackView, error) {
	start, end, err := ParsePeriod(body, p.cfg.MaxSpan)
	if err != nil {
		return PackView{}, err
	}
	if v, done, err := p.fromArchive(ctx, ad, start, end); done {
		return v, err
	}
	id, err := p.env.newID("pk_")
	if err != nil {
		return PackView{}, backend("new pack id", err)
	}
	now := p.env.now()
	pk := Pack{TenantID: ad.TenantID, PackID: id, Status: PackPending, PeriodStart: start, PeriodEnd: end, RequestedAt: now}
	if err := p.store.CreatePack(ctx, pk); err != nil {
		return PackView{}, backend("create pack", err)
	}
	if err := p.audit.record(ctx, AuditEvent{TenantID: ad.TenantID, Actor: actorOf(ad), At: now, Action: "pack_requested",
		ID: auditID("pack_requested", id), Detail: map[string]string{"pack_id": id, "period_start": pack.TimeString(start),
			"period_end": pack.TimeString(end)}}); err != nil {
		return PackView{}, err
	}
	if err := p.start.StartBuild(ctx, ad.TenantID, id); err != nil {
		p.fail(ctx, pk, reasonStart)
		return PackView{}, backend("start build", fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	return packView(pk), nil
}

// PackSummary is one pack of GET /evidence-packs: no links.
type PackSummary struct {
	PackID         string  `json:"pack_id"`
	Status         string  `json:"status"`
	PeriodStart    string  `json:"period_start"`
	PeriodEnd      string  `json:"period_end"`
	RequestedAt    string  `json:"requested_at"`
	GeneratedAt    *string `json:"generated_at"`
	ManifestSHA256 *string `json:"manifest_sha256"`
}

// PackList is the answer of GET /evidence-packs.
type PackList struct {
	Packs      []PackSummary `json:"packs"`
	NextCursor *string       `json:"next_cursor"`
}

// ListPacks is GET /evidence-packs for the admin's tenant: one page, the
// newest request first.
func (p *Packs) ListPacks(ctx context.Context, ad Admin, cursor string, limit int) (PackList, error) {
	pg, err := p.list.ListPacks(ctx, ad.TenantID, cursor, pageLimit(limit))
	if errors.Is(err, ErrBadCursor) {
		return PackList{}, refuse(CodeInvalidRequest, "the cursor is not one this hub issued")
	}
	if err != nil {
		return PackList{}, backend("list packs", err)
	}
	out := PackList{Packs: make([]PackSummary, 0, len(pg.Packs)), NextCursor: nextCursor(pg.NextCursor)}
	for _, pk := range pg.Packs {
		if pk.TenantID != ad.TenantID {
			continue
		}
		v := packView(pk)
		out.Packs = append(out.Packs, PackSummary{PackID: v.PackID, Status: v.Status, PeriodStart: v.PeriodStart, PeriodEnd: v.PeriodEnd,
			RequestedAt: pack.TimeString(pk.RequestedAt), GeneratedAt: v.GeneratedAt, ManifestSHA256: v.ManifestSHA256})
	}
	return out, nil
}

// GetPack is GET /evidence-packs/{id}: the pack's status and, once it is
// ready, a fresh presigned link whose issue is an audit event. expiresIn is
// the ?expires_in= value: seconds or a Go duration; "" takes the default.
func (p *Packs) GetPack(ctx context.Context, ad Admin, id, expiresIn string) (PackView, error) {
	ttl := p.cfg.LinkTTL
	if expiresIn != "" {
		d, err := parseTTL(expiresIn)
		if err != nil || d < time.Second || d > p.cfg.MaxLinkTTL {
			return PackView{}, refuse(CodeInvalidRequest, "expires_in %q must be from 1 second to %d seconds", expiresIn, int(p.cfg.MaxLinkTTL/time.Second))
		}
		ttl = d
	}
	if p.cfg.LinkCap > 0 && ttl > p.cfg.LinkCap {
		ttl = p.cfg.LinkCap
	}
	if !ValidPackID(id) {
		return PackView{}, refuse(CodeNotFound, "no evidence pack %q", id)
	}
	pk, err := p.store.GetPack(ctx, ad.TenantID, id)
	if errors.Is(err, ErrNotFound) {
		return PackView{}, refuse(CodeNotFound, "no evidence pack %q", id)
	}
	if err != nil {
		return PackView{}, backend("get pack", err)
	}
	now := p.env.now()
	if pk.Status == PackPending && p.lost(pk, now) {
		// The build is gone (a crashed function): say so once, for good.
		pk = p.fail(ctx, pk, reasonLost)
	}
	v := packView(pk)
	if pk.Status != PackReady {
		return v, nil
	}
	url, err := p.objects.PresignGet(ctx, pk.ObjectKey, pk.ObjectVersion, pk.FileName, ttl)
	if err != nil {
		return PackView{}, backend("presign pack link", err)
	}
	exp := now.Add(ttl).Truncate(time.Second)
	linkID, err := p.env.newID("ln_")
	if err != nil {
		return PackView{}, backend("new link id", err)
	}
	if err := p.audit.record(ctx, AuditEvent{TenantID: ad.TenantID, Actor: actorOf(ad), At: now, Action: "pack_link_issued",
		ID: auditID("pack_link_issued", linkID), Detail: map[string]string{"pack_id": id, "link_id": linkID,
			"expires_at": pack.TimeString(exp)}}); err != nil {
		return PackView{}, err
	}
	v.DownloadURL, v.ExpiresAt = &url, &exp
	return v, nil
}

// lost reports whether the build of pending pack pk is gone (a crashed function).
func (p *Packs) lost(pk Pack, now time.Time) bool {
	return now.Sub(pk.RequestedAt) > p.cfg.BuildLease+p.cfg.LeaseWait+time.Minute
}

func parseTTL(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(30*24*time.Hour/time.Second) {
			return 0, errors.New("too long")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// fail marks pk failed with reason, if it is still pending, and returns what is stored.
func (p *Packs) fail(ctx context.Context, pk Pack, reason string) Pack {
	pk.Status, pk.Reason, pk.FinishedAt = PackFailed, reason, p.env.now()
	err := p.store.FinishPack(ctx, pk)
	if errors.Is(err, ErrConflict) {
		if cur, gerr := p.store.GetPack(ctx, pk.TenantID, pk.PackID); gerr == nil {
			return cur
		}
	} else if err != nil {
		p.env.Log.ErrorContext(ctx, "mark pack failed", "tenant_id", pk.TenantID, "pack_id", pk.PackID, "err", err)
	}
	_ = p.audit.record(ctx, AuditEvent{TenantID: pk.TenantID, Actor: "hub", At: pk.FinishedAt, Action: "pack_failed",
		ID: auditID("pack_failed", pk.PackID), Detail: map[string]string{"pack_id": pk.PackID, "reason": reason}})
	return pk
}

// ErrPackFailed reports a build that ended with the pack marked failed.
var ErrPackFailed = errors.New("pack build failed")

// BuildPack builds a pending pack: it reads the period, writes the
// deterministic archive to the object store and marks the pack ready; on
// any failure the upload is aborted and the pack is marked failed with a
// reason. A pack that is no longer pending is left alone, so a repeated
// start (an async retry) does nothing. The returned error is for logs.
func (p *Packs) BuildPack(ctx context.Context, tenantID, packID string) error {
	pk, err := p.store.GetPack(ctx, tenantID, packID)
	if err != nil {
		return fmt.Errorf("build pack %q: %w", packID, err)
	}
	if pk.Status != PackPending {
		return nil
	}
	head, err := p.acquire(ctx, pk)
	if err != nil {
		reason := reasonLease
		if !errors.Is(err, ErrConflict) {
			reason = reasonOf(because(reasonHead, err))
		}
		p.fail(context.WithoutCancel(ctx), pk, reason)
		return fmt.Errorf("build pack %q: %w: %w", packID, ErrPackFailed, err)
	}
	res, reason, err := p.build(ctx, pk, head)
	if err != nil {
		_ = p.lease.ReleaseBuild(context.WithoutCancel(ctx), tenantID, packID, nil)
		p.fail(context.WithoutCancel(ctx), pk, reason)
		return fmt.Errorf("build pack %q: %w: %w", packID, ErrPackFailed, err)
	}
	// The log has the pack before anything says it exists: a pack that
	// cannot be logged fails, and its entry names an archive that exists.
	// With a prover, the pack's entry is logged, cosigned and proved
	// inside the archive already (packProver).
	if p.prover == nil {
		if err := logPack(ctx, p.log, tenantID, packID, res.ManifestSHA256, res.GeneratedAt); err != nil {
			_ = p.lease.ReleaseBuild(context.WithoutCancel(ctx), tenantID, packID, nil)
			p.fail(context.WithoutCancel(ctx), pk, reasonLog)
			return fmt.Errorf("build pack %q: %w: %w", packID, ErrPackFailed, err)
		}
	}
	// The chain moves first: the object exists and is the tenant's newest pack.
	ref := &pack.PackRef{PackID: packID, ManifestSHA256: res.ManifestSHA256}
	if err := p.lease.ReleaseBuild(ctx, tenantID, packID, ref); err != nil {
		p.fail(context.WithoutCancel(ctx), pk, reasonChain)
		return fmt.Errorf("build pack %q: %w: advance chain: %w", packID, ErrPackFailed, err)
	}
	done := pk
	done.Status, done.GeneratedAt, done.FinishedAt = PackReady, res.GeneratedAt, p.env.now()
	done.ObjectKey, done.ObjectVersion, done.FileName, done.Size, done.Records = res.ObjectKey, res.ObjectVersion, res.FileName, res.Size, res.Records
	done.ManifestSHA256, done.SigningKeyID, done.Previous = res.ManifestSHA256, res.SigningKeyID, head.Last
	if err := p.store.FinishPack(ctx, done); err != nil {
		return fmt.Errorf("build pack %q: mark ready: %w", packID, err)
	}
	return p.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: "hub", At: done.FinishedAt, Action: "pack_built",
		ID: auditID("pack_built", packID), Detail: map[string]string{"pack_id": packID, "manifest_sha256": res.ManifestSHA256,
			"signing_key_id": res.SigningKeyID, "records": strconv.FormatInt(res.Records, 10)}})
}

// acquire takes the tenant's build lease for pk, trying again every second
// (on the clock) while another build holds it, for at most LeaseWait.
func (p *Packs) acquire(ctx context.Context, pk Pack) (PackHead, error) {
	deadline := p.env.now().Add(p.cfg.LeaseWait)
	for {
		now := p.env.now()
		head, err := p.lease.AcquireBuild(ctx, pk.TenantID, pk.PackID, now.Add(p.cfg.BuildLease), now)
		if err == nil || !errors.Is(err, ErrConflict) || now.After(deadline) {
			return head, err
		}
		if err := clock.Sleep(ctx, p.env.Clock, time.Second); err != nil {
			return PackHead{}, err
		}
	}
}

type built struct {
	ObjectKey, ObjectVersion, FileName string
	ManifestSHA256, SigningKeyID       string
	GeneratedAt                        time.Time
	Size, Records                      int64
}

// Why a pack failed, as its reason says: the cause first (backend, kms,
// s3, build), then what to do. A pack never fails because of the data it
// holds (SPEC 9: what cannot be packed is quarantined), and a reason never
// carries the error itself, which goes to the log.
const (
	reasonStart   = "build: the build could not be started; request the pack again"
	reasonLost    = "build: the build did not finish; request the pack again"
	reasonLease   = "build: another pack of this tenant is still being built; request the pack again later"
	reasonCancel  = "build: the build was cancelled; request the pack again"
	reasonBuild   = "build: writing the pack on the build host failed; request the pack again"
	reasonRead    = "backend: the tenant's data could not be read; request the pack again"
	reasonHead    = "backend: the tenant's build lease could not be taken; request the pack again"
	reasonChain   = "backend: the pack chain could not be updated; request the pack again"
	reasonKey     = "kms: the tenant's signing key is unavailable; request the pack again"
	reasonSign    = "kms: the tenant's signing key could not sign the pack; request the pack again"
	reasonStorage = "s3: storing the pack failed; request the pack again"
	reasonLog     = "log: the pack could not be entered in the transparency log and cosigned by its witnesses; request the pack again"
)

// causeError marks an error of assembling a pack with the reason it fails the pack for.
type causeError struct {
	reason string
	err    error
}

func (e *causeError) Error() string { return e.err.Error() }
func (e *causeError) Unwrap() error { return e.err }

// because marks err with reason, unless it is marked already.
func because(reason string, err error) error {
	var ce *causeError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return &causeError{reason, err}
}

// reasonOf is the reason err fails a pack for: the build's end when it was
// cancelled, else as marked, else a write of the build's own files.
func reasonOf(err error) string {
	var ce *causeError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return reasonCancel
	case errors.As(err, &ce):
		return ce.reason
	}
	return reasonBuild
}

// signing marks the errors of a pack's signer as the key's (KMS).
type signing struct{ pack.Signer }

func (s signing) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	sig, err := s.Signer.SignDigest(ctx, digest)
	return sig, because(reasonSign, err)
}

// build returns the reason to show the admin along with any error.
func (p *Packs) build(ctx context.Context, pk Pack, head PackHead) (built, string, error) {
	rec, key, signer, err := p.keys.Active(ctx, pk.TenantID)
	if err != nil {
		return built{}, reasonKey, err
	}
	// generated_at is the next whole second: waiting for it makes "held
	// before generated_at" include everything received until the build began.
	now := p.env.now()
	gen := now.Truncate(time.Second)
	if gen.Before(now) {
		gen = gen.Add(time.Second)
		if err := clock.Sleep(ctx, p.env.Clock, gen.Sub(now)); err != nil {
			return built{}, reasonCancel, err
		}
	}
	name, err := pack.FileName(pk.TenantID, pk.PeriodStart, pk.PeriodEnd)
	if err != nil {
		return built{}, reasonBuild, err
	}
	objKey := p.cfg.KeyPrefix + pk.TenantID + "/" + pk.PackID + "/" + name

	pr, pw := io.Pipe()
	type finished struct {
		res *pack.Result
		err error
	}
	ch := make(chan finished, 1)
	go func() {
		var prove pack.Prover
		if p.prover != nil {
			prove = packProver(p.prover, pk.TenantID, pk.PackID)
		}
		res, err := p.assemble(ctx, pk, gen, rec.Lineage, key, signer, head.Last, prove, pw)
		pw.CloseWithError(err)
		ch <- finished{res, err}
	}()
	size, version, upErr := p.objects.Upload(ctx, objKey, pr)
	pr.CloseWithError(errUploadEnded) // unblocks the writer if the upload stopped reading
	fin := <-ch
	switch {
	case fin.err != nil && !errors.Is(fin.err, errUploadEnded):
		return built{}, reasonOf(fin.err), fin.err
	case upErr != nil:
		return built{}, reasonStorage, upErr
	case fin.err != nil:
		return built{}, reasonStorage, fin.err
	case size != fin.res.Size:
		return built{}, reasonStorage, fmt.Errorf("stored %d bytes of %d", size, fin.res.Size)
	}
	return built{ObjectKey: objKey, ObjectVersion: version, FileName: fin.res.FileName, ManifestSHA256: fin.res.ManifestSHA256, SigningKeyID: key.KeyID,
		GeneratedAt: gen, Size: fin.res.Size, Records: fin.res.Records}, "", nil
}

// assemble reads pk's period and writes its archive to w.
func (p *Packs) assemble(ctx context.Context, pk Pack, gen time.Time, lineage pack.Lineage, key pack.LineageEntry,
	signer pack.Signer, prev *pack.PackRef, prove pack.Prover, w io.Writer) (*pack.Result, error) {
	pub, err := key.Key()
	if err != nil {
		return nil, err
	}
	meta := pack.Meta{PackID: pk.PackID, TenantID: pk.TenantID, PeriodStart: pk.PeriodStart, PeriodEnd: pk.PeriodEnd,
		GeneratedAt: gen, SigningKeyID: key.KeyID, PublicKey: pub, Lineage: lineage, PreviousPack: prev}
	opts := pack.Options{TempDir: p.cfg.TempDir, SortMemory: p.cfg.SortMemory, Level: p.cfg.GzipLevel, Prove: prove}
	return pack.Build(ctx, meta, signing{signer}, opts, p.source(), w)
}

// Reproduce rebuilds a ready pack into w from the data the hub holds now,
// with its generated_at, signing key and previous pack, and proofs as its
// transparency/ (those of the stored pack; nil: none). Ed25519 signatures
// are deterministic, so unchanged data gives the stored pack's exact bytes.
// Nothing is logged.
func (p *Packs) Reproduce(ctx context.Context, tenantID, packID string, proofs *pack.Transparency, w io.Writer) (*pack.Result, error) {
	pk, err := p.store.GetPack(ctx, tenantID, packID)
	if err != nil {
		return nil, fmt.Errorf("reproduce %q: %w", packID, err)
	}
	if pk.Status != PackReady {
		return nil, fmt.Errorf("reproduce %q: pack is %s", packID, pk.Status)
	}
	rec, key, signer, err := p.keys.Signing(ctx, tenantID, pk.SigningKeyID)
	if err != nil {
		return nil, fmt.Errorf("reproduce %q: %w", packID, err)
	}
	var prove pack.Prover
	if proofs != nil {
		prove = func(context.Context, *pack.Result) (pack.Transparency, error) { return *proofs, nil }
	}
	return p.assemble(ctx, pk, pk.GeneratedAt, rec.Lineage, key, signer, pk.Previous, prove, w)
}

var errUploadEnded = errors.New("upload ended")
