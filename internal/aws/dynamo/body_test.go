package dynamo_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/hub"
)

// TestBatchBodyCompressed: the batch item holds the body compressed; the
// store hands back the exact bytes (or an error for a damaged item: zstd's
// content checksum), and still reads items stored before compression.
func TestBatchBodyCompressed(t *testing.T) {
	db := newDB(t)
	st, tables := newStore(t, db)
	ctx := t.Context()
	body := batchtest.Body(42, "2026-03-29")
	sum := sha256.Sum256(body)
	at := time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)
	b := hub.StoredBatch{TenantID: "t1", AgentID: "ag_z", Key: hub.SignedBatchKey(42), Seq: 42, SHA: hex.EncodeToString(sum[:]),
		Signed: true, Signature: "sig", Body: body, Records: batchtest.Records, MinTS: at, MaxTS: at, ReceivedAt: at,
		Days: []string{"2026-03-29"}}
	if err := st.Batches.PutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: b.AgentID},
		"batch_key": &types.AttributeValueMemberS{Value: b.Key}}
	raw, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables.Batches), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Item["body"]; ok {
		t.Fatal("the body is stored uncompressed")
	}
	if n := dynamo.ItemSize(raw.Item); n > 2048 {
		t.Fatalf("the batch item of a %d-byte body is %d bytes, want at most 2 KiB", len(body), n)
	} else {
		t.Logf("the batch item of a %d-byte body is %d bytes", len(body), n)
	}
	got, err := st.Batches.GetBatch(ctx, b.AgentID, b.Key)
	if err != nil || string(got.Body) != string(body) {
		t.Fatalf("GetBatch: %d bytes, %v; want the %d bytes stored", len(got.Body), err, len(body))
	}
	t.Run("ok/stored-before-compression", func(t *testing.T) {
		old := map[string]types.AttributeValue{}
		for k, v := range raw.Item {
			old[k] = v
		}
		for k := range old {
			if k != "agent_id" && k != "batch_key" && k != "sha256" && k != "tenant_id" && k != "signed" && k != "seq" {
				delete(old, k)
			}
		}
		old["body"] = &types.AttributeValueMemberB{Value: body}
		old["batch_key"] = &types.AttributeValueMemberS{Value: hub.SignedBatchKey(41)}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Batches), Item: old}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Batches.GetBatch(ctx, b.AgentID, hub.SignedBatchKey(41))
		if err != nil || string(got.Body) != string(body) {
			t.Fatalf("GetBatch: %d bytes, %v", len(got.Body), err)
		}
	})
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"fail/corrupt-body": func(it map[string]types.AttributeValue) {
			for k, v := range it {
				if bv, ok := v.(*types.AttributeValueMemberB); ok && k != "body" {
					c := append([]byte(nil), bv.Value...)
					c[len(c)/2] ^= 0xff
					it[k] = &types.AttributeValueMemberB{Value: c}
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			bad := map[string]types.AttributeValue{}
			for k, v := range raw.Item {
				bad[k] = v
			}
			mutate(bad)
			bad["batch_key"] = &types.AttributeValueMemberS{Value: hub.SignedBatchKey(40)}
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Batches), Item: bad}); err != nil {
				t.Fatal(err)
			}
			_, err := st.Batches.GetBatch(ctx, b.AgentID, hub.SignedBatchKey(40))
			if err == nil || errors.Is(err, hub.ErrNotFound) {
				t.Fatalf("GetBatch of a damaged body: %v, want an error", err)
			}
		})
	}
}
