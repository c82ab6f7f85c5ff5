// Package hub is the functional core of the monsys hub, one type per use case:
// registration and pinning (SPEC 4.1, 5, Registrar), verified ingest (SPEC
// 4.2, Ingester), the admin operations (Agents, Anomalies, Tenants), the
// pack-signing keys (SPEC 7, Keys), evidence packs (SPEC 8, Packs) and the
// integrity cycle (SPEC 4.4, Integrity). Each takes the small store ports it
// calls (store.go), which the DynamoDB adapter and the test kit's in-memory
// store implement, and its clock, randomness, logger and metrics (Env). It
// imports no AWS package.
package hub

import (
	"errors"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/pack"
)

// Store errors. Adapters wrap these so that the use cases can decide with errors.Is.
var (
	// ErrNotFound means the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a conditional write lost: the caller re-reads and decides again.
	ErrConflict = errors.New("condition failed")
	// ErrUnavailable means the backing service could not be reached; nothing was decided.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrThrottled means the backing service refused for rate; nothing was stored.
	ErrThrottled = errors.New("backend throttled")
	// ErrClosed means an anomaly generation is already closed (see Alarms.Raise).
	ErrClosed = errors.New("anomaly closed")
)

// Credential is a stored bearer credential, keyed by the SHA-256 of the secret.
type Credential struct {
	Hash      string
	Kind      cred.Kind
	TenantID  string
	AgentID   string // empty for admin keys
	CreatedAt time.Time
}

// Tenant is a customer of the hub.
type Tenant struct {
	TenantID  string
	CreatedAt time.Time
}

// CertPin is the pinned client certificate of an agent (SPEC 5).
type CertPin struct {
	Fingerprint string
	// PEM is kept only for certificates the hub issued, so that a lost response
	// can be answered again with the same certificate.
	PEM       string
	PubKeySHA string // SHA-256 of the certificate's SubjectPublicKeyInfo
	NotAfter  time.Time
	SetAt     time.Time
	Previous  string // fingerprint pinned before a renewal
}

// Pending marks a signed batch between its seq advance and its storage; it lets
// a later request finish or undo the batch (docs/dynamodb.md, "ingest commit").
// At starts the lease of the request that holds the batch: it set the marker
// or took it over (StoredBatch.ReceivedAt is the holder's At). Undo says the
// holder is removing the batch, so nobody may end it.
type Pending struct {
	Seq     int64
	SHA     string
	PrevSeq int64
	PrevSHA string
	At      time.Time
	Undo    bool
}

// Agent is the hub's record of one host.
type Agent struct {
	TenantID        string
	AgentID         string
	TokenHash       string
	Hostname        string
	OS              string
	Arch            string
	AgentVersion    string
	MaxAgentVersion string
	SigningPubKey   []byte
	SigningSetAt    time.Time
	// SigningKeys is every signing key the agent has had, oldest first, as
	// stored (empty for an agent pinned before histories were kept: read it
	// with KeyHistory).
	SigningKeys []SigningKey
	// LogMark is set by the write of a signing-key pin or unpin (LogMark)
	// and cleared once the change is in the transparency log's pool: while
	// it is set, the agent is in the sparse log-pending index, and the
	// integrity cycle submits its key history (docs/transparency-log.md).
	LogMark        string
	Cert           *CertPin
	LastSeq        int64
	LastBatchSHA   string
	Pending        *Pending
	LastSeen       time.Time
	LastSignedAt   time.Time
	LastUnsignedAt time.Time
	LiveAt         time.Time // last batch of data, signed or not
	StaleSince     time.Time // set by the integrity cycle while stale_agent is open
	RegisteredAt   time.Time
	CreatedAt      time.Time
	AnomalyGen     map[anomaly.Kind]int64
}

// WithoutProfile is the agent's state alone: a without the profile that
// authentication and ingest never need (Hostname, OS, Arch, RegisteredAt,
// CreatedAt and the pinned certificate's PEM), as AgentReader.GetAgentState
// may return it.
func (a Agent) WithoutProfile() Agent {
	a.Hostname, a.OS, a.Arch, a.RegisteredAt, a.CreatedAt = "", "", "", time.Time{}, time.Time{}
	if a.Cert != nil {
		c := *a.Cert
		c.PEM = ""
		a.Cert = &c
	}
	return a
}

// Registration is what a register call reports about the host.
type Registration struct {
	Hostname, AgentVersion, OS, Arch string
	MaxAgentVersion                  string
	At                               time.Time
}

// StoredBatch is one accepted ingest body, kept byte for byte with its signature
// so that an auditor can re-verify the agent's signature later.
type StoredBatch struct {
	TenantID   string
	AgentID    string
	Key        string // "s#<seq>" for signed batches, "u#<sha256>" for legacy ones
	Seq        int64
	SHA        string
	Signed     bool
	Signature  string
	Body       []byte
	Records    int
	MinTS      time.Time
	MaxTS      time.Time
	Days       []string // UTC days (YYYY-MM-DD) the records fall on, for the time index
	ReceivedAt time.Time
	// ExpireAt is when the store may drop the batch and its index entries
	// (DynamoDB TTL, whole seconds); zero, as every batch is stored, means
	// never. Only BatchExpirer sets it, once a ready pack holds the batch.
	ExpireAt time.Time
}

// AuditEvent is one line of the tenant's audit log.
type AuditEvent struct {
	TenantID string
	// ID is deterministic for an action so that a retried write lands on the same item.
	ID      string
	At      time.Time
	Action  string
	AgentID string
	Actor   string
	Detail  map[string]string
}

// AgentStatus selects agents in a listing (SPEC 4, GET /agents?status=).
type AgentStatus string

// The statuses of GET /agents.
const (
	AgentsAll       AgentStatus = ""
	AgentsPinned    AgentStatus = "pinned"    // a signing key is pinned
	AgentsLegacy    AgentStatus = "legacy"    // no signing key pinned
	AgentsStale     AgentStatus = "stale"     // marked stale by the integrity cycle
	AgentsAttention AgentStatus = "attention" // has an open anomaly
)

// Matches reports whether a (with hasOpen: it has an open anomaly) is in status s.
func (s AgentStatus) Matches(a Agent, hasOpen bool) bool {
	switch s {
	case AgentsAll:
		return true
	case AgentsPinned:
		return len(a.SigningPubKey) > 0
	case AgentsLegacy:
		return len(a.SigningPubKey) == 0
	case AgentsStale:
		return !a.StaleSince.IsZero()
	case AgentsAttention:
		return hasOpen
	}
	return false
}

// ValidAgentStatus reports whether s is one of the statuses of GET /agents.
func ValidAgentStatus(s string) bool {
	switch AgentStatus(s) {
	case AgentsAll, AgentsPinned, AgentsLegacy, AgentsStale, AgentsAttention:
		return true
	}
	return false
}

// AgentPage is one page of an agent listing.
type AgentPage struct {
	Agents     []Agent
	NextCursor string
}

// PackPage is one page of a pack listing.
type PackPage struct {
	Packs      []Pack
	NextCursor string
}

// AnomalyPage is one page of a listing.
type AnomalyPage struct {
	Anomalies  []anomaly.Anomaly
	NextCursor string
}

// Pack statuses.
const (
	PackPending = "pending"
	PackReady   = "ready"
	PackFailed  = "failed"
)

// Pack is the hub's record of one evidence pack.
type Pack struct {
	TenantID       string
	PackID         string
	Status         string
	PeriodStart    time.Time
	PeriodEnd      time.Time
	RequestedAt    time.Time
	GeneratedAt    time.Time
	FinishedAt     time.Time
	ObjectKey      string
	ObjectVersion  string
	FileName       string
	Size           int64
	Records        int64
	ManifestSHA256 string
	SigningKeyID   string
	Previous       *pack.PackRef
	Reason         string
	// ArchivedAt is when the batches this ready pack holds were given their
	// expiry (BatchExpirer), BatchesExpireAt that expiry; zero until then.
	// Only monthly packs get them.
	ArchivedAt      time.Time
	BatchesExpireAt time.Time
	// ExpiredParts are the parts of the expiry pass done so far (by
	// ExpiryPart.Name, with the batches each marked), ExpiryFannedAt when a
	// run last started the parts not done; the pack is archived once every
	// part is done (Archive.Expire).
	ExpiredParts   map[string]int
	ExpiryFannedAt time.Time
	// LaneBeats are when each shard's lane of the expiry pass last started
	// an invocation: a run starts again only the lanes silent for Redrive.
	LaneBeats map[int]time.Time
}

// ExpiryScope is what a monthly pack's expiry pass marks: the tenant's
// batches wholly in [From, To] received before ReceivedBefore, with the
// expiry At.
type ExpiryScope struct {
	TenantID           string
	From, To           time.Time
	ReceivedBefore, At time.Time
}

// ExpiryPart is one partition of an expiry pass: a UTC day and one of the
// store's index shards of it (BatchExpirer.ExpiryShards).
type ExpiryPart struct {
	Day   time.Time
	Shard int
}

// Name is how the pack records the part: "20260312s3".
func (p ExpiryPart) Name() string {
	return p.Day.UTC().Format("20060102") + "s" + strconv.Itoa(p.Shard)
}

// ExpiryPage is what one ExpirePart call did: the batches it marked, and
// where to go on ("" = the partition is done).
type ExpiryPage struct {
	Marked int
	Cursor string
}

// PackHead is the tenant's pack chain: the last ready pack, and the build
// that holds the tenant's build lease, if any.
type PackHead struct {
	Last       *pack.PackRef
	Building   string
	LeaseUntil time.Time
}

// KeyRecord is a tenant's signing-key lineage as stored: the lineage, the
// vault reference of each key, and a version that every change moves on.
type KeyRecord struct {
	TenantID string
	Version  int64 // 0: no record yet
	Lineage  pack.Lineage
	Refs     map[string]string // key_id → vault reference
	// Pending is a key made by a rotation (or first creation) that is not in
	// the lineage yet; a retry reuses it instead of making another.
	Pending *PendingKey
}

// PendingKey is a key on its way into the lineage. With an empty Ref it is a
// claim: the writer that recorded it at At is making the key in the vault,
// and nobody else makes one until it has recorded Ref, or until the claim is
// older than KeyClaimLease (its holder is gone).
type PendingKey struct {
	KeyID string
	Ref   string
	At    time.Time
}

// Summary is what one run did.
type Summary struct {
	Checked   int           `json:"checked"`
	Raised    int           `json:"raised"`
	Refreshed int           `json:"refreshed"`
	Closed    int           `json:"closed"`
	Errors    int           `json:"errors"`
	Duration  time.Duration `json:"duration"`
}
