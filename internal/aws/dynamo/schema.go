// Package dynamo is the DynamoDB adapter of the hub: the table schema and
// the hub's store ports, one adapter type per family of them (hub.Stores),
// built from single-item conditional writes only (no transactions, so that
// dynalite can run them). The design is in docs/dynamodb.md.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Tables names the hub's tables.
type Tables struct {
	Credentials string
	Tenants     string
	Agents      string
	Batches     string
	BatchIndex  string
	Anomalies   string
	Audit       string
	// Packs and SigningKeys are used by the evidence-pack functions only;
	// the other functions may leave them empty.
	Packs       string
	SigningKeys string
	// Log is the transparency log's table (tlog.go), used by the functions
	// that append to the log; the others may leave it empty.
	Log string
}

// TablesWithPrefix names every table prefix + its short name, as the local hub and tests do.
func TablesWithPrefix(prefix string) Tables {
	return Tables{
		Credentials: prefix + "credentials", Tenants: prefix + "tenants", Agents: prefix + "agents",
		Batches: prefix + "batches", BatchIndex: prefix + "batch-index", Anomalies: prefix + "anomalies", Audit: prefix + "audit",
		Packs: prefix + "packs", SigningKeys: prefix + "signing-keys", Log: prefix + TableLog,
	}
}

// Index names.
const (
	AuditByTime = "by-time"
	// AgentsAttention is the sparse index of agents that need the integrity
	// cycle's attention: only items with an attn attribute are in it.
	AgentsAttention = "attention"
	// AgentsLive is the sparse index of agents that send data, by a coarse
	// bucket of the time of their last batch (LiveBucket), keys only; an
	// agent leaves it when it is marked stale.
	AgentsLive = "live-bucket"
	// AgentsByTenant is the agents of each tenant by id (GET /agents), keys
	// only: its keys never change, so no ingest writes to it.
	AgentsByTenant = "tenant"
	// AgentsLogPending is the sparse index of agents with a signing-key
	// pin or unpin that may not be in the transparency log yet, by shard,
	// keys only: only pins and unpins write it (docs/dynamodb.md).
	AgentsLogPending = "log-pending"
	// PacksListed is the packs of each tenant by request time (GET
	// /evidence-packs); the chain head has no listed attribute.
	PacksListed = "listed"
)

// LiveBucket is the width of the live index's time buckets. An agent's
// bucket moves at most once per LiveBucket, so that a steady stream of
// batches does not rewrite the index; each agent's buckets are offset by a
// fixed amount of its own, so that the moves of a fleet spread evenly over
// time instead of all falling in the minute after a boundary
// (docs/dynamodb.md, "Hot partitions"). An agent whose last batch is older
// than the integrity cycle's cutoff is always found; an agent whose last
// batch is at most LiveBucket newer than the cutoff may be read and skipped,
// so the reads stay few while MONSYS_STALE_AFTER is well above LiveBucket
// plus the agents' sending interval.
const LiveBucket = 10 * time.Minute

// TTLAttribute is the DynamoDB TTL attribute (epoch seconds) of the batches
// and batch-index tables: absent when a batch is stored, set only by
// ExpirePart once a ready pack holds the batch (docs/dynamodb.md, "Hot
// window"). template.yaml enables TTL on it for the tables in TTLTables.
const TTLAttribute = "expire_at"

// TTLTables are the tables whose items expire by TTLAttribute.
func TTLTables(t Tables) []string { return []string{t.Batches, t.BatchIndex} }

// IndexShards is the number of partitions per tenant and day in the batch index;
// readers query them in parallel.
const IndexShards = 8

func attr(name string, t types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: t}
}

func key(name string, t types.KeyType) types.KeySchemaElement {
	return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: t}
}

// Schema returns the CreateTable inputs of every table. template.yaml mirrors
// them; a test keeps the two in step.
func Schema(t Tables) []*dynamodb.CreateTableInput {
	pk := func(name, hash string) *dynamodb.CreateTableInput {
		return &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{attr(hash, types.ScalarAttributeTypeS)},
			KeySchema:            []types.KeySchemaElement{key(hash, types.KeyTypeHash)}}
	}
	pksk := func(name, hash, rng string) *dynamodb.CreateTableInput {
		in := pk(name, hash)
		in.AttributeDefinitions = append(in.AttributeDefinitions, attr(rng, types.ScalarAttributeTypeS))
		in.KeySchema = append(in.KeySchema, key(rng, types.KeyTypeRange))
		return in
	}
	audit := pksk(t.Audit, "tenant_id", "event_id")
	audit.AttributeDefinitions = append(audit.AttributeDefinitions, attr("at", types.ScalarAttributeTypeS))
	audit.LocalSecondaryIndexes = []types.LocalSecondaryIndex{{IndexName: aws.String(AuditByTime),
		KeySchema:  []types.KeySchemaElement{key("tenant_id", types.KeyTypeHash), key("at", types.KeyTypeRange)},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}
	agents := pk(t.Agents, "agent_id")
	agents.AttributeDefinitions = append(agents.AttributeDefinitions, attr("attn", types.ScalarAttributeTypeS),
		attr("live_shard", types.ScalarAttributeTypeS), attr("live_b", types.ScalarAttributeTypeS), attr("tenant_id", types.ScalarAttributeTypeS),
		attr("lp", types.ScalarAttributeTypeS))
	agents.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{
		{IndexName: aws.String(AgentsAttention),
			KeySchema:  []types.KeySchemaElement{key("attn", types.KeyTypeHash), key("agent_id", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}},
		{IndexName: aws.String(AgentsLive),
			KeySchema:  []types.KeySchemaElement{key("live_shard", types.KeyTypeHash), key("live_b", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		{IndexName: aws.String(AgentsByTenant),
			KeySchema:  []types.KeySchemaElement{key("tenant_id", types.KeyTypeHash), key("agent_id", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		{IndexName: aws.String(AgentsLogPending),
			KeySchema:  []types.KeySchemaElement{key("lp", types.KeyTypeHash), key("agent_id", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
	}
	out := []*dynamodb.CreateTableInput{
		pk(t.Credentials, "hash"),
		pk(t.Tenants, "tenant_id"),
		agents,
		pksk(t.Batches, "agent_id", "batch_key"),
		pksk(t.BatchIndex, "tday", "entry"),
		pksk(t.Anomalies, "tenant_id", "anomaly_id"),
		audit,
	}
	if t.Packs != "" {
		packs := pksk(t.Packs, "tenant_id", "pack_id")
		packs.AttributeDefinitions = append(packs.AttributeDefinitions, attr("listed", types.ScalarAttributeTypeS))
		packs.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{IndexName: aws.String(PacksListed),
			KeySchema:  []types.KeySchemaElement{key("tenant_id", types.KeyTypeHash), key("listed", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: packListed}}}
		out = append(out, packs)
	}
	if t.SigningKeys != "" {
		out = append(out, pk(t.SigningKeys, "tenant_id"))
	}
	if t.Log != "" {
		out = append(out, LogSchema(t.Log))
	}
	return out
}

// CreateTables creates any missing table and waits until all are active. It is
// idempotent: the local hub and the tests call it on every start.
func CreateTables(ctx context.Context, c *dynamodb.Client, t Tables) error {
	for _, in := range Schema(t) {
		_, err := c.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	for _, in := range Schema(t) {
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	return nil
}
