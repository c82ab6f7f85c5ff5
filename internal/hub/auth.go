package hub

import (
	"context"
	"errors"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
)

// AgentAuth resolves agent tokens (check 1 of SPEC 4.2), for the agent
// endpoints.
type AgentAuth struct {
	creds  CredentialReader
	agents AgentReader
}

// NewAgentAuth returns the agent-token check over the credentials and agents.
func NewAgentAuth(creds CredentialReader, agents AgentReader) (*AgentAuth, error) {
	if creds == nil || agents == nil {
		return nil, errors.New("hub: agent auth needs the credentials and the agents")
	}
	return &AgentAuth{creds: creds, agents: agents}, nil
}

// Authenticate returns the agent whose token this is. The agent item must
// still carry the token's hash, so a rotated-out token fails even while its
// credential item lingers.
func (g *AgentAuth) Authenticate(ctx context.Context, token string) (Agent, error) {
	if token == "" {
		return Agent{}, refuse(CodeUnauthorized, "missing bearer token")
	}
	k, err := cred.Classify(token)
	if err != nil || k != cred.KindAgent {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	h := cred.Hash(token)
	c, err := g.creds.GetCredential(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	if err != nil {
		return Agent{}, backend("get credential", err)
	}
	if c.Kind != cred.KindAgent {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	a, err := g.agents.GetAgent(ctx, c.AgentID)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	if err != nil {
		return Agent{}, backend("get agent", err)
	}
	if a.TokenHash != h || a.TenantID != c.TenantID {
		return Agent{}, refuse(CodeUnauthorized, "agent token was rotated out")
	}
	return a, nil
}

// Admin is an authenticated tenant administrator.
type Admin struct {
	TenantID string
	KeyHash  string
}

// actorOf names an admin in the audit log.
func actorOf(Admin) string { return "admin" }

// AdminAuth checks admin keys and the operator certificates presented with
// them, for the admin endpoints.
type AdminAuth struct {
	creds CredentialReader
	certs *Certs
}

// NewAdminAuth returns the admin-key check over the credentials.
func NewAdminAuth(creds CredentialReader, certs *Certs) (*AdminAuth, error) {
	if creds == nil || certs == nil {
		return nil, errors.New("hub: admin auth needs the credentials and the certificate check")
	}
	return &AdminAuth{creds: creds, certs: certs}, nil
}

// Authenticate checks an admin key and the operator certificate presented
// with it (SPEC 5 step 7): 401 for a missing or unknown key, 403 for a
// certificate that is not an operator certificate of the key's tenant.
func (g *AdminAuth) Authenticate(ctx context.Context, key, certPEM string) (Admin, error) {
	if key == "" {
		return Admin{}, refuse(CodeUnauthorized, "missing admin key")
	}
	if k, err := cred.Classify(key); err != nil || k != cred.KindAdmin {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	h := cred.Hash(key)
	c, err := g.creds.GetCredential(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	if err != nil {
		return Admin{}, backend("get credential", err)
	}
	if c.Kind != cred.KindAdmin {
		return Admin{}, refuse(CodeUnauthorized, "unknown admin key")
	}
	p := g.certs.identify(certPEM)
	switch {
	case errors.Is(p.err, errNoCert) && g.certs.insecure:
	case p.err != nil:
		return Admin{}, refuse(CodeForbidden, "an operator client certificate is required")
	case p.id.Role != ca.RoleOperator:
		return Admin{}, refuse(CodeForbidden, "admin requests need an operator certificate; this one is role %q", p.id.Role.String())
	case p.id.Tenant != c.TenantID:
		return Admin{}, refuse(CodeForbidden, "the operator certificate belongs to another tenant")
	}
	return Admin{TenantID: c.TenantID, KeyHash: h}, nil
}
