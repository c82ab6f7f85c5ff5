package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
)

// Tenants creates tenants and their admin keys: the operator's tool
// (monsys-admin bootstrap) and the local hub, not an HTTP endpoint.
type Tenants struct {
	tenants TenantStore
	creds   CredentialStore
	env     Env
	audit   auditor
}

// NewTenants returns the tenant operations.
func NewTenants(tenants TenantStore, creds CredentialStore, audit AuditSink, env Env) (*Tenants, error) {
	if tenants == nil || creds == nil || audit == nil {
		return nil, errors.New("hub: tenants need the tenants, the credentials and the audit log")
	}
	env = env.filled()
	return &Tenants{tenants: tenants, creds: creds, env: env, audit: auditor{audit, env}}, nil
}

// Bootstrap creates a tenant (if new) and a fresh admin key for it; the key is
// returned once. It is the operator's tool, not an HTTP endpoint.
func (tn *Tenants) Bootstrap(ctx context.Context, tenantID string) (string, error) {
	if !ca.ValidTenantID(tenantID) {
		return "", fmt.Errorf("bootstrap: %w: tenant id %q", ca.ErrBadID, tenantID)
	}
	now := tn.env.now()
	if _, err := tn.tenants.GetTenant(ctx, tenantID); errors.Is(err, ErrNotFound) {
		if err := tn.tenants.PutTenant(ctx, Tenant{TenantID: tenantID, CreatedAt: now}); err != nil {
			return "", fmt.Errorf("bootstrap: put tenant: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("bootstrap: get tenant: %w", err)
	}
	key, err := cred.New(cred.KindAdmin, tn.env.Rand)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if err := tn.creds.PutCredential(ctx, Credential{Hash: cred.Hash(key), Kind: cred.KindAdmin, TenantID: tenantID, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("bootstrap: put admin key: %w", err)
	}
	if err := tn.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: "operator", At: now, Action: "admin_key_created",
		ID: auditID("admin_key_created", cred.Hash(key))}); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return key, nil
}

// AdminKeyValid reports whether key is a live admin key of tenant (the local
// hub uses it to decide whether a remembered key can be reused).
func (tn *Tenants) AdminKeyValid(ctx context.Context, tenantID, key string) (bool, error) {
	c, err := tn.creds.GetCredential(ctx, cred.Hash(key))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Kind == cred.KindAdmin && c.TenantID == tenantID, nil
}
