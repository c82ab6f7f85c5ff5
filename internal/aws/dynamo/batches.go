package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/hub"
)

// Batches keeps accepted bodies and their time index (docs/dynamodb.md).
type Batches struct{ conn }

var _ hub.BatchStore = (*Batches)(nil)

func indexShard(agentID string) int {
	h := fnv.New32a()
	h.Write([]byte(agentID))
	return int(h.Sum32() % IndexShards)
}

// IndexPartition is the batch-index partition of a tenant, day and shard.
func IndexPartition(tenant, day string, shard int) string {
	return tenant + "#" + day + "#" + strconv.Itoa(shard)
}

func indexEntry(b hub.StoredBatch) string { return b.AgentID + "#" + b.Key }

// PutBatch implements hub.BatchWriter: one index entry per day the batch's
// records fall on, then the batch item. The item comes last so that a batch
// that can be read has all its entries; a crash in between leaves entries
// without a batch, which pack reads skip and the batch's retry completes.
func (s *Batches) PutBatch(ctx context.Context, b hub.StoredBatch) error {
	if err := s.PutBatchIndex(ctx, b); err != nil {
		return err
	}
	z := compressBody(b.Body)
	defer z.release() // the call is over: the SDK has sent (or dropped) the request
	it := make(item, 13)
	it["agent_id"], it["batch_key"], it["tenant_id"], it["sha256"] = vs(b.AgentID), vs(b.Key), vs(b.TenantID), vs(b.SHA)
	it["signed"], it[bodyZ], it["records"], it["received_at"] = vbool(b.Signed), vb(z.b), vn(int64(b.Records)), vt(b.ReceivedAt)
	if b.Signed {
		it["seq"], it["signature"] = vn(b.Seq), vs(b.Signature)
	}
	if len(b.Days) > 0 {
		it["min_ts"], it["max_ts"] = vt(b.MinTS), vt(b.MaxTS)
		it["days"] = &types.AttributeValueMemberSS{Value: b.Days}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.batches, Item: it})
	return classify("put batch", err)
}

// PutBatchIndex implements hub.BatchWriter: one idempotent put per day.
func (s *Batches) PutBatchIndex(ctx context.Context, b hub.StoredBatch) error {
	shard := indexShard(b.AgentID)
	for _, d := range b.Days {
		e := item{"tday": vs(IndexPartition(b.TenantID, d, shard)), "entry": vs(indexEntry(b)),
			"agent_id": vs(b.AgentID), "batch_key": vs(b.Key), "min_ts": vt(b.MinTS), "max_ts": vt(b.MaxTS)}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.batchIndex, Item: e}); err != nil {
			return classify("put batch index "+d, err)
		}
	}
	return nil
}

// GetBatch implements hub.BatchReader.
func (s *Batches) GetBatch(ctx context.Context, agentID, k string) (hub.StoredBatch, error) {
	it, err := s.get(ctx, "get batch", s.t.Batches, item{"agent_id": vs(agentID), "batch_key": vs(k)})
	if err != nil {
		return hub.StoredBatch{}, err
	}
	return decodeBatch(it)
}

func decodeBatch(it item) (hub.StoredBatch, error) {
	body, err := readBody(it)
	if err != nil {
		return hub.StoredBatch{}, fmt.Errorf("get batch %s %s: %w", gs(it, "agent_id"), gs(it, "batch_key"), err)
	}
	b := hub.StoredBatch{TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"), Key: gs(it, "batch_key"),
		Seq: gn(it, "seq"), SHA: gs(it, "sha256"), Signed: gbool(it, "signed"), Signature: gs(it, "signature"),
		Body: body, Records: int(gn(it, "records")), MinTS: gt(it, "min_ts"), MaxTS: gt(it, "max_ts"),
		ReceivedAt: gt(it, "received_at")}
	if v, ok := it["days"].(*types.AttributeValueMemberSS); ok {
		b.Days = v.Value
	}
	if e := gn(it, TTLAttribute); e != 0 {
		b.ExpireAt = time.Unix(e, 0).UTC()
	}
	return b, nil
}

// DeleteBatch implements hub.BatchWriter: index entries first, then the
// batch item, so that a crash in between leaves the item that says which
// entries to delete (only a batch being undone is deleted, and nobody ends it).
func (s *Batches) DeleteBatch(ctx context.Context, b hub.StoredBatch) error {
	shard := indexShard(b.AgentID)
	for _, d := range b.Days {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.BatchIndex),
			Key: item{"tday": vs(IndexPartition(b.TenantID, d, shard)), "entry": vs(indexEntry(b))}})
		if err != nil {
			return classify("delete batch index "+d, err)
		}
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.Batches),
		Key: item{"agent_id": vs(b.AgentID), "batch_key": vs(b.Key)}})
	return classify("delete batch", err)
}

// SignedBatches implements hub.ChainReader: one query of the agent's
// partition, batch_key BETWEEN the two seqs' keys, paged.
func (s *Batches) SignedBatches(ctx context.Context, agentID string, from, to int64, fn func(hub.StoredBatch) error) error {
	if from < 0 || to < from {
		return nil
	}
	q := &dynamodb.QueryInput{TableName: aws.String(s.t.Batches), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("agent_id = :a AND batch_key BETWEEN :from AND :to"),
		ExpressionAttributeValues: item{":a": vs(agentID), ":from": vs(hub.SignedBatchKey(from)), ":to": vs(hub.SignedBatchKey(to))}}
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return classify("query signed batches of "+agentID, err)
		}
		for _, it := range out.Items {
			b, err := decodeBatch(it)
			if err != nil {
				return err
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// PeriodBatches implements hub.PeriodReader: one query per (day, shard) of the
// batch index, at most IndexShards at a time, then GetItem of each batch.
func (s *Batches) PeriodBatches(ctx context.Context, tenantID string, from, to time.Time, fn func(hub.StoredBatch) error) error {
	var parts []string
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to); d = d.Add(24 * time.Hour) {
		for sh := range IndexShards {
			parts = append(parts, IndexPartition(tenantID, d.Format("2006-01-02"), sh))
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan string)
	var mu sync.Mutex // fn is never called concurrently, nor after it failed
	var failed error  // fn's error, under mu
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for range min(IndexShards, len(parts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := s.readPartition(ctx, p, from, to, &mu, &failed, seen, fn); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, p := range parts {
		select {
		case work <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func (s *Batches) readPartition(ctx context.Context, part string, from, to time.Time, mu *sync.Mutex, failed *error, seen map[string]bool, fn func(hub.StoredBatch) error) error {
	q := &dynamodb.QueryInput{TableName: aws.String(s.t.BatchIndex), KeyConditionExpression: aws.String("tday = :p"),
		ExpressionAttributeValues: item{":p": vs(part)}}
	end := to.Add(time.Second)
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return classify("query batch index "+part, err)
		}
		for _, it := range out.Items {
			if gt(it, "min_ts").After(end) || gt(it, "max_ts").Before(from) {
				continue
			}
			agentID, key := gs(it, "agent_id"), gs(it, "batch_key")
			mu.Lock()
			dup := seen[agentID+"#"+key] // a batch spanning days has an entry per day
			seen[agentID+"#"+key] = true
			mu.Unlock()
			if dup {
				continue
			}
			b, err := s.GetBatch(ctx, agentID, key)
			if errors.Is(err, hub.ErrNotFound) {
				continue // an index entry of a batch being undone
			}
			if err != nil {
				return err
			}
			mu.Lock()
			if *failed != nil { // another reader's call failed: the read is over
				err = *failed
			} else if err = fn(b); err != nil {
				*failed = err
			}
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ExpiryShards implements hub.BatchExpirer: the index's shards per day.
func (s *Batches) ExpiryShards() int { return IndexShards }

// expireWorkers is how many entries of a page ExpirePart marks at a time.
// A partition's entries are sorted by agent, so a page is mostly one
// agent's batches: with about 5 ms a write, 2 workers put about 400 WCU/s
// on that agent's batch items and 200 WCU/s on the index partition, and do
// about 144,000 entries in an invocation's 12 minutes (docs/dynamodb.md,
// "The expiry pass at 100,000 agents").
const expireWorkers = 2

// ExpirePart implements hub.BatchExpirer: one page (Limit limit) of the
// index partition's query from the cursor (the last entry's sort key), and
// for each entry of a batch wholly in the period the TTL attribute on the
// batch item, on the condition that the item itself is the tenant's, wholly
// in the period and received before the cut (the entry only says where to
// look), then on the entry. The item comes first: an entry with a TTL
// always has a batch that has one too, so a crash in between leaves a batch
// whose entry outlives it at worst, which readers skip, and the rerun
// completes it. The page's entries are marked expireWorkers at a time, and
// the cursor is given only once all of them are.
func (s *Batches) ExpirePart(ctx context.Context, sc hub.ExpiryScope, part hub.ExpiryPart, cursor string, limit int) (hub.ExpiryPage, error) {
	day := part.Day.UTC().Format("2006-01-02")
	p := IndexPartition(sc.TenantID, day, part.Shard)
	end := sc.To.Add(time.Second)
	ttl := vn(sc.At.Unix())
	q := &dynamodb.QueryInput{TableName: aws.String(s.t.BatchIndex), KeyConditionExpression: aws.String("tday = :p"),
		ExpressionAttributeValues: item{":p": vs(p)}}
	if limit > 0 {
		q.Limit = aws.Int32(int32(min(limit, 1<<20)))
	}
	if cursor != "" {
		q.ExclusiveStartKey = item{"tday": vs(p), "entry": vs(cursor)}
	}
	out, err := s.db.Query(ctx, q)
	if err != nil {
		return hub.ExpiryPage{}, classify("expire batches: query batch index "+p, err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		marked int
		errs   []error
	)
	sem := make(chan struct{}, expireWorkers)
	for _, it := range out.Items {
		if gt(it, "min_ts").Before(sc.From) || !gt(it, "max_ts").Before(end) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			first, err := s.expireEntry(ctx, sc, it, end, ttl)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if first == day {
				marked++
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return hub.ExpiryPage{}, err
	}
	pg := hub.ExpiryPage{Marked: marked}
	if out.LastEvaluatedKey != nil {
		pg.Cursor = gs(out.LastEvaluatedKey, "entry")
	}
	return pg, nil
}

// expireEntry marks the batch an index entry names, then the entry, and
// returns the batch's first day ("" when the batch is not marked).
func (s *Batches) expireEntry(ctx context.Context, sc hub.ExpiryScope, it item, end time.Time, ttl types.AttributeValue) (string, error) {
	agentID, k := gs(it, "agent_id"), gs(it, "batch_key")
	ok, err := s.expireBatch(ctx, sc.TenantID, agentID, k, sc.From, end, sc.ReceivedBefore, ttl)
	if err != nil || !ok {
		return "", err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.BatchIndex),
		Key: item{"tday": it["tday"], "entry": it["entry"]}, UpdateExpression: aws.String("SET " + TTLAttribute + " = :e"),
		ConditionExpression: aws.String("attribute_exists(tday)"), ExpressionAttributeValues: item{":e": ttl}})
	if err = classify("expire batch index "+gs(it, "tday"), err); err != nil && !errors.Is(err, hub.ErrConflict) {
		return "", err
	}
	return gt(it, "min_ts").UTC().Format("2006-01-02"), nil
}

// expireBatch sets the TTL of one batch item if it is the tenant's, wholly
// in [from, end) and received before the cut; false when it is not (or gone).
func (s *Batches) expireBatch(ctx context.Context, tenantID, agentID, k string, from, end, receivedBefore time.Time, ttl types.AttributeValue) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Batches),
		Key: item{"agent_id": vs(agentID), "batch_key": vs(k)}, UpdateExpression: aws.String("SET " + TTLAttribute + " = :e"),
		ConditionExpression:       aws.String("tenant_id = :t AND received_at < :cut AND min_ts >= :from AND max_ts < :end"),
		ExpressionAttributeValues: item{":e": ttl, ":t": vs(tenantID), ":cut": vt(receivedBefore), ":from": vt(from), ":end": vt(end)}})
	err = classify("expire batch "+agentID+" "+k, err)
	if errors.Is(err, hub.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}
