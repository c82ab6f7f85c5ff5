package pack

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
)

// The records of the data files (SPEC 8 and 9; docs/packs.md, "What goes
// in"): one canonical JSON line each. Integers the hub generates that can
// exceed 2^53 (seq) are decimal strings, because RFC 8785 numbers are
// doubles; instants are RFC 3339 UTC. The records of an agent's
// <type>.ndjson files are the agent's own, as it sent them.

// BatchLine is a line of an agent's batch.ndjson (BatchPath), exactly the
// members of SPEC 9: one stored batch that records of the pack came from,
// or that lies between those in the agent's chain, or that was quarantined,
// with its exact bytes.
type BatchLine struct {
	BatchKey       string  `json:"batch_key"`
	Seq            *string `json:"seq"`
	Prev           *string `json:"prev"`
	ReceivedAt     string  `json:"received_at"`
	BodySHA256     string  `json:"body_sha256"`
	Signature      *string `json:"signature"`
	KeyFingerprint *string `json:"key_fingerprint"`
	Signed         bool    `json:"signed"`
	Records        int     `json:"records"`
	InPeriod       int     `json:"records_in_period"`
	Body           string  `json:"body"`
	Quarantined    string  `json:"quarantined,omitempty"`
}

// Members of a BatchLine that the verifiers read (SPEC 9: a quarantined
// batch is reported with its key and reason).
const (
	BatchKeyMember    = "batch_key"
	QuarantinedMember = "quarantined"
)

// batchLine is the line of b, whose header and records are parsed, n of
// them in the period; key is the agent's key when b was received, if any.
func batchLine(b Batch, parsed batch.Batch, n int, key *SigningKey) BatchLine {
	l := storedLine(b, key)
	l.Records, l.InPeriod = len(parsed.Records), n
	if h := parsed.Header; h != nil && b.Signed {
		if h.Prev != "" {
			p := h.Prev
			l.Prev = &p
		}
		s := strconv.FormatInt(h.Seq, 10)
		l.Seq = &s
	}
	return l
}

// quarantineLine is the line of a stored batch none of whose records can
// be packed (SPEC 9): what the store says of it, why, and
// "records_in_period":0. records is the count the batch was stored with.
func quarantineLine(b Batch, reason string, key *SigningKey) BatchLine {
	l := storedLine(b, key)
	l.Records, l.Quarantined = b.Records, reason
	if b.Signed {
		seq := strconv.FormatInt(b.Seq, 10)
		l.Seq = &seq
	}
	return l
}

// storedLine is what the store says of b: its key, bytes and signature.
func storedLine(b Batch, key *SigningKey) BatchLine {
	l := BatchLine{BatchKey: b.Key, BodySHA256: b.SHA256, Signed: b.Signed, ReceivedAt: TS(b.ReceivedAt),
		Body: base64.StdEncoding.EncodeToString(b.Body)}
	if b.Signed {
		s := b.Signature
		l.Signature = &s
		if key != nil {
			fp := Fingerprint(key.PublicKey)
			l.KeyFingerprint = &fp
		}
	}
	return l
}

// AnomalyLine is a line of alerts/anomalies.ndjson (AnomaliesPath): an
// anomaly as SPEC 4.3 shows it.
type AnomalyLine struct {
	AnomalyID    string     `json:"anomaly_id"`
	TenantID     string     `json:"tenant_id"`
	AgentID      string     `json:"agent_id"`
	Kind         string     `json:"kind"`
	Severity     string     `json:"severity"`
	Status       string     `json:"status"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	Count        int64      `json:"count"`
	Detail       string     `json:"detail"`
	ClosedAt     *time.Time `json:"closed_at"`
	ClosedReason *string    `json:"closed_reason"`
}

func anomalyLine(a anomaly.Anomaly) AnomalyLine {
	return AnomalyLine{AnomalyID: a.ID, TenantID: a.TenantID, AgentID: a.AgentID, Kind: string(a.Kind), Severity: string(a.Severity),
		Status: string(a.Status), FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Count: a.Count, Detail: a.Detail,
		ClosedAt: a.ClosedAt, ClosedReason: a.ClosedReason}
}

// AuditLine is a line of audit_log/audit_log.ndjson (AuditPath).
type AuditLine struct {
	EventID string            `json:"event_id"`
	At      string            `json:"at"`
	Action  string            `json:"action"`
	Actor   string            `json:"actor"`
	AgentID *string           `json:"agent_id"`
	Detail  map[string]string `json:"detail"`
}

func auditLine(e AuditEvent) AuditLine {
	l := AuditLine{EventID: e.ID, At: TS(e.At), Action: e.Action, Actor: e.Actor, Detail: e.Detail}
	if e.AgentID != "" {
		id := e.AgentID
		l.AgentID = &id
	}
	if l.Detail == nil {
		l.Detail = map[string]string{}
	}
	return l
}

// AgentLine is a line of agents.ndjson (AgentsPath): an agent, its pins
// and its versions.
type AgentLine struct {
	AgentID            string  `json:"agent_id"`
	Hostname           string  `json:"hostname"`
	OS                 string  `json:"os"`
	Arch               string  `json:"arch"`
	AgentVersion       string  `json:"agent_version"`
	MaxAgentVersion    string  `json:"max_agent_version"`
	SigningPubKey      *string `json:"signing_pubkey"`
	SigningKeyFP       *string `json:"signing_key_fingerprint"`
	SigningSetAt       *string `json:"signing_set_at"`
	ClientCertFP       *string `json:"client_cert_fingerprint"`
	ClientCertSetAt    *string `json:"client_cert_set_at"`
	ClientCertNotAfter *string `json:"client_cert_not_after"`
	LastSeq            string  `json:"last_seq"`
	RegisteredAt       *string `json:"registered_at"`
	CreatedAt          string  `json:"created_at"`
	// SigningKeys is every signing key the agent had, oldest first (SPEC 9).
	SigningKeys []SigningKeyLine `json:"signing_keys"`
}

// SigningKeyLine is one entry of an agent's key history.
type SigningKeyLine struct {
	PublicKey   string  `json:"public_key"`
	Fingerprint string  `json:"fingerprint"`
	PinnedAt    string  `json:"pinned_at"`
	UnpinnedAt  *string `json:"unpinned_at"`
}

func agentLine(a Agent) AgentLine {
	l := AgentLine{AgentID: a.AgentID, Hostname: a.Hostname, OS: a.OS, Arch: a.Arch, AgentVersion: a.AgentVersion,
		MaxAgentVersion: a.MaxAgentVersion, LastSeq: strconv.FormatInt(a.LastSeq, 10), RegisteredAt: instant(a.RegisteredAt),
		CreatedAt: TS(a.CreatedAt)}
	if len(a.SigningPubKey) > 0 {
		k, fp := base64.StdEncoding.EncodeToString(a.SigningPubKey), Fingerprint(a.SigningPubKey)
		l.SigningPubKey, l.SigningKeyFP, l.SigningSetAt = &k, &fp, instant(a.SigningSetAt)
	}
	l.SigningKeys = make([]SigningKeyLine, len(a.SigningKeys))
	for i, k := range a.SigningKeys {
		l.SigningKeys[i] = SigningKeyLine{PublicKey: base64.StdEncoding.EncodeToString(k.PublicKey), Fingerprint: Fingerprint(k.PublicKey),
			PinnedAt: TS(k.PinnedAt), UnpinnedAt: instant(k.UnpinnedAt)}
	}
	if c := a.ClientCert; c != nil {
		fp := c.Fingerprint
		l.ClientCertFP, l.ClientCertSetAt, l.ClientCertNotAfter = &fp, instant(c.SetAt), instant(c.NotAfter)
	}
	return l
}

// TS is how every instant of the pack's records is written: RFC 3339 UTC
// with as many digits of the second's fraction as it has (time.RFC3339Nano).
func TS(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// instant is t as RFC 3339 UTC, or null when it is zero.
func instant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := TS(t)
	return &s
}
