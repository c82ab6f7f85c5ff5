package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/monsys/hub/internal/tlog"
)

// The transparency log's table (docs/transparency-log.md): one item "head",
// the log-head record the log sequences with, and one item per submitted
// entry, "e#<sha256 hex>", holding the entry and, once integrated, its
// index. Pending entries carry pend="p" and are in the sparse index
// LogPending, ordered by submission.
const (
	TableLog   = "log"
	LogPending = "pending"

	logHeadKey  = "head"
	logEntryKey = "e#"
	logPendMark = "p"
)

// LogSchema is the CreateTable input of the log's table (part of Schema).
func LogSchema(table string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{attr("pk", types.ScalarAttributeTypeS),
			attr("pend", types.ScalarAttributeTypeS), attr("sub", types.ScalarAttributeTypeS)},
		KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String(LogPending),
			KeySchema:  []types.KeySchemaElement{key("pend", types.KeyTypeHash), key("sub", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	}
}

// CreateLogTable creates the log's table if missing and waits until it is active.
func CreateLogTable(ctx context.Context, c *dynamodb.Client, table string) error {
	_, err := c.CreateTable(ctx, LogSchema(table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	return nil
}

// LogPermissions are the DynamoDB actions a function that appends to the
// log calls on the log's table (Submit alone needs only PutItem).
var LogPermissions = []Permission{
	{ActGetItem, TableLog, ""},
	{ActPutItem, TableLog, ""},
	{ActUpdateItem, TableLog, ""},
	{ActQuery, TableLog, LogPending},
}

// LogAPI is the part of the DynamoDB client the log's store calls.
type LogAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ LogAPI = (*dynamodb.Client)(nil)

// LogStore is the log's head record and entry pool on DynamoDB: every
// write a single-item conditional write, every read that decides
// something strongly consistent.
type LogStore struct {
	db    LogAPI
	table string
}

var (
	_ tlog.HeadStore = (*LogStore)(nil)
	_ tlog.Pool      = (*LogStore)(nil)
	_ tlog.Lookup    = (*LogStore)(nil)
)

// NewLogStore returns the store over table.
func NewLogStore(db LogAPI, table string) (*LogStore, error) {
	if db == nil || table == "" {
		return nil, fmt.Errorf("dynamo: log store needs a client and a table name")
	}
	if err := dataPlane(db); err != nil {
		return nil, err
	}
	return &LogStore{db: db, table: table}, nil
}

// logErr maps a lost condition to tlog.ErrConflict and the rest as classify does.
func logErr(op string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s: %w", op, tlog.ErrConflict)
	}
	return classify(op, err)
}

func entryKey(id tlog.ID) item { return item{"pk": vs(logEntryKey + id.String())} }

// LoadHead implements tlog.HeadStore.
func (s *LogStore) LoadHead(ctx context.Context) (tlog.Head, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table),
		Key: item{"pk": vs(logHeadKey)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return tlog.Head{}, logErr("load log head", err)
	}
	if out.Item == nil {
		return tlog.Head{Complete: true}, nil
	}
	it := out.Item
	h := tlog.Head{Size: gn(it, "size"), Start: gn(it, "start"), Complete: gbool(it, "complete")}
	root, prev, batch := gb(it, "root"), gb(it, "prev_root"), gb(it, "batch")
	if len(root) != len(h.Root) || len(prev) != len(h.PrevRoot) || len(batch)%len(tlog.ID{}) != 0 ||
		int64(len(batch)/len(tlog.ID{})) != h.Size-h.Start {
		return tlog.Head{}, fmt.Errorf("load log head: %w: malformed item", tlog.ErrCorrupt)
	}
	copy(h.Root[:], root)
	copy(h.PrevRoot[:], prev)
	for i := 0; i < len(batch); i += len(tlog.ID{}) {
		var id tlog.ID
		copy(id[:], batch[i:])
		h.Batch = append(h.Batch, id)
	}
	return h, nil
}

// StoreHead implements tlog.HeadStore with one conditional PutItem.
func (s *LogStore) StoreHead(ctx context.Context, old int64, next tlog.Head) error {
	batch := make([]byte, 0, len(next.Batch)*len(tlog.ID{}))
	for _, id := range next.Batch {
		batch = append(batch, id[:]...)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": vs(logHeadKey), "size": vn(next.Size), "root": vb(next.Root[:]), "start": vn(next.Start),
		"prev_root": vb(next.PrevRoot[:]), "batch": vb(batch), "complete": vbool(next.Complete)}}
	if old == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("#s = :old")
		in.ExpressionAttributeNames = names("#s", "size")
		in.ExpressionAttributeValues = item{":old": vn(old)}
	}
	_, err := s.db.PutItem(ctx, in)
	return logErr(fmt.Sprintf("store log head %d over %d", next.Size, old), err)
}

// Submit implements tlog.Pool: one PutItem that keeps an existing item.
func (s *LogStore) Submit(ctx context.Context, id tlog.ID, entry []byte, at time.Time) error {
	it := entryKey(id)
	it["entry"], it["pend"], it["sub"] = vb(entry), vs(logPendMark), vs(at.UTC().Format(timeLayout)+"#"+id.String())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if err = logErr("submit log entry "+id.String(), err); errors.Is(err, tlog.ErrConflict) {
		return nil // submitted before
	}
	return err
}

// Pending implements tlog.Pool: the sparse index in submission order, then
// strongly consistent reads that drop entries settled meanwhile (the
// index lags behind).
func (s *LogStore) Pending(ctx context.Context, max int) ([]tlog.Pending, error) {
	var ids []tlog.ID
	var start item
	for len(ids) < max {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(LogPending),
			KeyConditionExpression:    aws.String("pend = :p"),
			ExpressionAttributeValues: item{":p": vs(logPendMark)},
			Limit:                     aws.Int32(int32(max - len(ids))), ExclusiveStartKey: start})
		if err != nil {
			return nil, logErr("query pending log entries", err)
		}
		for _, it := range out.Items {
			id, err := tlog.ParseID(trimEntryKey(gs(it, "pk")))
			if err != nil {
				return nil, fmt.Errorf("query pending log entries: %w: %w", tlog.ErrCorrupt, err)
			}
			ids = append(ids, id)
		}
		if start = out.LastEvaluatedKey; start == nil {
			break
		}
	}
	items, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []tlog.Pending
	for i, it := range items {
		if it != nil && gs(it, "pend") == logPendMark {
			out = append(out, tlog.Pending{ID: ids[i], Entry: gb(it, "entry")})
		}
	}
	return out, nil
}

func trimEntryKey(pk string) string {
	if len(pk) > len(logEntryKey) {
		return pk[len(logEntryKey):]
	}
	return ""
}

// batchGet reads the entry items of ids with consistent GetItems, 16 at a
// time, in order; a missing item is nil. (GetItem rather than BatchGetItem:
// the same read units, and no action beyond what the functions already
// hold.)
func (s *LogStore) batchGet(ctx context.Context, ids []tlog.ID) ([]item, error) {
	out := make([]item, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, id := range ids {
		g.Go(func() error {
			r, err := s.db.GetItem(gctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: entryKey(id), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return logErr("read log entry "+id.String(), err)
			}
			out[i] = r.Item
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Settle implements tlog.Pool: one conditional UpdateItem per entry, in parallel.
func (s *LogStore) Settle(ctx context.Context, first int64, ids []tlog.ID) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, id := range ids {
		g.Go(func() error {
			idx := first + int64(i)
			_, err := s.db.UpdateItem(gctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: entryKey(id),
				UpdateExpression:          aws.String("SET idx = :i REMOVE pend"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(idx) OR idx = :i)"),
				ExpressionAttributeValues: item{":i": vn(idx)}})
			err = logErr(fmt.Sprintf("settle log entry %s at %d", id, idx), err)
			if errors.Is(err, tlog.ErrConflict) {
				if got, gerr := s.batchGet(gctx, []tlog.ID{id}); gerr == nil && got[0] == nil {
					return fmt.Errorf("settle log entry %s: %w", id, tlog.ErrNotFound)
				}
			}
			return err
		})
	}
	return g.Wait()
}

// Lookup implements tlog.Lookup.
func (s *LogStore) Lookup(ctx context.Context, ids []tlog.ID) ([]tlog.Stored, error) {
	items, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Stored, len(ids))
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("look up log entry %s: %w", ids[i], tlog.ErrNotFound)
		}
		_, has := it["idx"]
		out[i] = tlog.Stored{Entry: gb(it, "entry"), Integrated: has, Index: gn(it, "idx")}
	}
	return out, nil
}
