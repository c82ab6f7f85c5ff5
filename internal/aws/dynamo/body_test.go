package dynamo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/zstd"

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

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestBatchBodyStoredBytes: the stored body_z of each body is the same bytes
// as ever (testdata/body_z.sha256: the SHA-256 of the compressed bodies of
// batchtest.Body(seq, "2026-03-29") for seq 1 to 8, one a line, made before
// the compression buffers were reused), whether the batches are put one
// after the other or at once, and each item holds its own body.
func TestBatchBodyStoredBytes(t *testing.T) {
	db := newDB(t)
	st, tables := newStore(t, db)
	ctx := t.Context()
	at := time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)
	batch := func(agent string, seq int64) hub.StoredBatch {
		body := batchtest.Body(seq, "2026-03-29")
		sum := sha256.Sum256(body)
		return hub.StoredBatch{TenantID: "t1", AgentID: agent, Key: hub.SignedBatchKey(seq), Seq: seq, SHA: hex.EncodeToString(sum[:]),
			Signed: true, Signature: "sig", Body: body, Records: batchtest.Records, MinTS: at, MaxTS: at, ReceivedAt: at,
			Days: []string{"2026-03-29"}}
	}
	stored := func(t *testing.T, agent string, seq int64) string {
		raw, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tables.Batches), Key: map[string]types.AttributeValue{
			"agent_id": &types.AttributeValueMemberS{Value: agent}, "batch_key": &types.AttributeValueMemberS{Value: hub.SignedBatchKey(seq)}}})
		if err != nil {
			t.Fatal(err)
		}
		z, ok := raw.Item["body_z"].(*types.AttributeValueMemberB)
		if !ok {
			t.Fatalf("%s %d: no body_z", agent, seq)
		}
		sum := sha256.Sum256(z.Value)
		return hex.EncodeToString(sum[:])
	}
	const n = 8
	var got []string
	for _, tc := range []struct {
		name  string
		agent string
		put   func(agent string) error
	}{
		{"ok/one-after-the-other", "ag_seq", func(agent string) error {
			for seq := int64(1); seq <= n; seq++ {
				if err := st.Batches.PutBatch(ctx, batch(agent, seq)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"ok/at-once", "ag_par", func(agent string) error {
			// Each body is put by several goroutines at once, all started
			// together: a buffer handed back while its request is still
			// being made would be overwritten by another body's.
			const each = 4
			errs := make(chan error, n*each)
			start := make(chan struct{})
			for seq := int64(1); seq <= n; seq++ {
				for range each {
					go func() {
						<-start
						errs <- st.Batches.PutBatch(ctx, batch(agent, seq))
					}()
				}
			}
			close(start)
			var err error
			for range n * each {
				err = errors.Join(err, <-errs)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.put(tc.agent); err != nil {
				t.Fatal(err)
			}
			var sums []string
			for seq := int64(1); seq <= n; seq++ {
				b, err := st.Batches.GetBatch(ctx, tc.agent, hub.SignedBatchKey(seq))
				if err != nil || !bytes.Equal(b.Body, batchtest.Body(seq, "2026-03-29")) {
					t.Fatalf("seq %d: GetBatch %d bytes, %v; want its own body", seq, len(b.Body), err)
				}
				sums = append(sums, stored(t, tc.agent, seq))
			}
			if got == nil {
				got = sums
			} else if !slices.Equal(sums, got) {
				t.Fatalf("stored bodies differ from the first case's:\n%v\n%v", sums, got)
			}
		})
	}
	golden := filepath.Join("testdata", "body_z.sha256")
	text := strings.Join(got, "\n") + "\n"
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != text {
		t.Fatalf("the stored bodies changed (a new zstd library version may compress differently: "+
			"check that every body still reads back, then go test -run TestBatchBodyStoredBytes -update):\ngot\n%swant\n%s", text, want)
	}
}

// nestingAPI answers every PutItem at once; while it answers a batch item's
// put, it has the store put another batch (as a concurrent request would),
// then checks that the first item still holds its own compressed body.
type nestingAPI struct {
	dynamo.API
	during func() error // the other put
	check  func(map[string]types.AttributeValue) error
	depth  int
}

func (n *nestingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, ok := in.Item["body_z"]; !ok || n.depth > 0 {
		return &dynamodb.PutItemOutput{}, nil
	}
	n.depth++
	defer func() { n.depth-- }()
	if err := n.during(); err != nil {
		return nil, err
	}
	return &dynamodb.PutItemOutput{}, n.check(in.Item)
}

// TestBatchBodyBufferHeld: the buffer a body is compressed into is not
// reused before the put that sends it returns.
func TestBatchBodyBufferHeld(t *testing.T) {
	at := time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)
	batch := func(seq int64) hub.StoredBatch {
		return hub.StoredBatch{TenantID: "t1", AgentID: "ag_n", Key: hub.SignedBatchKey(seq), Seq: seq, SHA: "x", Signed: true,
			Body: batchtest.Body(seq, "2026-03-29"), MinTS: at, MaxTS: at, ReceivedAt: at, Days: []string{"2026-03-29"}}
	}
	api := &nestingAPI{}
	st, err := dynamo.New(api, dynamo.TablesWithPrefix("n-"))
	if err != nil {
		t.Fatal(err)
	}
	first, other := batch(1), batch(999999)
	other.Body = bytes.Repeat([]byte("another body entirely "), 500)
	api.during = func() error { return st.Batches.PutBatch(t.Context(), other) }
	api.check = func(it map[string]types.AttributeValue) error {
		z := it["body_z"].(*types.AttributeValueMemberB).Value
		body, err := zstd.NewReader(nil)
		if err != nil {
			return err
		}
		defer body.Close()
		got, err := body.DecodeAll(z, nil)
		if err != nil || !bytes.Equal(got, first.Body) {
			return fmt.Errorf("the item being put no longer holds its body: %d bytes, %v", len(got), err)
		}
		return nil
	}
	for range 20 { // sync.Pool may drop a buffer (always, at times, under -race): try more than once
		if err := st.Batches.PutBatch(t.Context(), first); err != nil {
			t.Fatal(err)
		}
	}
}
