package hub

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/pack"
)

// Admin is an authenticated tenant administrator.
type Admin struct {
	TenantID string
	KeyHash  string
}

// AuthAdmin checks an admin key and the operator certificate presented with it
// (SPEC 5 step 7): 401 for a missing or unknown key, 403 for a certificate that
// is not an operator certificate of the key's tenant.
func (s *Service) AuthAdmin(ctx context.Context, key, certPEM string) (Admin, error) {
	if key == "" {
		return Admin{}, refuse(CodeUnauthorized, "missing admin key")
	}
	if k, err := cred.Classify(key); err != nil || k != cred.KindAdmin {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	h := cred.Hash(key)
	c, err := s.store.GetCredential(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	if err != nil {
		return Admin{}, backend("get credential", err)
	}
	if c.Kind != cred.KindAdmin {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	p := s.identify(certPEM)
	switch {
	case errors.Is(p.err, errNoCert) && s.cfg.InsecureNoClientCert:
	case p.err != nil:
		return Admin{}, refuse(CodeForbidden, "an operator client certificate is required")
	case p.id.Role != ca.RoleOperator:
		return Admin{}, refuse(CodeForbidden, "admin requests need an operator certificate; this one is role %q", p.id.Role.String())
	case p.id.Tenant != c.TenantID:
		return Admin{}, refuse(CodeForbidden, "the operator certificate belongs to another tenant")
	}
	return Admin{TenantID: c.TenantID, KeyHash: h}, nil
}

// NewAgent is the answer of POST /agents; the token is shown only here.
type NewAgent struct {
	AgentID string `json:"agent_id"`
	Token   string `json:"token"`
}

// CreateAgent makes an agent and its first token.
func (s *Service) CreateAgent(ctx context.Context, ad Admin, hostname string) (NewAgent, error) {
	if len(hostname) > 253 {
		return NewAgent{}, refuse(CodeInvalidRequest, "hostname is %d characters long, limit 253", len(hostname))
	}
	id, err := newID("ag_", s.rand)
	if err != nil {
		return NewAgent{}, backend("new agent id", err)
	}
	tok, err := cred.New(cred.KindAgent, s.rand)
	if err != nil {
		return NewAgent{}, backend("new agent token", err)
	}
	now := s.clock()
	h := cred.Hash(tok)
	// Credential first: until the agent item exists it points at nothing and
	// authenticates nobody, so a crash in between leaves no working token.
	if err := s.store.PutCredential(ctx, Credential{Hash: h, Kind: cred.KindAgent, TenantID: ad.TenantID, AgentID: id, CreatedAt: now}); err != nil {
		return NewAgent{}, backend("put credential", err)
	}
	a := Agent{TenantID: ad.TenantID, AgentID: id, TokenHash: h, Hostname: hostname, CreatedAt: now, AnomalyGen: map[anomaly.Kind]int64{}}
	if err := s.store.CreateAgent(ctx, a); err != nil {
		return NewAgent{}, backend("create agent", err)
	}
	if err := s.audit(ctx, AuditEvent{TenantID: ad.TenantID, AgentID: id, Actor: "admin", At: now,
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
func (s *Service) tenantAgent(ctx context.Context, ad Admin, id string) (Agent, error) {
	a, err := s.store.GetAgent(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.TenantID != ad.TenantID) {
		return Agent{}, refuse(CodeNotFound, "no agent %q", id)
	}
	if err != nil {
		return Agent{}, backend("get agent", err)
	}
	return a, nil
}

// GetAgent is GET /agents/{id}.
func (s *Service) GetAgent(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := s.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	return view(a), nil
}

// RotateSigningKey unsets the signing-key pin (seed: "Token rotation").
func (s *Service) RotateSigningKey(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := s.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	if err := s.store.UnpinSigningKey(ctx, id); err != nil {
		return AgentView{}, backend("unpin signing key", err)
	}
	now := s.clock()
	if err := s.audit(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: now, Action: "signing_key_unpinned",
		ID:     auditID("signing_key_unpinned", id, pack.Fingerprint(a.SigningPubKey), a.SigningSetAt.Format(time.RFC3339Nano)),
		Detail: map[string]string{"previous_fingerprint": pack.Fingerprint(a.SigningPubKey)}}); err != nil {
		return AgentView{}, err
	}
	a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
	return view(a), nil
}

// RotateClientCert unpins the agent's client certificate (SPEC 5 step 6).
func (s *Service) RotateClientCert(ctx context.Context, ad Admin, id string) (AgentView, error) {
	a, err := s.tenantAgent(ctx, ad, id)
	if err != nil {
		return AgentView{}, err
	}
	if err := s.store.UnpinCert(ctx, id); err != nil {
		return AgentView{}, backend("unpin client certificate", err)
	}
	prev := ""
	if a.Cert != nil {
		prev = a.Cert.Fingerprint
	}
	if err := s.audit(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: s.clock(), Action: "client_cert_unpinned",
		ID: auditID("client_cert_unpinned", id, prev), Detail: map[string]string{"previous_fingerprint": prev}}); err != nil {
		return AgentView{}, err
	}
	a.Cert = nil
	return view(a), nil
}

// RotateToken issues a new token; the old one stops working at once because
// authentication requires the agent item to carry the presented token's hash.
func (s *Service) RotateToken(ctx context.Context, ad Admin, id string) (NewAgent, error) {
	a, err := s.tenantAgent(ctx, ad, id)
	if err != nil {
		return NewAgent{}, err
	}
	tok, err := cred.New(cred.KindAgent, s.rand)
	if err != nil {
		return NewAgent{}, backend("new agent token", err)
	}
	h := cred.Hash(tok)
	now := s.clock()
	if err := s.store.PutCredential(ctx, Credential{Hash: h, Kind: cred.KindAgent, TenantID: a.TenantID, AgentID: id, CreatedAt: now}); err != nil {
		return NewAgent{}, backend("put credential", err)
	}
	if err := s.store.ReplaceToken(ctx, id, h, a.TokenHash); err != nil {
		_ = s.store.DeleteCredential(ctx, h) // the new token never became valid
		// A concurrent rotation won (SPEC 4: 409, never 5xx).
		if errors.Is(err, ErrConflict) {
			return NewAgent{}, &Error{Code: CodeConflict, Message: "the token was rotated concurrently; retry", RetryAfter: time.Second, Cause: err}
		}
		return NewAgent{}, backend("replace token", err)
	}
	if err := s.store.DeleteCredential(ctx, a.TokenHash); err != nil {
		// Harmless: the stale item no longer matches the agent's token hash.
		s.log.WarnContext(ctx, "delete rotated-out credential", "agent_id", id, "err", err)
	}
	if err := s.audit(ctx, AuditEvent{TenantID: a.TenantID, AgentID: id, Actor: "admin", At: now, Action: "token_rotated",
		ID: auditID("token_rotated", id, h)}); err != nil {
		return NewAgent{}, err
	}
	return NewAgent{AgentID: id, Token: tok}, nil
}

// ListAnomalies is GET /anomalies for the admin's tenant.
func (s *Service) ListAnomalies(ctx context.Context, ad Admin, f anomaly.Filter, cursor string, limit int) (AnomalyPage, error) {
	if f.Status != "" && f.Status != anomaly.Open && f.Status != anomaly.Closed {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "status must be open or closed, got %q", f.Status)
	}
	if f.Kind != "" && !anomaly.ValidKind(string(f.Kind)) {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "unknown anomaly kind %q", f.Kind)
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	p, err := s.store.ListAnomalies(ctx, ad.TenantID, f, cursor, limit)
	if errors.Is(err, ErrBadCursor) {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "the cursor is not one this hub issued")
	}
	if err != nil {
		return AnomalyPage{}, backend("list anomalies", err)
	}
	if p.Anomalies == nil {
		p.Anomalies = []anomaly.Anomaly{}
	}
	return p, nil
}

// ErrBadCursor means a pagination cursor does not decode.
var ErrBadCursor = errors.New("bad cursor")

// Bootstrap creates a tenant (if new) and a fresh admin key for it; the key is
// returned once. It is the operator's tool, not an HTTP endpoint.
func (s *Service) Bootstrap(ctx context.Context, tenantID string) (string, error) {
	if !ca.ValidTenantID(tenantID) {
		return "", fmt.Errorf("bootstrap: %w: tenant id %q", ca.ErrBadID, tenantID)
	}
	now := s.clock()
	if _, err := s.store.GetTenant(ctx, tenantID); errors.Is(err, ErrNotFound) {
		if err := s.store.PutTenant(ctx, Tenant{TenantID: tenantID, CreatedAt: now}); err != nil {
			return "", fmt.Errorf("bootstrap: put tenant: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("bootstrap: get tenant: %w", err)
	}
	key, err := cred.New(cred.KindAdmin, s.rand)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if err := s.store.PutCredential(ctx, Credential{Hash: cred.Hash(key), Kind: cred.KindAdmin, TenantID: tenantID, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("bootstrap: put admin key: %w", err)
	}
	if err := s.audit(ctx, AuditEvent{TenantID: tenantID, Actor: "operator", At: now, Action: "admin_key_created",
		ID: auditID("admin_key_created", cred.Hash(key))}); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return key, nil
}

// AdminKeyValid reports whether key is a live admin key of tenant (the local
// hub uses it to decide whether a remembered key can be reused).
func (s *Service) AdminKeyValid(ctx context.Context, tenantID, key string) (bool, error) {
	c, err := s.store.GetCredential(ctx, cred.Hash(key))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Kind == cred.KindAdmin && c.TenantID == tenantID, nil
}

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

func newID(prefix string, r io.Reader) (string, error) {
	b := make([]byte, 15)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return prefix + strings.ToLower(idEnc.EncodeToString(b)), nil
}
