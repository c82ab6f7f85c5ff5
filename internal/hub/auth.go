package hub

import (
	"context"
	"errors"
	"sync"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
)

// AgentAuth resolves agent tokens (check 1 of SPEC 4.2), for the agent
// endpoints.
type AgentAuth struct {
	creds  CredentialReader
	agents agentReaders
	known  credCache
}

// agentReaders reads an agent whole or its state alone.
type agentReaders interface {
	AgentReader
	AgentStateReader
}

// credCacheSize bounds the credential cache; past it the cache starts over.
const credCacheSize = 1 << 16

// credCache remembers the agent credentials a warm function has read, by
// token hash. A credential item never changes while its token is valid
// (rotation writes a new one and switches the agent item's token_hash), and
// Authenticate still reads the agent item, strongly consistent, on every
// request and compares its token_hash: a cached credential of a rotated-out
// token is refused as before. Only successful reads are kept.
type credCache struct {
	mu sync.Mutex
	m  map[string]Credential
}

func (c *credCache) get(hash string) (Credential, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[hash]
	return v, ok
}

func (c *credCache) put(v Credential) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= credCacheSize {
		c.m = make(map[string]Credential)
	}
	c.m[v.Hash] = v
}

// NewAgentAuth returns the agent-token check over the credentials and agents.
func NewAgentAuth(creds CredentialReader, agents agentReaders) (*AgentAuth, error) {
	if creds == nil || agents == nil {
		return nil, errors.New("hub: agent auth needs the credentials and the agents")
	}
	return &AgentAuth{creds: creds, agents: agents}, nil
}

// Authenticate returns the agent whose token this is, without its profile
// (Agent.WithoutProfile). The agent must still carry the token's hash, so a
// rotated-out token fails even while its credential item lingers.
func (g *AgentAuth) Authenticate(ctx context.Context, token string) (Agent, error) {
	return g.authenticate(ctx, token, g.agents.GetAgentState)
}

// AuthenticateWithProfile is Authenticate returning the whole agent.
func (g *AgentAuth) AuthenticateWithProfile(ctx context.Context, token string) (Agent, error) {
	return g.authenticate(ctx, token, g.agents.GetAgent)
}

func (g *AgentAuth) authenticate(ctx context.Context, token string, read func(context.Context, string) (Agent, error)) (Agent, error) {
	c, ok := Credential{}, false
	if token != "" {
		c, ok = g.known.get(cred.Hash(token))
	}
	if !ok {
		var err error
		if c, err = lookup(ctx, g.creds, token, cred.KindAgent, "missing bearer token", "unknown agent token"); err != nil {
			return Agent{}, err
		}
		g.known.put(c)
	}
	a, err := read(ctx, c.AgentID)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	if err != nil {
		return Agent{}, backend("get agent", err)
	}
	if a.TokenHash != c.Hash || a.TenantID != c.TenantID {
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
	c, err := lookup(ctx, g.creds, key, cred.KindAdmin, "missing admin key", "unknown admin key")
	if err != nil {
		return Admin{}, err
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
	return Admin{TenantID: c.TenantID, KeyHash: c.Hash}, nil
}

// lookup finds the stored credential of a bearer secret of kind: 401 with
// missing when there is none, with unknown when it is of another kind or not
// stored.
func lookup(ctx context.Context, creds CredentialReader, secret string, kind cred.Kind, missing, unknown string) (Credential, error) {
	if secret == "" {
		return Credential{}, refuse(CodeUnauthorized, "%s", missing)
	}
	if k, err := cred.Classify(secret); err != nil || k != kind {
		return Credential{}, refuse(CodeUnauthorized, "%s", unknown)
	}
	c, err := creds.GetCredential(ctx, cred.Hash(secret))
	if errors.Is(err, ErrNotFound) || err == nil && c.Kind != kind {
		return Credential{}, refuse(CodeUnauthorized, "%s", unknown)
	}
	if err != nil {
		return Credential{}, backend("get credential", err)
	}
	return c, nil
}
