// Package anomaly holds the integrity-anomaly model and its rules (SPEC 4.3):
// kinds and severities, and at most one open anomaly per (agent, kind), where a
// repeat raises count and last_seen.
package anomaly

import (
	"fmt"
	"time"
)

// Kind names what went wrong.
type Kind string

// The kinds of SPEC 4.3, plus stale_agent (docs/anomalies.md).
const (
	UnsignedPayload  Kind = "unsigned_payload"
	SignatureInvalid Kind = "signature_invalid"
	CertPinMismatch  Kind = "cert_pin_mismatch"
	ReplayDetected   Kind = "replay_detected"
	VersionDowngrade Kind = "version_downgrade"
	StaleAgent       Kind = "stale_agent"
	ChainFork        Kind = "chain_fork"
)

// Kinds lists every kind, for validating filters.
var Kinds = []Kind{UnsignedPayload, SignatureInvalid, CertPinMismatch, ReplayDetected, VersionDowngrade, StaleAgent, ChainFork}

// ValidKind reports whether k is a known kind.
func ValidKind(k string) bool {
	for _, x := range Kinds {
		if string(x) == k {
			return true
		}
	}
	return false
}

// Severity ranks how bad an anomaly is.
type Severity string

// Severities, lowest first.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Rank orders severities; unknown ones rank lowest.
func (s Severity) Rank() int {
	switch s {
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	case Critical:
		return 4
	}
	return 0
}

// MaxSeverity returns the worse of a and b.
func MaxSeverity(a, b Severity) Severity {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Status of an anomaly.
type Status string

// Statuses.
const (
	Open   Status = "open"
	Closed Status = "closed"
)

// Anomaly is the record of SPEC 4.3.
type Anomaly struct {
	ID           string     `json:"anomaly_id"`
	TenantID     string     `json:"tenant_id"`
	AgentID      string     `json:"agent_id"`
	Kind         Kind       `json:"kind"`
	Severity     Severity   `json:"severity"`
	Status       Status     `json:"status"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	Count        int64      `json:"count"`
	Detail       string     `json:"detail"`
	ClosedAt     *time.Time `json:"closed_at"`
	ClosedReason *string    `json:"closed_reason"`
	Generation   int64      `json:"-"`
	// LastOccurrence is the Occurrence of the last event folded in ("" when
	// it named none): how a store counts a retried occurrence once.
	LastOccurrence string `json:"-"`
}

// Event is one occurrence that raises (or repeats) an anomaly.
type Event struct {
	TenantID string
	AgentID  string
	Kind     Kind
	Severity Severity
	Detail   string
	At       time.Time
	// Occurrence, when set, names this occurrence, so that a request that
	// is retried reports it once: raised again into the anomaly whose last
	// occurrence it is (open or closed since), it counts nothing and changes
	// nothing. A store remembers only the last occurrence.
	Occurrence string
}

// ID is the deterministic id of the gen-th anomaly of (agent, kind). Only the
// anomaly of the current generation can be open, which is what makes "one open
// anomaly per (agent, kind)" hold without transactions: see docs/dynamodb.md.
func ID(agentID string, k Kind, gen int64) string {
	return fmt.Sprintf("an_%s.%s.%d", agentID, k, gen)
}

// New opens the anomaly of generation gen for e.
func New(e Event, gen int64) Anomaly {
	return Anomaly{
		ID: ID(e.AgentID, e.Kind, gen), TenantID: e.TenantID, AgentID: e.AgentID,
		Kind: e.Kind, Severity: e.Severity, Status: Open,
		FirstSeen: e.At, LastSeen: e.At, Count: 1, Detail: e.Detail, Generation: gen, LastOccurrence: e.Occurrence,
	}
}

// Repeat folds a repeat occurrence into an open anomaly: count and last_seen go
// up, severity never goes down, and the latest detail is kept.
func (a Anomaly) Repeat(e Event) Anomaly {
	a.Count++
	if e.At.After(a.LastSeen) {
		a.LastSeen = e.At
	}
	a.Severity = MaxSeverity(a.Severity, e.Severity)
	if e.Detail != "" {
		a.Detail = e.Detail
	}
	a.LastOccurrence = e.Occurrence
	return a
}

// Counted reports whether e is an occurrence a has counted already: the
// last one folded into it (Event.Occurrence).
func (a Anomaly) Counted(e Event) bool {
	return e.Occurrence != "" && a.LastOccurrence == e.Occurrence
}

// Close marks the anomaly closed at t for reason.
func (a Anomaly) Close(t time.Time, reason string) Anomaly {
	a.Status = Closed
	a.ClosedAt = &t
	a.ClosedReason = &reason
	return a
}

// Filter selects anomalies of one tenant for listing.
type Filter struct {
	Status  Status
	Kind    Kind
	AgentID string
}

// Match reports whether a passes f.
func (f Filter) Match(a Anomaly) bool {
	return (f.Status == "" || a.Status == f.Status) &&
		(f.Kind == "" || a.Kind == f.Kind) &&
		(f.AgentID == "" || a.AgentID == f.AgentID)
}
