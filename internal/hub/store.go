package hub

import (
	"context"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
)

// The ports of the core's storage, one to three methods each, grouped here by
// the table they touch; each use case names the ones it calls in its Deps
// (or constructor). Every write that decides a race is a single-item
// conditional write and reports ErrConflict when it loses. The DynamoDB
// adapter (internal/aws/dynamo) and the in-memory store of the test kit
// (internal/storetest) implement all of them, and storetest's contract holds
// both to what is written here.

// --- credentials and tenants

// CredentialReader finds a credential by the hash of its secret.
type CredentialReader interface {
	// GetCredential returns the credential, or ErrNotFound.
	GetCredential(ctx context.Context, hash string) (Credential, error)
}

// CredentialWriter puts and deletes credentials; both are idempotent.
type CredentialWriter interface {
	PutCredential(ctx context.Context, c Credential) error
	DeleteCredential(ctx context.Context, hash string) error
}

// CredentialStore reads and writes credentials.
type CredentialStore interface {
	CredentialReader
	CredentialWriter
}

// TenantStore keeps tenants.
type TenantStore interface {
	// GetTenant returns the tenant, or ErrNotFound.
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// PutTenant creates the tenant; an existing one is left as it is.
	PutTenant(ctx context.Context, t Tenant) error
	// ListTenants returns every tenant, by id: the operator's tool, over a
	// table of one item per tenant.
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// --- agents

// AgentReader reads one agent, strongly consistent.
type AgentReader interface {
	// GetAgent returns the agent, or ErrNotFound.
	GetAgent(ctx context.Context, agentID string) (Agent, error)
}

// AgentStateReader reads one agent's state, strongly consistent: what
// authentication and ingest read on every request, so a store may keep it
// in a smaller item than the whole agent.
type AgentStateReader interface {
	// GetAgentState returns the agent without its profile
	// (Agent.WithoutProfile), or ErrNotFound.
	GetAgentState(ctx context.Context, agentID string) (Agent, error)
}

// AgentMaker writes an agent's identity: the agent with its first token,
// then each new token.
type AgentMaker interface {
	// CreateAgent fails with ErrConflict if the id exists.
	CreateAgent(ctx context.Context, a Agent) error
	// ReplaceToken sets the token hash if the current one is old, else ErrConflict.
	ReplaceToken(ctx context.Context, agentID, newHash, oldHash string) error
}

// AgentLister lists a tenant's agents (GET /agents) from a tenant-scoped
// index: never a scan of the fleet.
type AgentLister interface {
	// ListAgents returns one page of the tenant's agents in status (""
	// for all), by agent id, after the agent the cursor names;
	// ErrBadCursor for a cursor this store did not issue.
	ListAgents(ctx context.Context, tenantID string, status AgentStatus, cursor string, limit int) (AgentPage, error)
}

// SigningKeyPins are the two writes of an agent's signing-key pin. Each is
// one conditional write that also keeps the agent's key history (SPEC 9),
// so history and pin never disagree, and marks the agent log pending
// (Agent.LogMark, in the log-pending index) until the change is submitted
// to the transparency log; only commitKeyChange calls them.
type SigningKeyPins interface {
	LogMarks
	// PinSigningKey sets the key if none is pinned, appends {key, at, not
	// unpinned} to the history and sets the mark LogMark(KeyPin, at) in the
	// same write; else ErrConflict.
	PinSigningKey(ctx context.Context, agentID string, key []byte, at time.Time) error
	// UnpinSigningKey removes the pin, writes history and sets the mark
	// LogMark(KeyUnpin, <history's last UnpinnedAt>) in the same write,
	// if the pin is still history's last key with its PinnedAt and the stored
	// history holds len(history) entries (none when the one entry is
	// KeyHistory's fallback for an agent pinned before histories were
	// kept); else ErrConflict.
	UnpinSigningKey(ctx context.Context, agentID string, history []SigningKey) error
}

// LogMarks clears the log-pending mark of a key change once the change is
// submitted to the transparency log.
type LogMarks interface {
	// ClearLogMark takes the agent out of the log-pending index if its mark
	// is still mark; else ErrConflict (a newer change's mark stays).
	ClearLogMark(ctx context.Context, agentID, mark string) error
}

// LogPendingIndex is what the integrity cycle reads to repair key changes
// whose submission to the log was cut: the sparse log-pending index, which
// holds only agents with a mark, never the fleet.
type LogPendingIndex interface {
	// LogPendingAgents calls fn for each agent in the log-pending index,
	// read strongly consistent (a mark the index still shows but the item
	// no longer has is skipped).
	LogPendingAgents(ctx context.Context, fn func(Agent) error) error
}

// PinStore holds the writes of a registration (SPEC 4.1, 5). A write on an
// agent that does not exist is ErrConflict.
type PinStore interface {
	SigningKeyPins
	// PinCert pins c if the current fingerprint is expect ("" = none), else ErrConflict.
	PinCert(ctx context.Context, agentID string, c CertPin, expect string) error
	// RecordRegistration records what the host reported.
	RecordRegistration(ctx context.Context, agentID string, r Registration) error
}

// Unpinner undoes the pins, for an admin's rotation.
type Unpinner interface {
	SigningKeyPins
	UnpinCert(ctx context.Context, agentID string) error
}

// SeqStore moves an agent's last accepted seq: the commit point of a signed
// batch, and its undo (docs/dynamodb.md, "The ingest commit").
type SeqStore interface {
	// BeginBatch advances last_seq to p.Seq and sets the pending marker if
	// last_seq is still p.PrevSeq, no batch is pending and the signing key is
	// still pubKey; else ErrConflict. version and maxVersion are recorded with it.
	BeginBatch(ctx context.Context, agentID string, p Pending, pubKey []byte, version, maxVersion string) error
	// AbortBatch restores last_seq to p.PrevSeq and clears the marker if it
	// is still p (seq, sha and at), else ErrConflict.
	AbortBatch(ctx context.Context, agentID string, p Pending) error
}

// ClaimStore holds the writes on the pending marker of a batch in flight.
type ClaimStore interface {
	// ClaimBatch replaces the pending marker by next if it is still exactly
	// seen (seq, sha, at and undo), else ErrConflict: the one conditional
	// write by which a request takes over a batch in flight.
	ClaimBatch(ctx context.Context, agentID string, seen, next Pending) error
	// EndBatch clears the pending marker if it is still p (seq, sha and at)
	// and not being undone, else ErrConflict.
	EndBatch(ctx context.Context, agentID string, p Pending) error
}

// UnsignedMarker records that an agent sent unsigned data.
type UnsignedMarker interface {
	// MarkUnsigned records that the agent sent unsigned data at t.
	MarkUnsigned(ctx context.Context, agentID string, t time.Time) error
}

// AnomalyGens moves an agent's anomaly generations on.
type AnomalyGens interface {
	// BumpAnomalyGen moves (agent, kind) to generation from+1 if it is still from, else ErrConflict.
	BumpAnomalyGen(ctx context.Context, agentID string, k anomaly.Kind, from int64) error
}

// AttentionIndex is what the integrity cycle (SPEC 4.4) reads: the two
// sparse indexes, which hold only agents that need attention, never the fleet.
type AttentionIndex interface {
	// AttentionAgents calls fn for each agent in the sparse attention index.
	AttentionAgents(ctx context.Context, fn func(Agent) error) error
	// QuietAgents calls fn for each agent in the live index whose last data
	// came before cutoff: the agents that have just gone quiet.
	QuietAgents(ctx context.Context, cutoff time.Time, fn func(Agent) error) error
}

// ActiveIndex is what the integrity cycle reads for the log's heads
// entries (SPEC 10): the live index, by the time of the last data.
type ActiveIndex interface {
	// ActiveAgents calls fn for each agent in the live index whose last
	// data came at or after since.
	ActiveAgents(ctx context.Context, since time.Time, fn func(Agent) error) error
}

// StaleMarks are the integrity cycle's writes on an agent.
type StaleMarks interface {
	// MarkStale moves a quiet agent from the live index to the attention
	// index, if its last data time is still liveAt; else ErrConflict.
	MarkStale(ctx context.Context, agentID string, liveAt, at time.Time) error
	// ClearStale removes the stale mark if it is still since, else ErrConflict.
	ClearStale(ctx context.Context, agentID string, since time.Time) error
	// ClearAttention takes the agent out of the attention index if it sent no
	// unsigned data since unsignedAt and is not stale; else ErrConflict.
	ClearAttention(ctx context.Context, agentID string, unsignedAt time.Time) error
}

// --- batches

// BatchWriter writes accepted bodies and their time index; every write is idempotent.
type BatchWriter interface {
	// PutBatch stores b's time-index entries, then b itself, so that a
	// batch that can be read has all its index entries.
	PutBatch(ctx context.Context, b StoredBatch) error
	// PutBatchIndex puts b's time-index entries again. It repairs a batch
	// whose entries were lost.
	PutBatchIndex(ctx context.Context, b StoredBatch) error
	// DeleteBatch removes b's index entries, then b.
	DeleteBatch(ctx context.Context, b StoredBatch) error
}

// BatchReader reads one stored batch.
type BatchReader interface {
	// GetBatch returns the batch, or ErrNotFound.
	GetBatch(ctx context.Context, agentID, key string) (StoredBatch, error)
}

// PeriodReader reads a tenant's batches by time: never a scan.
type PeriodReader interface {
	// PeriodBatches calls fn (never concurrently) for every batch of the
	// tenant whose records may fall in [from, to].
	PeriodBatches(ctx context.Context, tenantID string, from, to time.Time, fn func(StoredBatch) error) error
}

// ChainReader reads an agent's signed batches by seq: its batches
// partition (sort key SignedBatchKey), never a scan.
type ChainReader interface {
	// SignedBatches calls fn (never concurrently), in seq order, for every
	// signed batch of the agent whose seq is in [from, to].
	SignedBatches(ctx context.Context, agentID string, from, to int64, fn func(StoredBatch) error) error
}

// BatchExpirer lets the store drop batches that a ready pack holds
// (docs/dynamodb.md, "Hot window"). A batch is stored with no expiry; only
// this write gives it one, so a body never leaves the store before a pack
// holds it, whatever crashes. The pass goes one partition of the time index
// at a time, page by page, so that a month of a large fleet can be fanned
// out over many invocations, each bounded (Archive.Expire).
type BatchExpirer interface {
	// ExpiryShards is how many partitions of the time index each day of a
	// tenant has: the parts of a period's pass are its days × these shards.
	ExpiryShards() int
	// ExpirePart sets the expiry sc.At, to the second, on every batch with
	// an entry in partition part whose records all fall in [sc.From, sc.To]
	// (To's whole second) and that was received before sc.ReceivedBefore,
	// and on its index entries; a batch with a record outside the period,
	// received later, or with no records is left as it is. It looks at the
	// entries after cursor ("" = from the start), at most limit of them, and
	// returns the cursor to go on from ("" = the partition is done) and the
	// batches it marked whose first day is part's day (so that the parts of
	// a period count each batch once). It is idempotent: a rerun after a
	// crash, from any cursor it returned or from the start, marks the same
	// batches again. ErrBadCursor for a cursor it did not issue.
	ExpirePart(ctx context.Context, sc ExpiryScope, part ExpiryPart, cursor string, limit int) (ExpiryPage, error)
}

// PackBatches is what a pack reads of the batches: by time, and the
// agents' chains between (SPEC 9).
type PackBatches interface {
	PeriodReader
	ChainReader
}

// --- anomalies

// AnomalyRaiser opens and folds anomalies.
type AnomalyRaiser interface {
	// RaiseAnomaly opens the anomaly of generation gen or folds e into it when it
	// is open; ErrClosed when that generation is closed.
	RaiseAnomaly(ctx context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error)
}

// AnomalyCycle holds the integrity cycle's writes on anomalies.
type AnomalyCycle interface {
	// RefreshAnomaly is RaiseAnomaly, except that an open anomaly last seen
	// less than every ago is left alone (false). One conditional write, so
	// overlapping cycles count a refresh once.
	RefreshAnomaly(ctx context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error)
	// CloseAnomaly closes an open anomaly: ErrNotFound if there is none,
	// ErrConflict if it is closed already.
	CloseAnomaly(ctx context.Context, tenantID, id string, at time.Time, reason string) error
}

// AnomalyLister lists a tenant's anomalies.
type AnomalyLister interface {
	// ListAnomalies returns one page, by anomaly id; ErrBadCursor for a
	// cursor this store did not issue.
	ListAnomalies(ctx context.Context, tenantID string, f anomaly.Filter, cursor string, limit int) (AnomalyPage, error)
}

// --- audit

// AuditSink appends to the audit log; a repeated event id overwrites itself.
type AuditSink interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
}

// AuditReader reads a tenant's audit log by time.
type AuditReader interface {
	// Audit lists the tenant's audit events in [from, to), oldest first.
	Audit(ctx context.Context, tenantID string, from, to time.Time) ([]AuditEvent, error)
}

// --- packs and signing keys

// PackRecords keeps pack records.
type PackRecords interface {
	// CreatePack writes a new pending pack; ErrConflict if the id exists.
	CreatePack(ctx context.Context, p Pack) error
	// GetPack returns the tenant's pack, or ErrNotFound.
	GetPack(ctx context.Context, tenantID, packID string) (Pack, error)
	// FinishPack writes p (ready or failed) if the stored pack is still pending; else ErrConflict.
	FinishPack(ctx context.Context, p Pack) error
}

// PackArchiver marks a ready pack whose batches have their expiry.
type PackArchiver interface {
	// MarkArchived sets the pack's ArchivedAt to at and BatchesExpireAt to
	// expireAt if it is ready (and keeps the first ones if they are set
	// already); ErrConflict if it is not ready or does not exist.
	MarkArchived(ctx context.Context, tenantID, packID string, at, expireAt time.Time) error
	// MarkPartExpired records on the ready pack that part (ExpiryPart.Name)
	// of its expiry pass is done, having marked marked batches (a rerun
	// overwrites its own record), and returns every part recorded so far;
	// ErrConflict if the pack is not ready or does not exist.
	MarkPartExpired(ctx context.Context, tenantID, packID, part string, marked int) (map[string]int, error)
	// ClaimExpiryFan sets the ready pack's ExpiryFannedAt to now if it is
	// still prev (zero: never set); else ErrConflict. It decides which run
	// (re)starts the pack's expiry pass.
	ClaimExpiryFan(ctx context.Context, tenantID, packID string, prev, now time.Time) error
	// BeatLane records on the ready pack that the lane of shard of its
	// expiry pass is alive at at (LaneBeats); ErrConflict if the pack is
	// not ready or does not exist.
	BeatLane(ctx context.Context, tenantID, packID string, shard int, at time.Time) error
}

// PackLister lists a tenant's packs (GET /evidence-packs).
type PackLister interface {
	// ListPacks returns one page of the tenant's packs, newest request
	// first; ErrBadCursor for a cursor this store did not issue.
	ListPacks(ctx context.Context, tenantID, cursor string, limit int) (PackPage, error)
}

// BuildLease keeps each tenant's chain head and build lease.
type BuildLease interface {
	// AcquireBuild takes the tenant's build lease for packID until until,
	// if nobody holds it or the holder's lease ended before now; else
	// ErrConflict. It returns the head as it stood.
	AcquireBuild(ctx context.Context, tenantID, packID string, until, now time.Time) (PackHead, error)
	// ReleaseBuild gives the lease up if packID holds it, and moves the
	// chain to last when last is not nil (the same conditional write); else ErrConflict.
	ReleaseBuild(ctx context.Context, tenantID, packID string, last *pack.PackRef) error
}

// KeyStore keeps key records; PutKeys is one conditional write on Version.
type KeyStore interface {
	// GetKeys returns the tenant's record, or ErrNotFound.
	GetKeys(ctx context.Context, tenantID string) (KeyRecord, error)
	// PutKeys writes r with Version r.Version if the stored version is
	// r.Version-1 (0: no record); else ErrConflict.
	PutKeys(ctx context.Context, r KeyRecord) error
}

// --- the stores, by family

// The ports above, gathered by the part of storage that serves them: each
// adapter type implements one family, and the assembly (internal/app) hands
// each use case the ports it calls from them. No use case takes a family.

// AgentStore is the agent items' identity, pins and anomaly generations.
type AgentStore interface {
	AgentReader
	AgentStateReader
	AgentLister
	AgentMaker
	PinStore
	Unpinner
	AnomalyGens
}

// CommitStore is the agent items' writes of the ingest commit.
type CommitStore interface {
	SeqStore
	ClaimStore
	UnsignedMarker
}

// AttentionStore is the integrity cycle's sparse indexes of agents.
type AttentionStore interface {
	AttentionIndex
	ActiveIndex
	StaleMarks
	LogPendingIndex
	LogMarks
}

// BatchStore keeps accepted bodies and their time index.
type BatchStore interface {
	BatchWriter
	BatchReader
	PeriodReader
	ChainReader
	BatchExpirer
}

// AnomalyStore keeps anomalies.
type AnomalyStore interface {
	AnomalyRaiser
	AnomalyCycle
	AnomalyLister
}

// AuditStore keeps the audit log.
type AuditStore interface {
	AuditSink
	AuditReader
}

// PackStore is the packs' records and the tenants' chain heads.
type PackStore interface {
	PackRecords
	PackLister
	BuildLease
	PackArchiver
}
