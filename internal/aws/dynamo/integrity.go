package dynamo

import (
	"context"
	"errors"
	"hash/fnv"
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

// indexedAgents runs query on every shard of a keys-only index and calls fn
// with each agent it names, read strongly consistent (op names that read),
// skipping an agent deleted since or whose item keep refuses (it left the
// index's condition since the index was written).
func (s *Attention) indexedAgents(ctx context.Context, queryOp, op string, query func(shard string) *dynamodb.QueryInput,
	keep func(it item, a hub.Agent) bool, fn func(hub.Agent) error) error {
	return s.queryShards(ctx, queryOp, query, func(k hub.Agent) error {
		it, err := s.get(ctx, op, s.t.Agents, agentKey(k.AgentID))
		if errors.Is(err, hub.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a := decodeAgent(it); keep(it, a) {
			return fn(a)
		}
		return nil
	})
}

// AttentionAgents implements hub.AttentionIndex: the sparse attention index.
func (s *Attention) AttentionAgents(ctx context.Context, fn func(hub.Agent) error) error {
	return s.queryShards(ctx, "query attention index", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsAttention),
			KeyConditionExpression: aws.String("attn = :s"), ExpressionAttributeValues: item{":s": vs(sh)}}
	}, fn)
}

// LogPendingAgents implements hub.LogPendingIndex: the sparse log-pending
// index (keys only: only pins and unpins write it), then each agent's item,
// read strongly consistent; an agent whose mark was cleared since is skipped.
func (s *Attention) LogPendingAgents(ctx context.Context, fn func(hub.Agent) error) error {
	return s.indexedAgents(ctx, "query log-pending index", "get log-pending agent", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsLogPending),
			KeyConditionExpression: aws.String("lp = :s"), ExpressionAttributeValues: item{":s": vs(sh)}}
	}, func(it item, a hub.Agent) bool {
		return a.LogMark != "" // cleared since
	}, fn)
}

// QuietAgents implements hub.AttentionIndex: agents of the live index whose
// last data is older than cutoff. The index holds keys and a bucket at or
// before each agent's last batch (liveBucket): the query finds every agent
// whose bucket is before the cutoff, then the agent item, read strongly
// consistent, says whether it is quiet. Active agents' buckets sort after
// the cutoff and are never read.
func (s *Attention) QuietAgents(ctx context.Context, cutoff time.Time, fn func(hub.Agent) error) error {
	return s.indexedAgents(ctx, "query live index", "get quiet agent", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsLive),
			KeyConditionExpression:    aws.String("live_shard = :s AND live_b < :c"),
			ExpressionAttributeValues: item{":s": vs(sh), ":c": vt(cutoff)}}
	}, func(it item, a hub.Agent) bool {
		_, live := it["live_shard"]
		return live && a.LiveAt.Before(cutoff) // else marked stale, or sent data since its bucket
	}, fn)
}

// liveBucket is the start of the live index bucket of an agent's batch at t:
// at or before t, less than LiveBucket before it, and the same for every
// batch of the agent until the agent's own next boundary.
func liveBucket(agentID string, t time.Time) time.Time {
	h := fnv.New64a()
	h.Write([]byte(agentID))
	off := time.Duration(h.Sum64() % uint64(LiveBucket))
	return t.Add(off).Truncate(LiveBucket).Add(-off).UTC()
}

// ActiveAgents implements hub.ActiveIndex: agents of the live index whose
// last data is at or after since. A bucket is at most LiveBucket before its
// agent's last batch, so the query reads the buckets from since-LiveBucket
// on; the agent item, read strongly consistent, decides. The index holds
// keys only (no ingest writes it), so each active agent costs one item read
// per cycle (docs/dynamodb.md, "Hot partitions").
func (s *Attention) ActiveAgents(ctx context.Context, since time.Time, fn func(hub.Agent) error) error {
	return s.indexedAgents(ctx, "query live index", "get active agent", func(sh string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsLive),
			KeyConditionExpression:    aws.String("live_shard = :s AND live_b >= :c"),
			ExpressionAttributeValues: item{":s": vs(sh), ":c": vt(since.Add(-LiveBucket))}}
	}, func(it item, a hub.Agent) bool {
		_, live := it["live_shard"]
		return live && !a.LiveAt.Before(since)
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
