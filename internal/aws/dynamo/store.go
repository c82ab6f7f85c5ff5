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
// table names (and, for the tables every ingest writes, the names as the
// SDK's inputs take them, made once: the SDK only reads them).
type conn struct {
	db API
	t  Tables

	agents, batches, batchIndex *string
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
	if err := dataPlane(db); err != nil {
		return conn{}, err
	}
	for _, n := range []string{t.Credentials, t.Tenants, t.Agents, t.Batches, t.BatchIndex, t.Anomalies, t.Audit} {
		if n == "" {
			return conn{}, fmt.Errorf("dynamo: every table name is required, got %+v", t)
		}
	}
	return conn{db: db, t: t, agents: aws.String(t.Agents), batches: aws.String(t.Batches), batchIndex: aws.String(t.BatchIndex)}, nil
}

// dataPlane refuses a client the stores must not send through: none, or
// the SDK's own, which keeps the control plane only (every data-plane call
// goes through internal/aws/ddb; docs/dynamodb.md, "A DynamoDB client of
// our own").
func dataPlane(db any) error {
	switch db.(type) {
	case nil:
		return fmt.Errorf("dynamo: nil client")
	case *dynamodb.Client:
		return fmt.Errorf("dynamo: the SDK's client is for the control plane: give the stores a *ddb.Client (ddb.FromSDK)")
	}
	return nil
}

// consistent is ConsistentRead: true, for every GetItem (the SDK only reads it).
var consistent = aws.Bool(true)

func (s *conn) get(ctx context.Context, op, table string, k item) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.name(table), Key: k, ConsistentRead: consistent})
	if err != nil {
		return nil, classify(op, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("%s: %w", op, hub.ErrNotFound)
	}
	return out.Item, nil
}

// name is table as an SDK input member: the one made once for the tables
// every ingest writes, a new one for the others.
func (s *conn) name(table string) *string {
	switch table {
	case s.t.Agents:
		return s.agents
	case s.t.Batches:
		return s.batches
	case s.t.BatchIndex:
		return s.batchIndex
	}
	return aws.String(table)
}
