package pack

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/monsys/hub/internal/anomaly"
)

// Source is where a pack's data comes from: the hub's stores, read by
// tenant and time, never by a scan. A read may return more than the period
// holds (an index whose days reach past it, a batch received since); what
// goes in is decided here, by the rules of docs/packs.md, "What goes in".
// Errors of a Source are returned wrapped, with the operation named.
type Source interface {
	// Batches calls fn, never concurrently, for every stored batch of the
	// tenant that may hold records of the period. An error of fn ends the
	// read and is returned.
	Batches(ctx context.Context, p Period, fn func(Batch) error) error
	// Anomalies calls fn for every anomaly of the tenant, open or closed.
	Anomalies(ctx context.Context, p Period, fn func(anomaly.Anomaly) error) error
	// Audit calls fn for every audit event of the tenant in [p.Start,
	// p.Until()).
	Audit(ctx context.Context, p Period, fn func(AuditEvent) error) error
	// Agent returns one agent, or ErrUnknownAgent.
	Agent(ctx context.Context, agentID string) (Agent, error)
	// SignedBatches calls fn, never concurrently and in seq order, for
	// every signed batch of the agent whose seq is in [from, to]: the
	// agent's chain between the batches a pack holds (SPEC 9), read by seq,
	// never by a scan.
	SignedBatches(ctx context.Context, agentID string, from, to int64, fn func(Batch) error) error
}

// ErrUnknownAgent is what Source.Agent returns for an agent it does not
// have; the agent is left out of agents.ndjson.
var ErrUnknownAgent = errors.New("pack: unknown agent")

// Period is what a pack covers: a tenant's data from Start to End, End
// included to the second (docs/packs.md).
type Period struct {
	TenantID   string
	Start, End time.Time
}

// Until is the first instant after the period: End + 1 s.
func (p Period) Until() time.Time { return p.End.Add(time.Second) }

// Contains says whether t is in the period: Start ≤ t < End + 1 s.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.Until()) }

// Batch is one stored ingest body with what the hub recorded of it.
type Batch struct {
	TenantID   string
	AgentID    string
	Key        string // "s#<seq>" for a signed batch, "u#<sha256>" for a legacy one
	Seq        int64
	SHA256     string // of Body, lowercase hex
	Signed     bool
	Signature  string // the agent's, base64
	Body       []byte // exactly as received
	Records    int    // as counted when it was stored
	ReceivedAt time.Time
}

// AuditEvent is one event of a tenant's audit log.
type AuditEvent struct {
	TenantID string
	ID       string
	At       time.Time
	Action   string
	AgentID  string // "" when the event is about no agent
	Actor    string
	Detail   map[string]string
}

// Agent is the hub's record of one host, as far as a pack shows it.
type Agent struct {
	TenantID        string
	AgentID         string
	Hostname        string
	OS              string
	Arch            string
	AgentVersion    string
	MaxAgentVersion string
	SigningPubKey   []byte // nil: no key pinned
	SigningSetAt    time.Time
	SigningKeys     []SigningKey // every key it had, oldest first (SPEC 9)
	ClientCert      *ClientCert  // nil: no certificate pinned
	LastSeq         int64
	RegisteredAt    time.Time
	CreatedAt       time.Time
}

// SigningKey is one signing key an agent had: pinned from PinnedAt until
// UnpinnedAt (zero while pinned).
type SigningKey struct {
	PublicKey            []byte
	PinnedAt, UnpinnedAt time.Time
}

// KeyAt returns the key of keys whose [pinned_at, unpinned_at) holds t.
func KeyAt(keys []SigningKey, t time.Time) (SigningKey, bool) {
	for _, k := range keys {
		if !t.Before(k.PinnedAt) && (k.UnpinnedAt.IsZero() || t.Before(k.UnpinnedAt)) {
			return k, true
		}
	}
	return SigningKey{}, false
}

// ClientCert is an agent's pinned client certificate (SPEC 5).
type ClientCert struct {
	Fingerprint     string
	SetAt, NotAfter time.Time
}

// Build writes the evidence pack of meta's period to w: the data files of
// SPEC 8 with what src held about the tenant's period before
// meta.GeneratedAt, then manifest, signature and archive as
// Builder.Finish writes them. The same data and meta give the same bytes.
func Build(ctx context.Context, meta Meta, signer Signer, opts Options, src Source, w io.Writer) (*Result, error) {
	b, err := NewBuilder(meta, signer, opts)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := b.addPeriod(ctx, src); err != nil {
		return nil, err
	}
	return b.Finish(ctx, w)
}
