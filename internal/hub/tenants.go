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

// ErrTenantExists means Create was asked for a tenant that exists.
var ErrTenantExists = errors.New("the tenant exists")

// Create creates a new tenant and its first admin key, returned once; a
// tenant that exists is ErrTenantExists (its admin key is rotated, not
// made anew).
func (tn *Tenants) Create(ctx context.Context, tenantID string) (string, error) {
	if !ca.ValidTenantID(tenantID) {
		return "", fmt.Errorf("create tenant: %w: tenant id %q", ca.ErrBadID, tenantID)
	}
	if _, err := tn.tenants.GetTenant(ctx, tenantID); err == nil {
		return "", fmt.Errorf("create tenant %s: %w", tenantID, ErrTenantExists)
	} else if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("create tenant: get tenant: %w", err)
	}
	return tn.Bootstrap(ctx, tenantID)
}

// List returns every tenant, by id.
func (tn *Tenants) List(ctx context.Context) ([]Tenant, error) {
	ts, err := tn.tenants.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// ErrAdminKeyUnknown means the admin key to rotate is not a live key of the tenant.
var ErrAdminKeyUnknown = errors.New("not a live admin key of the tenant")

// RotateAdminKey replaces the tenant's admin key old by a new one, returned
// once: the new key works before the old one stops. If the old one cannot
// be retired, the new key comes back with the error: the caller keeps it.
func (tn *Tenants) RotateAdminKey(ctx context.Context, tenantID, old string) (string, error) {
	ok, err := tn.AdminKeyValid(ctx, tenantID, old)
	if err != nil {
		return "", fmt.Errorf("rotate admin key: %w", err)
	}
	if !ok {
		return "", fmt.Errorf("rotate admin key of %s: %w", tenantID, ErrAdminKeyUnknown)
	}
	key, err := cred.New(cred.KindAdmin, tn.env.Rand)
	if err != nil {
		return "", fmt.Errorf("rotate admin key: %w", err)
	}
	now := tn.env.now()
	if err := tn.creds.PutCredential(ctx, Credential{Hash: cred.Hash(key), Kind: cred.KindAdmin, TenantID: tenantID, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("rotate admin key: put new key: %w", err)
	}
	if err := tn.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: "operator", At: now, Action: "admin_key_rotated",
		ID: auditID("admin_key_rotated", cred.Hash(key)), Detail: map[string]string{"previous_key_hash": cred.Hash(old)}}); err != nil {
		return "", fmt.Errorf("rotate admin key: %w", err)
	}
	if err := tn.creds.DeleteCredential(ctx, cred.Hash(old)); err != nil {
		// The new key works: hand it out with the error, so that it is kept.
		return key, fmt.Errorf("rotate admin key: the new key works, but the old one could not be retired (run the rotation again with the new key's profile to retire it with the next): %w", err)
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
