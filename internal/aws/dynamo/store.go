package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/hub"
)

// API is the part of the DynamoDB client the stores call.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// conn is what every store of this package shares: the client and the
// table names.
type conn struct {
	db API
	t  Tables
}

// New returns the hub's stores over the given tables, one adapter per
// family of hub ports (hub.Stores). Packs and Keys answer an error when
// their tables are not named.
func New(db API, t Tables) (hub.Stores, error) {
	c, err := newConn(db, t)
	if err != nil {
		return hub.Stores{}, err
	}
	return hub.Stores{Credentials: &Credentials{c}, Tenants: &Tenants{c}, Agents: &Agents{c}, Commits: &Commits{c},
		Attention: &Attention{c}, Batches: &Batches{c}, Anomalies: &Anomalies{c}, Audit: &AuditLog{c}, Packs: &Packs{c}, Keys: &Keys{c}}, nil
}

func newConn(db API, t Tables) (conn, error) {
	if db == nil {
		return conn{}, fmt.Errorf("dynamo: nil client")
	}
	for _, n := range []string{t.Credentials, t.Tenants, t.Agents, t.Batches, t.BatchIndex, t.Anomalies, t.Audit} {
		if n == "" {
			return conn{}, fmt.Errorf("dynamo: every table name is required, got %+v", t)
		}
	}
	return conn{db: db, t: t}, nil
}

func (s *conn) get(ctx context.Context, op, table string, k item) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, classify(op, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("%s: %w", op, hub.ErrNotFound)
	}
	return out.Item, nil
}
