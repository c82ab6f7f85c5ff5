package hub

import (
	"context"
	"time"

	"github.com/monsys/hub/internal/anomaly"
)

// The service's view of storage, split by concern. Every write that decides a
// race is a single-item conditional write and reports ErrConflict when it loses.

// CredentialStore maps credential hashes to agents and tenants.
type CredentialStore interface {
	GetCredential(ctx context.Context, hash string) (Credential, error)
	PutCredential(ctx context.Context, c Credential) error
	DeleteCredential(ctx context.Context, hash string) error
}

// TenantStore keeps tenants.
type TenantStore interface {
	GetTenant(ctx context.Context, id string) (Tenant, error)
	PutTenant(ctx context.Context, t Tenant) error
}

// AgentReader reads one agent, strongly consistent.
type AgentReader interface {
	GetAgent(ctx context.Context, agentID string) (Agent, error)
}

// AgentWriter holds the conditional writes on an agent item.
type AgentWriter interface {
	// CreateAgent fails with ErrConflict if the id exists.
	CreateAgent(ctx context.Context, a Agent) error
	// PinSigningKey sets the key if none is pinned, else ErrConflict.
	PinSigningKey(ctx context.Context, agentID string, key []byte, at time.Time) error
	UnpinSigningKey(ctx context.Context, agentID string) error
	// PinCert pins c if the current fingerprint is expect ("" = none), else ErrConflict.
	PinCert(ctx context.Context, agentID string, c CertPin, expect string) error
	UnpinCert(ctx context.Context, agentID string) error
	// ReplaceToken sets the token hash if the current one is old, else ErrConflict.
	ReplaceToken(ctx context.Context, agentID, newHash, oldHash string) error
	RecordRegistration(ctx context.Context, agentID string, r Registration) error
	// BeginBatch advances last_seq to p.Seq and sets the pending marker if
	// last_seq is still p.PrevSeq, no batch is pending and the signing key is
	// still pubKey; else ErrConflict. version and maxVersion are recorded with it.
	BeginBatch(ctx context.Context, agentID string, p Pending, pubKey []byte, version, maxVersion string) error
	// ClaimBatch replaces the pending marker by next if it is still exactly
	// seen (seq, sha, at and undo), else ErrConflict: the one conditional
	// write by which a request takes over a batch in flight.
	ClaimBatch(ctx context.Context, agentID string, seen, next Pending) error
	// EndBatch clears the pending marker if it is still p (seq, sha and at)
	// and not being undone, else ErrConflict.
	EndBatch(ctx context.Context, agentID string, p Pending) error
	// AbortBatch restores last_seq to p.PrevSeq and clears the marker if it
	// is still p (seq, sha and at), else ErrConflict.
	AbortBatch(ctx context.Context, agentID string, p Pending) error
	// MarkUnsigned records that the agent sent unsigned data at t.
	MarkUnsigned(ctx context.Context, agentID string, t time.Time) error
	// BumpAnomalyGen moves (agent, kind) to generation from+1 if it is still from.
	BumpAnomalyGen(ctx context.Context, agentID string, k anomaly.Kind, from int64) error
}

// BatchStore keeps accepted bodies and their time index.
type BatchStore interface {
	// PutBatch stores b's time-index entries, then b itself, so that a
	// batch that can be read has all its index entries; idempotent.
	PutBatch(ctx context.Context, b StoredBatch) error
	// PutBatchIndex puts b's time-index entries again; idempotent. It
	// repairs a batch whose entries were lost.
	PutBatchIndex(ctx context.Context, b StoredBatch) error
	GetBatch(ctx context.Context, agentID, key string) (StoredBatch, error)
	// DeleteBatch removes b's index entries, then b; idempotent.
	DeleteBatch(ctx context.Context, b StoredBatch) error
}

// AnomalyStore keeps anomalies.
type AnomalyStore interface {
	// RaiseAnomaly opens the anomaly of generation gen or folds e into it when it
	// is open; ErrClosed when that generation is closed.
	RaiseAnomaly(ctx context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error)
	ListAnomalies(ctx context.Context, tenantID string, f anomaly.Filter, cursor string, limit int) (AnomalyPage, error)
}

// AuditStore appends to the audit log; a repeated event id overwrites itself.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
}

// Store is everything the service needs, for wiring.
type Store interface {
	CredentialStore
	TenantStore
	AgentReader
	AgentWriter
	BatchStore
	AnomalyStore
	AuditStore
}
