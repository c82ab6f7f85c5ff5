package dynamo

import (
	"context"
	"errors"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
)

// Credentials keeps credentials, by the hash of their secret.
type Credentials struct{ conn }

var _ hub.CredentialStore = (*Credentials)(nil)

// Tenants keeps tenants.
type Tenants struct{ conn }

var _ hub.TenantStore = (*Tenants)(nil)

// GetCredential implements hub.CredentialReader.
func (s *Credentials) GetCredential(ctx context.Context, h string) (hub.Credential, error) {
	it, err := s.get(ctx, "get credential", s.t.Credentials, item{"hash": vs(h)})
	if err != nil {
		return hub.Credential{}, err
	}
	return hub.Credential{Hash: h, Kind: cred.Kind(gs(it, "kind")), TenantID: gs(it, "tenant_id"),
		AgentID: gs(it, "agent_id"), CreatedAt: gt(it, "created_at")}, nil
}

// PutCredential implements hub.CredentialStore.
func (s *Credentials) PutCredential(ctx context.Context, c hub.Credential) error {
	it := item{"hash": vs(c.Hash), "kind": vs(string(c.Kind)), "tenant_id": vs(c.TenantID), "created_at": vt(c.CreatedAt)}
	if c.AgentID != "" {
		it["agent_id"] = vs(c.AgentID)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Credentials), Item: it})
	return classify("put credential", err)
}

// DeleteCredential implements hub.CredentialStore.
func (s *Credentials) DeleteCredential(ctx context.Context, h string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.Credentials), Key: item{"hash": vs(h)}})
	return classify("delete credential", err)
}

// GetTenant implements hub.TenantStore.
func (s *Tenants) GetTenant(ctx context.Context, id string) (hub.Tenant, error) {
	it, err := s.get(ctx, "get tenant", s.t.Tenants, item{"tenant_id": vs(id)})
	if err != nil {
		return hub.Tenant{}, err
	}
	return hub.Tenant{TenantID: id, CreatedAt: gt(it, "created_at")}, nil
}

// PutTenant implements hub.TenantStore; an existing tenant is left as it is.
func (s *Tenants) PutTenant(ctx context.Context, t hub.Tenant) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Tenants),
		Item:                item{"tenant_id": vs(t.TenantID), "created_at": vt(t.CreatedAt)},
		ConditionExpression: aws.String("attribute_not_exists(tenant_id)")})
	err = classify("put tenant", err)
	if err != nil && errors.Is(err, hub.ErrConflict) {
		return nil
	}
	return err
}

// Scanner is the one DynamoDB operation API leaves out: only the operator's
// tool (monsys-admin tenant list) scans, and only the tenants table.
type Scanner interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// ListTenants implements hub.TenantStore: a scan of the tenants table, which
// holds one item per tenant and the hub's own item (skipped). The functions'
// clients cannot scan (API has no Scan); the operator's can.
func (s *Tenants) ListTenants(ctx context.Context) ([]hub.Tenant, error) {
	sc, ok := s.db.(Scanner)
	if !ok {
		return nil, errors.New("list tenants: this DynamoDB client cannot scan")
	}
	in := &dynamodb.ScanInput{TableName: aws.String(s.t.Tenants), ConsistentRead: aws.Bool(true)}
	var out []hub.Tenant
	for {
		page, err := sc.Scan(ctx, in)
		if err != nil {
			return nil, classify("list tenants", err)
		}
		for _, it := range page.Items {
			if id := gs(it, "tenant_id"); id != hubItem {
				out = append(out, hub.Tenant{TenantID: id, CreatedAt: gt(it, "created_at")})
			}
		}
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
	return out, nil
}
