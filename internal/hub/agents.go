package hub

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/pack"
)

// NewAgent is the answer of POST /agents; the token is shown only here.
type NewAgent struct {
	AgentID string `json:"agent_id"`
	Token   string `json:"token"`
}

// AgentsDeps are what the admin's agent operations read and write.
type AgentsDeps struct {
	Agents AgentReader
	List   AgentLister
	Make   AgentMaker
	Unpin  Unpinner
	Creds  CredentialWriter
	Audit  AuditSink
	// Log, when set, gets the entry of every signing-key unpin (SPEC 10).
	Log LogSubmitter
}

// Agents is the admin's agent operations (SPEC 4: POST /agents, GET
// /agents/{id} and the rotations).
type Agents struct {
	d     AgentsDeps
	env   Env
	audit auditor
}

// NewAgents returns the admin's agent operations.
func NewAgents(d AgentsDeps, env Env) (*Agents, error) {
	if d.Agents == nil || d.List == nil || d.Make == nil || d.Unpin == nil || d.Creds == nil || d.Audit == nil {
		return nil, errors.New("hub: the agent operations need every one of AgentsDeps")
	}
	env = env.filled()
	return &Agents{d: d, env: env, audit: auditor{d.Audit, env}}, nil
}

// Create makes an agent and its first token (POST /agents).
func (ag *Agents) Create(ctx context.Context, ad Admin, hostname string) (NewAgent, error) {
	if len(hostname) > 253 {
		return NewAgent{}, refuse(CodeInvalidRequest, "hostname is %d characters long, limit 253", len(hostname))
	}
	id, err := ag.env.newID("ag_")
	if err != nil {
		return NewAgent{}, backend("new agent id", err)
	}
	tok, err := cred.New(cred.KindAgent, ag.env.Rand)
	if err != nil {
		return NewAgent{}, backend("new agent token", err)
	}
	now := ag.env.now()
	h := cred.Hash(tok)
	// Credential first: until the agent item exists it points at nothing and
	// authenticates nobody, so a crash in between leaves no working token.
	if err := ag.d.Creds.PutCredential(ctx, Credential{Hash: h, Kind: cred.KindAgent, TenantID: ad.TenantID, AgentID: id, CreatedAt: now}); err != nil {
		return NewAgent{}, backend("put credential", err)
	}
	a := Agent{TenantID: ad.TenantID, AgentID: id, TokenHash: h, Hostname: hostname, CreatedAt: now, AnomalyGen: map[anomaly.Kind]int64{}}
	if err := ag.d.Make.CreateAgent(ctx, a); err != nil {
		return NewAgent{}, backend("create agent", err)
	}
	if err := ag.audit.record(ctx, AuditEvent{TenantID: ad.TenantID, AgentID: id, Actor: "admin", At: now,
		Action: "agent_created", ID: auditID("agent_created", id)}); err != nil {
		return NewAgent{}, err
	}
	return NewAgent{AgentID: id, Token: tok}, nil
}

// AgentView is the admin's view of an agent (GET /agents/{id}).
type AgentView struct {
	AgentID             string     `json:"agent_id"`
	TenantID            string     `json:"tenant_id"`
	Hostname            string     `json:"hostname"`
	OS                  string     `json:"os"`
	Arch                string     `json:"arch"`
	AgentVersion        string     `json:"agent_version"`
	MaxAgentVersion     string     `json:"max_agent_version"`
	SigningPubKeyPinned bool       `json:"signing_pubkey_pinned"`
	SigningPubKey       *string    `json:"signing_pubkey"`
	SigningKeyFP        *string    `json:"signing_key_fingerprint"`
	SigningSetAt        *time.Time `json:"signing_set_at"`
	ClientCertPinned    bool       `json:"client_cert_pinned"`
	ClientCertFP        *string    `json:"client_cert_fingerprint"`
	ClientCertNotAfter  *time.Time `json:"client_cert_not_after"`
	LastSeq             int64      `json:"last_seq"`
	LastSeen            *time.Time `json:"last_seen"`
	LastSignedAt        *time.Time `json:"last_signed_at"`
	LastUnsignedAt      *time.Time `json:"last_unsigned_at"`
	SendsUnsigned       bool       `json:"sends_unsigned"`
	RegisteredAt        *time.Time `json:"registered_at"`
	CreatedAt           time.Time  `json:"created_at"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func view(a Agent) AgentView {
	v := AgentView{AgentID: a.AgentID, TenantID: a.TenantID, Hostname: a.Hostname, OS: a.OS, Arch: a.Arch,
		AgentVersion: a.AgentVersion, MaxAgentVersion: a.MaxAgentVersion, LastSeq: a.LastSeq,
		LastSeen: tp(a.LastSeen), LastSignedAt: tp(a.LastSignedAt), LastUnsignedAt: tp(a.LastUnsignedAt),
		RegisteredAt: tp(a.RegisteredAt), CreatedAt: a.CreatedAt}
	if len(a.SigningPubKey) > 0 {
		k, fp := base64.StdEncoding.EncodeToString(a.SigningPubKey), pack.Fingerprint(a.SigningPubKey)
		v.SigningPubKeyPinned, v.SigningPubKey, v.SigningKeyFP, v.SigningSetAt = true, &k, &fp, tp(a.SigningSetAt)
	}
	if a.Cert != nil {
		fp := a.Cert.Fingerprint
		v.ClientCertPinned, v.ClientCertFP, v.ClientCertNotAfter = true, &fp, tp(a.Cert.NotAfter)
	}
	v.SendsUnsigned = len(a.SigningPubKey) == 0 && !a.LastUnsignedAt.IsZero()
	return v
}

// tenantAgent reads an agent of the admin's tenant; another tenant's agent is
// not_found, exactly like a missing one.
func (ag *Agents) tenantAgent(ctx context.Context, ad Admin, id string) (Agent, error) {
	a, err := ag.d.Agents.GetAgent(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.TenantID != ad.TenantID) {
		return Agent{}, refuse(CodeNotFound, "no agent %q", id)
	}
	if err != nil {
		return Agent{}, backend("get agent", err)
	}
	return a, nil
}

// Get is GET /agents/{id}.
func (ag *Agents) Get(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := ag.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	return view(a), nil
}

// AgentList is the answer of GET /agents.
type AgentList struct {
	Agents     []AgentView `json:"agents"`
	NextCursor *string     `json:"next_cursor"`
}

// List is GET /agents for the admin's tenant: one page, by agent id.
func (ag *Agents) List(ctx context.Context, ad Admin, status, cursor string, limit int) (AgentList, error) {
	if !ValidAgentStatus(status) {
		return AgentList{}, refuse(CodeInvalidRequest, "status must be pinned, legacy, stale or attention, got %q", status)
	}
	p, err := ag.d.List.ListAgents(ctx, ad.TenantID, AgentStatus(status), cursor, pageLimit(limit))
	if errors.Is(err, ErrBadCursor) {
		return AgentList{}, refuse(CodeInvalidRequest, "the cursor is not one this hub issued")
	}
	if err != nil {
		return AgentList{}, backend("list agents", err)
	}
	out := AgentList{Agents: make([]AgentView, 0, len(p.Agents)), NextCursor: nextCursor(p.NextCursor)}
	for _, a := range p.Agents {
		if a.TenantID == ad.TenantID { // the store's answer, checked: never another tenant's
			out.Agents = append(out.Agents, view(a))
		}
	}
	return out, nil
}

// pageLimit is a listing's page size: 1 to 500, 100 when unset.
func pageLimit(limit int) int {
	if limit <= 0 || limit > 500 {
		return 100
	}
	return limit
}

// nextCursor is the JSON form of a page's cursor: null on the last page.
func nextCursor(c string) *string {
	if c == "" {
		return nil
	}
	return &c
}

// RotateSigningKey unsets the signing-key pin (seed: "Token rotation").
func (ag *Agents) RotateSigningKey(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := ag.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	now := ag.env.now()
	a, mark, err := ag.unpinSigning(ctx, a, now)
	if err != nil {
		return AgentView{}, err
	}
	if err := logUnpin(ctx, ag.d.Log, a, a.SigningPubKey, now); err != nil {
		return AgentView{}, backend("log signing-key unpin", err)
	}
	if mark != "" {
		clearLogMark(ctx, ag.env, ag.d.Unpin, a.AgentID, mark)
	}
	if err := ag.audit.record(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: now, Action: "signing_key_unpinned",
		ID:     auditID("signing_key_unpinned", id, pack.Fingerprint(a.SigningPubKey), a.SigningSetAt.Format(time.RFC3339Nano)),
		Detail: map[string]string{"previous_fingerprint": pack.Fingerprint(a.SigningPubKey)}}); err != nil {
		return AgentView{}, err
	}
	a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
	return view(a), nil
}

// unpinSigning unpins a's signing key, if one is pinned, at now; a lost
// race is decided again on a fresh read. It returns a as it was when the
// pin was removed (or found absent) and the log mark the unpin set ("" when
// there was no pin).
func (ag *Agents) unpinSigning(ctx context.Context, a Agent, now time.Time) (Agent, string, error) {
	for range 3 {
		if len(a.SigningPubKey) == 0 {
			return a, "", nil
		}
		c, err := commitKeyChange(ctx, ag.d.Unpin, a, KeyUnpin, nil, now)
		if err == nil {
			return a, c.Mark(), nil
		}
		if !errors.Is(err, ErrConflict) {
			return a, "", backend("unpin signing key", err)
		}
		if a, err = ag.d.Agents.GetAgent(ctx, a.AgentID); err != nil {
			return a, "", backend("re-read agent", err)
		}
	}
	return a, "", &Error{Code: CodeConflict, Message: "the signing-key pin is contended; retry", RetryAfter: time.Second}
}

// RotateClientCert unpins the agent's client certificate (SPEC 5 step 6).
func (ag *Agents) RotateClientCert(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := ag.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	if err := ag.d.Unpin.UnpinCert(ctx, id); err != nil {
		return AgentView{}, backend("unpin client certificate", err)
	}
	prev := ""
	if a.Cert != nil {
		prev = a.Cert.Fingerprint
	}
	if err := ag.audit.record(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: ag.env.now(), Action: "client_cert_unpinned",
		ID: auditID("client_cert_unpinned", id, prev), Detail: map[string]string{"previous_fingerprint": prev}}); err != nil {
		return AgentView{}, err
	}
	a.Cert = nil
	return view(a), nil
}

// RotateToken issues a new token; the old one stops working at once because
// authentication requires the agent item to carry the presented token's hash.
func (ag *Agents) RotateToken(ctx context.Context, ad Admin, id string) (NewAgent, error) {
	a, err := ag.tenantAgent(ctx, ad, id)
	if err != nil {
		return NewAgent{}, err
	}
	tok, err := cred.New(cred.KindAgent, ag.env.Rand)
	if err != nil {
		return NewAgent{}, backend("new agent token", err)
	}
	h := cred.Hash(tok)
	now := ag.env.now()
	if err := ag.d.Creds.PutCredential(ctx, Credential{Hash: h, Kind: cred.KindAgent, TenantID: a.TenantID, AgentID: id, CreatedAt: now}); err != nil {
		return NewAgent{}, backend("put credential", err)
	}
	if err := ag.d.Make.ReplaceToken(ctx, id, h, a.TokenHash); err != nil {
		_ = ag.d.Creds.DeleteCredential(ctx, h) // the new token never became valid
		// A concurrent rotation won (SPEC 4: 409, never 5xx).
		if errors.Is(err, ErrConflict) {
			return NewAgent{}, &Error{Code: CodeConflict, Message: "the token was rotated concurrently; retry", RetryAfter: time.Second, Cause: err}
		}
		return NewAgent{}, backend("replace token", err)
	}
	if err := ag.d.Creds.DeleteCredential(ctx, a.TokenHash); err != nil {
		// Harmless: the stale item no longer matches the agent's token hash.
		ag.env.Log.WarnContext(ctx, "delete rotated-out credential", "agent_id", id, "err", err)
	}
	if err := ag.audit.record(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: now, Action: "token_rotated",
		ID: auditID("token_rotated", id, h)}); err != nil {
		return NewAgent{}, err
	}
	return NewAgent{AgentID: id, Token: tok}, nil
}
