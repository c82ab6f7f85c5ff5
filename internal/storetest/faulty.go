package storetest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

// Faulty is a Memory with injectable failures, for the use cases' and the
// handlers' tests: each error queued for a method (by its name, as
// "PutBatch") is returned once, before the call reaches the store, as if the
// backend had refused or the function had died just before the write; a
// hook queued for a method runs once, just before the call, to interleave
// another request. It also notes the string arguments of every call, so a
// test can tell whether a value ever reached the store. It is the one fault
// wrapper of the store ports; the DynamoDB adapter's tests fail SDK calls
// below it instead.
type Faulty struct {
	*Memory
	mu     sync.Mutex
	faults map[string][]error
	hooks  map[string][]func()
	asked  []string
}

// NewFaulty wraps m.
func NewFaulty(m *Memory) *Faulty {
	return &Faulty{Memory: m, faults: map[string][]error{}, hooks: map[string][]func(){}}
}

// Stores is f for every family.
func (f *Faulty) Stores() hub.Stores {
	return hub.Stores{Credentials: f, Tenants: f, Agents: f, Commits: f, Attention: f, Batches: f, Anomalies: f, Audit: f, Packs: f, Keys: f}
}

// FailNext makes the next calls of method fail with errs, one each.
func (f *Faulty) FailNext(method string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], errs...)
}

// BeforeNext runs fn before the next call of method.
func (f *Faulty) BeforeNext(method string, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks[method] = append(f.hooks[method], fn)
}

// Asked reports whether any call so far had s as a string argument.
func (f *Faulty) Asked(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.asked, s)
}

// enter notes a call of method with its string arguments, runs its hook and
// returns its fault, if any.
func (f *Faulty) enter(method string, args ...string) error {
	f.mu.Lock()
	f.asked = append(f.asked, args...)
	var hook func()
	if h := f.hooks[method]; len(h) > 0 {
		hook, f.hooks[method] = h[0], h[1:]
	}
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.faults[method]
	if len(q) == 0 {
		return nil
	}
	f.faults[method] = q[1:]
	return q[0]
}

// do is one call of a method that returns only an error.
func (f *Faulty) do(method string, call func() error, args ...string) error {
	if err := f.enter(method, args...); err != nil {
		return err
	}
	return call()
}

// get is one call of a method that returns a value and an error.
func get[T any](f *Faulty, method string, call func() (T, error), args ...string) (T, error) {
	if err := f.enter(method, args...); err != nil {
		var zero T
		return zero, err
	}
	return call()
}

// GetCredential implements hub.CredentialReader.
func (f *Faulty) GetCredential(ctx context.Context, h string) (hub.Credential, error) {
	return get(f, "GetCredential", func() (hub.Credential, error) { return f.Memory.GetCredential(ctx, h) }, h)
}

// PutCredential implements hub.CredentialWriter.
func (f *Faulty) PutCredential(ctx context.Context, c hub.Credential) error {
	return f.do("PutCredential", func() error { return f.Memory.PutCredential(ctx, c) }, c.Hash)
}

// DeleteCredential implements hub.CredentialWriter.
func (f *Faulty) DeleteCredential(ctx context.Context, h string) error {
	return f.do("DeleteCredential", func() error { return f.Memory.DeleteCredential(ctx, h) }, h)
}

// GetTenant implements hub.TenantStore.
func (f *Faulty) GetTenant(ctx context.Context, id string) (hub.Tenant, error) {
	return get(f, "GetTenant", func() (hub.Tenant, error) { return f.Memory.GetTenant(ctx, id) }, id)
}

// PutTenant implements hub.TenantStore.
func (f *Faulty) PutTenant(ctx context.Context, t hub.Tenant) error {
	return f.do("PutTenant", func() error { return f.Memory.PutTenant(ctx, t) }, t.TenantID)
}

// GetAgent implements hub.AgentReader.
func (f *Faulty) GetAgent(ctx context.Context, id string) (hub.Agent, error) {
	return get(f, "GetAgent", func() (hub.Agent, error) { return f.Memory.GetAgent(ctx, id) }, id)
}

// GetAgentState implements hub.AgentReader.
func (f *Faulty) GetAgentState(ctx context.Context, id string) (hub.Agent, error) {
	return get(f, "GetAgentState", func() (hub.Agent, error) { return f.Memory.GetAgentState(ctx, id) }, id)
}

// CreateAgent implements hub.AgentMaker.
func (f *Faulty) CreateAgent(ctx context.Context, a hub.Agent) error {
	return f.do("CreateAgent", func() error { return f.Memory.CreateAgent(ctx, a) }, a.AgentID)
}

// ReplaceToken implements hub.AgentMaker.
func (f *Faulty) ReplaceToken(ctx context.Context, id, newHash, oldHash string) error {
	return f.do("ReplaceToken", func() error { return f.Memory.ReplaceToken(ctx, id, newHash, oldHash) }, id)
}

// PinSigningKey implements hub.PinStore.
func (f *Faulty) PinSigningKey(ctx context.Context, id string, key []byte, at time.Time) error {
	return f.do("PinSigningKey", func() error { return f.Memory.PinSigningKey(ctx, id, key, at) }, id)
}

// PinCert implements hub.PinStore.
func (f *Faulty) PinCert(ctx context.Context, id string, c hub.CertPin, expect string) error {
	return f.do("PinCert", func() error { return f.Memory.PinCert(ctx, id, c, expect) }, id)
}

// RecordRegistration implements hub.PinStore.
func (f *Faulty) RecordRegistration(ctx context.Context, id string, r hub.Registration) error {
	return f.do("RecordRegistration", func() error { return f.Memory.RecordRegistration(ctx, id, r) }, id)
}

// ClearLogMark implements hub.LogMarks.
func (f *Faulty) ClearLogMark(ctx context.Context, id, mark string) error {
	return f.do("ClearLogMark", func() error { return f.Memory.ClearLogMark(ctx, id, mark) }, id)
}

// LogPendingAgents implements hub.LogPendingIndex.
func (f *Faulty) LogPendingAgents(ctx context.Context, fn func(hub.Agent) error) error {
	return f.do("LogPendingAgents", func() error { return f.Memory.LogPendingAgents(ctx, fn) })
}

// UnpinSigningKey implements hub.Unpinner.
func (f *Faulty) UnpinSigningKey(ctx context.Context, id string, history []hub.SigningKey) error {
	return f.do("UnpinSigningKey", func() error { return f.Memory.UnpinSigningKey(ctx, id, history) }, id)
}

// UnpinCert implements hub.Unpinner.
func (f *Faulty) UnpinCert(ctx context.Context, id string) error {
	return f.do("UnpinCert", func() error { return f.Memory.UnpinCert(ctx, id) }, id)
}

// BumpAnomalyGen implements hub.AnomalyGens.
func (f *Faulty) BumpAnomalyGen(ctx context.Context, id string, k anomaly.Kind, from int64) error {
	return f.do("BumpAnomalyGen", func() error { return f.Memory.BumpAnomalyGen(ctx, id, k, from) }, id)
}

// BeginBatch implements hub.SeqStore.
func (f *Faulty) BeginBatch(ctx context.Context, id string, p hub.Pending, pub []byte, v, maxV string) error {
	return f.do("BeginBatch", func() error { return f.Memory.BeginBatch(ctx, id, p, pub, v, maxV) }, id)
}

// AbortBatch implements hub.SeqStore.
func (f *Faulty) AbortBatch(ctx context.Context, id string, p hub.Pending) error {
	return f.do("AbortBatch", func() error { return f.Memory.AbortBatch(ctx, id, p) }, id)
}

// ClaimBatch implements hub.ClaimStore.
func (f *Faulty) ClaimBatch(ctx context.Context, id string, seen, next hub.Pending) error {
	return f.do("ClaimBatch", func() error { return f.Memory.ClaimBatch(ctx, id, seen, next) }, id)
}

// EndBatch implements hub.ClaimStore.
func (f *Faulty) EndBatch(ctx context.Context, id string, p hub.Pending) error {
	return f.do("EndBatch", func() error { return f.Memory.EndBatch(ctx, id, p) }, id)
}

// MarkUnsigned implements hub.UnsignedMarker.
func (f *Faulty) MarkUnsigned(ctx context.Context, id string, t time.Time) error {
	return f.do("MarkUnsigned", func() error { return f.Memory.MarkUnsigned(ctx, id, t) }, id)
}

// AttentionAgents implements hub.AttentionIndex.
func (f *Faulty) AttentionAgents(ctx context.Context, fn func(hub.Agent) error) error {
	return f.do("AttentionAgents", func() error { return f.Memory.AttentionAgents(ctx, fn) })
}

// QuietAgents implements hub.AttentionIndex.
func (f *Faulty) QuietAgents(ctx context.Context, cutoff time.Time, fn func(hub.Agent) error) error {
	return f.do("QuietAgents", func() error { return f.Memory.QuietAgents(ctx, cutoff, fn) })
}

// ActiveAgents implements hub.ActiveIndex.
func (f *Faulty) ActiveAgents(ctx context.Context, since time.Time, fn func(hub.Agent) error) error {
	return f.do("ActiveAgents", func() error { return f.Memory.ActiveAgents(ctx, since, fn) })
}

// MarkStale implements hub.StaleMarks.
func (f *Faulty) MarkStale(ctx context.Context, id string, liveAt, at time.Time) error {
	return f.do("MarkStale", func() error { return f.Memory.MarkStale(ctx, id, liveAt, at) }, id)
}

// ClearStale implements hub.StaleMarks.
func (f *Faulty) ClearStale(ctx context.Context, id string, since time.Time) error {
	return f.do("ClearStale", func() error { return f.Memory.ClearStale(ctx, id, since) }, id)
}

// ClearAttention implements hub.StaleMarks.
func (f *Faulty) ClearAttention(ctx context.Context, id string, unsignedAt time.Time) error {
	return f.do("ClearAttention", func() error { return f.Memory.ClearAttention(ctx, id, unsignedAt) }, id)
}

// PutBatch implements hub.BatchWriter.
func (f *Faulty) PutBatch(ctx context.Context, b hub.StoredBatch) error {
	return f.do("PutBatch", func() error { return f.Memory.PutBatch(ctx, b) }, b.AgentID)
}

// PutBatchIndex implements hub.BatchWriter.
func (f *Faulty) PutBatchIndex(ctx context.Context, b hub.StoredBatch) error {
	return f.do("PutBatchIndex", func() error { return f.Memory.PutBatchIndex(ctx, b) }, b.AgentID)
}

// DeleteBatch implements hub.BatchWriter.
func (f *Faulty) DeleteBatch(ctx context.Context, b hub.StoredBatch) error {
	return f.do("DeleteBatch", func() error { return f.Memory.DeleteBatch(ctx, b) }, b.AgentID)
}

// GetBatch implements hub.BatchReader.
func (f *Faulty) GetBatch(ctx context.Context, agentID, key string) (hub.StoredBatch, error) {
	return get(f, "GetBatch", func() (hub.StoredBatch, error) { return f.Memory.GetBatch(ctx, agentID, key) }, agentID, key)
}

// PeriodBatches implements hub.PeriodReader.
func (f *Faulty) PeriodBatches(ctx context.Context, tenantID string, from, to time.Time, fn func(hub.StoredBatch) error) error {
	return f.do("PeriodBatches", func() error { return f.Memory.PeriodBatches(ctx, tenantID, from, to, fn) }, tenantID)
}

// SignedBatches implements hub.ChainReader.
func (f *Faulty) SignedBatches(ctx context.Context, agentID string, from, to int64, fn func(hub.StoredBatch) error) error {
	return f.do("SignedBatches", func() error { return f.Memory.SignedBatches(ctx, agentID, from, to, fn) }, agentID)
}

// RaiseAnomaly implements hub.AnomalyRaiser.
func (f *Faulty) RaiseAnomaly(ctx context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error) {
	return get(f, "RaiseAnomaly", func() (anomaly.Anomaly, error) { return f.Memory.RaiseAnomaly(ctx, e, gen) }, e.AgentID)
}

// RefreshAnomaly implements hub.AnomalyCycle.
func (f *Faulty) RefreshAnomaly(ctx context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error) {
	if err := f.enter("RefreshAnomaly", e.AgentID); err != nil {
		return anomaly.Anomaly{}, false, err
	}
	return f.Memory.RefreshAnomaly(ctx, e, gen, every)
}

// CloseAnomaly implements hub.AnomalyCycle.
func (f *Faulty) CloseAnomaly(ctx context.Context, tenantID, id string, at time.Time, reason string) error {
	return f.do("CloseAnomaly", func() error { return f.Memory.CloseAnomaly(ctx, tenantID, id, at, reason) }, tenantID, id)
}

// ListAnomalies implements hub.AnomalyLister.
func (f *Faulty) ListAnomalies(ctx context.Context, tenantID string, fl anomaly.Filter, cursor string, limit int) (hub.AnomalyPage, error) {
	return get(f, "ListAnomalies", func() (hub.AnomalyPage, error) { return f.Memory.ListAnomalies(ctx, tenantID, fl, cursor, limit) },
		tenantID, fl.AgentID, cursor)
}

// ListAgents implements hub.AgentLister.
func (f *Faulty) ListAgents(ctx context.Context, tenantID string, st hub.AgentStatus, cursor string, limit int) (hub.AgentPage, error) {
	return get(f, "ListAgents", func() (hub.AgentPage, error) { return f.Memory.ListAgents(ctx, tenantID, st, cursor, limit) },
		tenantID, string(st), cursor)
}

// ListPacks implements hub.PackLister.
func (f *Faulty) ListPacks(ctx context.Context, tenantID, cursor string, limit int) (hub.PackPage, error) {
	return get(f, "ListPacks", func() (hub.PackPage, error) { return f.Memory.ListPacks(ctx, tenantID, cursor, limit) },
		tenantID, cursor)
}

// AppendAudit implements hub.AuditSink.
func (f *Faulty) AppendAudit(ctx context.Context, e hub.AuditEvent) error {
	return f.do("AppendAudit", func() error { return f.Memory.AppendAudit(ctx, e) }, e.TenantID)
}

// Audit implements hub.AuditReader.
func (f *Faulty) Audit(ctx context.Context, tenantID string, from, to time.Time) ([]hub.AuditEvent, error) {
	return get(f, "Audit", func() ([]hub.AuditEvent, error) { return f.Memory.Audit(ctx, tenantID, from, to) }, tenantID)
}

// CreatePack implements hub.PackRecords.
func (f *Faulty) CreatePack(ctx context.Context, p hub.Pack) error {
	return f.do("CreatePack", func() error { return f.Memory.CreatePack(ctx, p) }, p.TenantID, p.PackID)
}

// GetPack implements hub.PackRecords.
func (f *Faulty) GetPack(ctx context.Context, tenantID, packID string) (hub.Pack, error) {
	return get(f, "GetPack", func() (hub.Pack, error) { return f.Memory.GetPack(ctx, tenantID, packID) }, tenantID, packID)
}

// FinishPack implements hub.PackRecords.
func (f *Faulty) FinishPack(ctx context.Context, p hub.Pack) error {
	return f.do("FinishPack", func() error { return f.Memory.FinishPack(ctx, p) }, p.TenantID, p.PackID)
}

// AcquireBuild implements hub.BuildLease.
func (f *Faulty) AcquireBuild(ctx context.Context, tenantID, packID string, until, now time.Time) (hub.PackHead, error) {
	return get(f, "AcquireBuild", func() (hub.PackHead, error) { return f.Memory.AcquireBuild(ctx, tenantID, packID, until, now) },
		tenantID, packID)
}

// ReleaseBuild implements hub.BuildLease.
func (f *Faulty) ReleaseBuild(ctx context.Context, tenantID, packID string, last *pack.PackRef) error {
	return f.do("ReleaseBuild", func() error { return f.Memory.ReleaseBuild(ctx, tenantID, packID, last) }, tenantID, packID)
}

// GetKeys implements hub.KeyStore.
func (f *Faulty) GetKeys(ctx context.Context, tenantID string) (hub.KeyRecord, error) {
	return get(f, "GetKeys", func() (hub.KeyRecord, error) { return f.Memory.GetKeys(ctx, tenantID) }, tenantID)
}

// PutKeys implements hub.KeyStore.
func (f *Faulty) PutKeys(ctx context.Context, r hub.KeyRecord) error {
	return f.do("PutKeys", func() error { return f.Memory.PutKeys(ctx, r) }, r.TenantID)
}

// ExpirePart implements hub.BatchExpirer.
func (f *Faulty) ExpirePart(ctx context.Context, sc hub.ExpiryScope, part hub.ExpiryPart, cursor string, limit int) (hub.ExpiryPage, error) {
	return get(f, "ExpirePart", func() (hub.ExpiryPage, error) { return f.Memory.ExpirePart(ctx, sc, part, cursor, limit) }, sc.TenantID, part.Name(), cursor)
}

// MarkPartExpired implements hub.PackArchiver.
func (f *Faulty) MarkPartExpired(ctx context.Context, tenantID, packID, part string, marked int) (map[string]int, error) {
	return get(f, "MarkPartExpired", func() (map[string]int, error) { return f.Memory.MarkPartExpired(ctx, tenantID, packID, part, marked) }, tenantID, packID, part)
}

// ClaimExpiryFan implements hub.PackArchiver.
func (f *Faulty) ClaimExpiryFan(ctx context.Context, tenantID, packID string, prev, now time.Time) error {
	return f.do("ClaimExpiryFan", func() error { return f.Memory.ClaimExpiryFan(ctx, tenantID, packID, prev, now) }, tenantID, packID)
}

// BeatLane implements hub.PackArchiver.
func (f *Faulty) BeatLane(ctx context.Context, tenantID, packID string, shard int, at time.Time) error {
	return f.do("BeatLane", func() error { return f.Memory.BeatLane(ctx, tenantID, packID, shard, at) }, tenantID, packID)
}

// MarkArchived implements hub.PackArchiver.
func (f *Faulty) MarkArchived(ctx context.Context, tenantID, packID string, at, expireAt time.Time) error {
	return f.do("MarkArchived", func() error { return f.Memory.MarkArchived(ctx, tenantID, packID, at, expireAt) }, tenantID, packID)
}
