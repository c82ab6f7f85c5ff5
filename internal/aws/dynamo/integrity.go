package dynamo

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/hub"
)

// Attention holds the integrity cycle's sparse indexes of agents (in the
// agents table) and its writes on them.
type Attention struct{ conn }

var _ hub.AttentionStore = (*Attention)(nil)

// shardOf spreads the sparse indexes over IndexShards partitions.
func shardOf(agentID string) string { return strconv.Itoa(indexShard(agentID)) }

// queryShards runs one query per shard of a sparse index and hands every item
// to fn, page by page.
func (s *Attention) queryShards(ctx context.Context, op string, in func(shard string) *dynamodb.QueryInput, fn func(hub.Agent) error) error {
	for sh := range IndexShards {
		q := in(strconv.Itoa(sh))
		for {
			out, err := s.db.Query(ctx, q)
			if err != nil {
				return classify(op, err)
			}
			for _, it := range out.Items {
				if err := fn(decodeAgent(it)); err != nil {
					return err
				}
			}
			if out.LastEvaluatedKey == nil {
				break
			}
			q.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	return nil
}

// AttentionAgents implements hub.AttentionIndex: the sparse attention index.
func (s *Attention) AttentionAgents(ctx context.Context, fn func(hub.Agent) error) error {
	return s.queryShards(ctx, "query attention index", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsAttention),
			KeyConditionExpression: aws.String("attn = :s"), ExpressionAttributeValues: item{":s": vs(sh)}}
	}, fn)
}

// QuietAgents implements hub.AttentionIndex: agents of the live index whose
// last data is older than cutoff. Active agents sort after the cutoff and are
// never read.
func (s *Attention) QuietAgents(ctx context.Context, cutoff time.Time, fn func(hub.Agent) error) error {
	return s.queryShards(ctx, "query live index", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsLive),
			KeyConditionExpression:    aws.String("live_shard = :s AND live_at < :c"),
			ExpressionAttributeValues: item{":s": vs(sh), ":c": vt(cutoff)}}
	}, fn)
}

// ActiveAgents implements hub.ActiveIndex.
func (s *Attention) ActiveAgents(ctx context.Context, since time.Time, fn func(hub.Agent) error) error {
	return s.queryShards(ctx, "query live index", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsLive),
			KeyConditionExpression:    aws.String("live_shard = :s AND live_at >= :c"),
			ExpressionAttributeValues: item{":s": vs(sh), ":c": vt(since)}}
	}, fn)
}

// MarkStale implements hub.StaleMarks.
func (s *Attention) MarkStale(ctx context.Context, id string, liveAt, at time.Time) error {
	return s.update(ctx, "mark stale", id, "SET stale_since = :at, attn = :sh REMOVE live_shard", "live_at = :live", nil,
		item{":at": vt(at), ":sh": vs(shardOf(id)), ":live": vt(liveAt)})
}

// ClearStale implements hub.StaleMarks.
func (s *Attention) ClearStale(ctx context.Context, id string, since time.Time) error {
	return s.update(ctx, "clear stale mark", id, "REMOVE stale_since", "stale_since = :s", nil, item{":s": vt(since)})
}

// ClearAttention implements hub.StaleMarks.
func (s *Attention) ClearAttention(ctx context.Context, id string, unsignedAt time.Time) error {
	cond, v := "attribute_not_exists(stale_since) AND attribute_not_exists(last_unsigned_at)", item(nil)
	if !unsignedAt.IsZero() {
		cond, v = "attribute_not_exists(stale_since) AND last_unsigned_at = :u", item{":u": vt(unsignedAt)}
	}
	return s.update(ctx, "clear attention", id, "REMOVE attn", cond, nil, v)
}
