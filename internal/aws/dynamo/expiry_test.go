package dynamo_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/storetest"
)

// TestExpireBatchesIndexEntries checks what dynalite cannot show by
// expiring: the TTL attribute on the batch items and on every index entry
// of a batch a pack holds, and on nothing else (the contract checks the
// batches through the port).
func TestExpireBatchesIndexEntries(t *testing.T) {
	db := emutest.DynamoForTest(t)
	s, tables := newStore(t, db)
	ctx := t.Context()
	day := func(d, h int) time.Time { return time.Date(2026, 4, d, h, 0, 0, 0, time.UTC) }
	from, to := day(1, 0), time.Date(2026, 4, 30, 23, 59, 59, 0, time.UTC)
	cut, exp := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC), time.Date(2026, 6, 17, 6, 0, 0, 0, time.UTC)
	two := hub.StoredBatch{TenantID: "acme", AgentID: "ag_a", Key: "u#two", SHA: "aa", Body: []byte(`[]`), Records: 2,
		MinTS: day(11, 23), MaxTS: day(12, 1), Days: []string{"2026-04-11", "2026-04-12"}, ReceivedAt: day(12, 2)}
	late := two
	late.AgentID, late.Key, late.ReceivedAt = "ag_b", "u#late", cut
	straddle := two
	straddle.AgentID, straddle.Key, straddle.MinTS, straddle.MaxTS, straddle.Days = "ag_c", "u#straddle",
		day(30, 23), time.Date(2026, 5, 1, 0, 30, 0, 0, time.UTC), []string{"2026-04-30", "2026-05-01"}
	for _, b := range []hub.StoredBatch{two, late, straddle} {
		if err := s.Batches.PutBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := storetest.ExpirePeriod(ctx, s.Batches, hub.ExpiryScope{TenantID: "acme", From: from, To: to, ReceivedBefore: cut, At: exp}, 1); err != nil || n != 1 {
		t.Fatalf("ExpirePeriod = %d, %v; want 1 batch", n, err)
	}
	ttlOf := func(it map[string]types.AttributeValue) string {
		if v, ok := it[dynamo.TTLAttribute].(*types.AttributeValueMemberN); ok {
			return v.Value
		}
		return ""
	}
	want := strconv.FormatInt(exp.Unix(), 10)
	for _, tc := range []struct {
		name string
		b    hub.StoredBatch
		ttl  string
	}{{"ok/in the pack", two, want}, {"ok/received after the cut", late, ""}, {"ok/records past the period", straddle, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			it, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables.Batches),
				Key: map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: tc.b.AgentID},
					"batch_key": &types.AttributeValueMemberS{Value: tc.b.Key}}})
			if err != nil || it.Item == nil {
				t.Fatalf("GetItem batch = %v, %v", it, err)
			}
			if got := ttlOf(it.Item); got != tc.ttl {
				t.Errorf("batch %s %s = %q, want %q", tc.b.Key, dynamo.TTLAttribute, got, tc.ttl)
			}
			for _, d := range tc.b.Days {
				out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(tables.BatchIndex),
					KeyConditionExpression:    aws.String("tday = :p"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: dynamo.IndexPartitionOf(tc.b, d)}}})
				if err != nil || len(out.Items) != 1 {
					t.Fatalf("index entries of %s on %s = %d, %v; want 1", tc.b.Key, d, len(out.Items), err)
				}
				if got := ttlOf(out.Items[0]); got != tc.ttl {
					t.Errorf("index entry of %s on %s: %s = %q, want %q", tc.b.Key, d, dynamo.TTLAttribute, got, tc.ttl)
				}
			}
		})
	}
}
