package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/hub"
)

// CA keeps the hub CA certificate in the tenants table.
type CA struct{ conn }

// NewCA returns the store of the hub CA certificate.
func NewCA(db API, t Tables) (*CA, error) {
	c, err := newConn(db, t)
	if err != nil {
		return nil, err
	}
	return &CA{c}, nil
}

// hubItem is the tenants-table key that holds hub-wide settings. Tenant ids
// cannot start with "_", so it never collides with a tenant.
const hubItem = "_hub"

// CACert returns the hub CA certificate PEM, or hub.ErrNotFound before bootstrap.
func (s *CA) CACert(ctx context.Context) (string, error) {
	it, err := s.get(ctx, "get hub CA certificate", s.t.Tenants, item{"tenant_id": vs(hubItem)})
	if err != nil {
		return "", err
	}
	pem := gs(it, "ca_cert_pem")
	if pem == "" {
		return "", fmt.Errorf("get hub CA certificate: %w", hub.ErrNotFound)
	}
	return pem, nil
}

// PutCACert stores the CA certificate once; a second bootstrap loses the race
// and reads the first one's certificate back.
func (s *CA) PutCACert(ctx context.Context, pem, keyID string) (string, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Tenants),
		Item:                item{"tenant_id": vs(hubItem), "ca_cert_pem": vs(pem), "ca_key_id": vs(keyID)},
		ConditionExpression: aws.String("attribute_not_exists(tenant_id)")})
	if err = classify("put hub CA certificate", err); errors.Is(err, hub.ErrConflict) {
		return s.CACert(ctx)
	}
	if err != nil {
		return "", err
	}
	return pem, nil
}
