package dynamo_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo)) }

// newStore returns the stores over fresh tables on the shared dynalite.
func newStore(t testing.TB, db *dynamodb.Client) (hub.Stores, dynamo.Tables) {
	t.Helper()
	tables := dynamo.TablesWithPrefix(emutest.UniquePrefix(t))
	if err := dynamo.CreateTables(t.Context(), db, tables); err != nil {
		t.Fatal(err)
	}
	s, err := dynamo.New(emutest.Data(t, db), tables)
	if err != nil {
		t.Fatal(err)
	}
	return s, tables
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hub.Stores {
		s, _ := newStore(t, emutest.DynamoForTest(t))
		return s
	})
}

func TestCreateTablesIdempotent(t *testing.T) {
	db := emutest.DynamoForTest(t)
	s, tables := newStore(t, db)
	ctx := t.Context()
	want := hub.Tenant{TenantID: "acme", CreatedAt: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.Tenants.PutTenant(ctx, want); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := dynamo.CreateTables(ctx, db, tables); err != nil {
			t.Fatalf("CreateTables() #%d on existing tables = %v", i+2, err)
		}
	}
	for _, in := range dynamo.Schema(tables) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err != nil {
			t.Fatalf("DescribeTable(%s) = %v", aws.ToString(in.TableName), err)
		}
		if st := out.Table.TableStatus; st != types.TableStatusActive {
			t.Errorf("table %s is %s, want ACTIVE", aws.ToString(in.TableName), st)
		}
	}
	got, err := s.Tenants.GetTenant(ctx, "acme")
	if err != nil || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("GetTenant after CreateTables again = %+v, %v; want %+v (data kept)", got, err, want)
	}
}

func TestPutCACert(t *testing.T) {
	db := emutest.DynamoForTest(t)
	_, tables := newStore(t, db)
	s, err := dynamo.NewCA(emutest.Data(t, db), tables)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.CACert(ctx); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("CACert() before bootstrap = %v, want %v", err, hub.ErrNotFound)
	}
	// Two bootstraps race: one writes, the other reads the winner back.
	pems := []string{"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n"}
	got := make([]string, len(pems))
	errs := make([]error, len(pems))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, pem := range pems {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.PutCACert(ctx, pem, "key-"+strconv.Itoa(i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PutCACert() #%d = %v", i, err)
		}
	}
	if got[0] != got[1] || (got[0] != pems[0] && got[0] != pems[1]) {
		t.Fatalf("racing PutCACert() returned %q and %q, want both the same one of the two", got[0], got[1])
	}
	stored, err := s.CACert(ctx)
	if err != nil || stored != got[0] {
		t.Fatalf("CACert() = %q, %v; want %q", stored, err, got[0])
	}
	late, err := s.PutCACert(ctx, "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n", "key-c")
	if err != nil || late != got[0] {
		t.Fatalf("PutCACert() after bootstrap = %q, %v; want the first certificate %q", late, err, got[0])
	}
}

// TestUnavailable stops a private dynalite under the store: calls fail with
// ErrUnavailable (the service answers 503 with Retry-After), not with a
// verdict, and after a restart the data is all there.
func TestUnavailable(t *testing.T) {
	ctx := t.Context()
	d, err := emu.StartDynalite(ctx, emu.DynaliteOptions{Dir: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	db, err := emu.DynamoClient(ctx, d.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, db)
	a := hub.Agent{TenantID: "acme", AgentID: "ag_fault", TokenHash: "h", CreatedAt: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	b := hub.StoredBatch{TenantID: "acme", AgentID: "ag_fault", Key: "s#0000000000000000001", Seq: 1, SHA: "sha", Signed: true,
		Signature: "sig", Body: []byte(`[{"type":"batch"}]`), Records: 1, Days: []string{"2026-04-01"},
		MinTS: a.CreatedAt, MaxTS: a.CreatedAt, ReceivedAt: a.CreatedAt}
	if err := s.Agents.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Batches.PutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	down := []struct {
		name string
		call func() error
	}{
		{"fail/GetAgent", func() error { _, err := s.Agents.GetAgent(ctx, a.AgentID); return err }},
		{"fail/PutBatch", func() error { return s.Batches.PutBatch(ctx, b) }},
		{"fail/BeginBatch", func() error {
			return s.Commits.BeginBatch(ctx, a.AgentID, hub.Pending{Seq: 2, SHA: "x", PrevSeq: 1}, []byte("k"), "1", "1")
		}},
		{"fail/ListAnomalies", func() error {
			_, err := s.Anomalies.ListAnomalies(ctx, "acme", anomaly.Filter{}, "", 10)
			return err
		}},
	}
	for _, tc := range down {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, hub.ErrUnavailable) {
				t.Fatalf("with dynalite stopped: %v, want %v", err, hub.ErrUnavailable)
			}
			if errors.Is(err, hub.ErrNotFound) || errors.Is(err, hub.ErrConflict) {
				t.Fatalf("with dynalite stopped: %v also claims a verdict", err)
			}
		})
	}

	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/data survives the restart", func(t *testing.T) {
		got, err := s.Agents.GetAgent(ctx, a.AgentID)
		if err != nil || got.TokenHash != a.TokenHash || got.TenantID != a.TenantID {
			t.Fatalf("GetAgent() after restart = %+v, %v", got, err)
		}
		gb, err := s.Batches.GetBatch(ctx, b.AgentID, b.Key)
		if err != nil || !bytes.Equal(gb.Body, b.Body) {
			t.Fatalf("GetBatch() after restart = %q, %v; want body %q", gb.Body, err, b.Body)
		}
		if err := s.Agents.CreateAgent(ctx, a); !errors.Is(err, hub.ErrConflict) {
			t.Fatalf("CreateAgent() of the kept agent after restart = %v, want %v", err, hub.ErrConflict)
		}
	})
}

// indexEntries returns the batch-index entries of tenant and day over every
// shard, as "shard agent_id batch_key".
func indexEntries(t *testing.T, db *dynamodb.Client, tables dynamo.Tables, tenant, day string) []string {
	t.Helper()
	var out []string
	for shard := range dynamo.IndexShards {
		res, err := db.Query(t.Context(), &dynamodb.QueryInput{TableName: aws.String(tables.BatchIndex),
			KeyConditionExpression:    aws.String("tday = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: dynamo.IndexPartition(tenant, day, shard)}},
			ConsistentRead:            aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			out = append(out, strconv.Itoa(shard)+" "+str(it, "agent_id")+" "+str(it, "batch_key"))
		}
	}
	sort.Strings(out)
	return out
}

func str(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func TestBatchIndex(t *testing.T) {
	db := emutest.DynamoForTest(t)
	s, tables := newStore(t, db)
	ctx := t.Context()
	day := func(d int) time.Time { return time.Date(2026, 3, 30+d, 12, 0, 0, 0, time.UTC) }
	b1 := hub.StoredBatch{TenantID: "acme", AgentID: "ag_idx_1", Key: "s#0000000000000000007", Seq: 7, SHA: "a", Signed: true,
		Signature: "sig", Body: []byte("[]"), Records: 3, MinTS: day(0), MaxTS: day(2),
		Days: []string{"2026-03-30", "2026-03-31", "2026-04-01"}, ReceivedAt: day(2)}
	b2 := hub.StoredBatch{TenantID: "acme", AgentID: "ag_idx_2", Key: "u#b", SHA: "b", Body: []byte("[]"), Records: 1,
		MinTS: day(1), MaxTS: day(1), Days: []string{"2026-03-31"}, ReceivedAt: day(1)}
	other := b1
	other.TenantID, other.AgentID = "other", "ag_idx_3"
	for _, b := range []hub.StoredBatch{b1, b2, other} {
		if err := s.Batches.PutBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	shardOf := func(t *testing.T, entries []string, agentID, key string) string {
		t.Helper()
		for _, e := range entries {
			if len(e) > 2 && e[2:] == agentID+" "+key {
				return e[:1]
			}
		}
		t.Fatalf("no index entry for %s %s in %q", agentID, key, entries)
		return ""
	}

	t.Run("ok/one entry per day a batch covers", func(t *testing.T) {
		shard := ""
		for _, d := range b1.Days {
			entries := indexEntries(t, db, tables, "acme", d)
			s := shardOf(t, entries, b1.AgentID, b1.Key)
			if shard != "" && s != shard {
				t.Errorf("day %s: entry in shard %s, other days in %s: an agent keeps one shard", d, s, shard)
			}
			shard = s
			wantN := 1
			if d == "2026-03-31" {
				wantN = 2 // b2 too
				shardOf(t, entries, b2.AgentID, b2.Key)
			}
			if len(entries) != wantN {
				t.Errorf("day %s: entries %q, want %d", d, entries, wantN)
			}
		}
	})
	t.Run("ok/no entry for a day no batch covers", func(t *testing.T) {
		if e := indexEntries(t, db, tables, "acme", "2026-04-02"); len(e) != 0 {
			t.Errorf("day 2026-04-02: entries %q, want none", e)
		}
	})
	t.Run("ok/put again adds no entry", func(t *testing.T) {
		if err := s.Batches.PutBatch(ctx, b1); err != nil {
			t.Fatal(err)
		}
		if e := indexEntries(t, db, tables, "acme", "2026-03-30"); len(e) != 1 {
			t.Errorf("entries after a repeated put %q, want 1", e)
		}
	})
	t.Run("ok/a batch cut short cannot be read without all its entries", func(t *testing.T) {
		writes := int64(len(b1.Days) + 1)
		for n := range writes {
			b := b1
			b.AgentID = "ag_idx_cut" + strconv.FormatInt(n, 10)
			f := &faultAPI{API: emutest.Data(t, db)}
			f.setFault(crashAfter(n))
			cut, err := dynamo.New(f, tables)
			if err != nil {
				t.Fatal(err)
			}
			if err := cut.Batches.PutBatch(ctx, b); err == nil {
				t.Fatalf("PutBatch() crashed after %d of %d writes = nil", n, writes)
			}
			if _, err := s.Batches.GetBatch(ctx, b.AgentID, b.Key); !errors.Is(err, hub.ErrNotFound) {
				t.Fatalf("after %d of %d writes: GetBatch() = %v, want %v (entries first, the item last)\n%s", n, writes, err, hub.ErrNotFound, f.Trace())
			}
		}
	})
	t.Run("ok/delete removes every entry of the batch", func(t *testing.T) {
		if err := s.Batches.DeleteBatch(ctx, b1); err != nil {
			t.Fatal(err)
		}
		for _, d := range b1.Days {
			for _, e := range indexEntries(t, db, tables, "acme", d) {
				if e[2:] == b1.AgentID+" "+b1.Key {
					t.Errorf("day %s: entry %q left after DeleteBatch", d, e)
				}
			}
		}
		shardOf(t, indexEntries(t, db, tables, "acme", "2026-03-31"), b2.AgentID, b2.Key)
		shardOf(t, indexEntries(t, db, tables, "other", "2026-03-30"), other.AgentID, other.Key)
		if _, err := s.Batches.GetBatch(ctx, b1.AgentID, b1.Key); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("GetBatch() after DeleteBatch = %v, want %v", err, hub.ErrNotFound)
		}
	})
}

// TestStoresRefuseTheSDKClient: the SDK's client keeps the control plane;
// a store built over it is refused, so that every data-plane call goes
// through the hub's own client.
func TestStoresRefuseTheSDKClient(t *testing.T) {
	db := emutest.DynamoForTest(t)
	tables := dynamo.TablesWithPrefix("x-")
	if _, err := dynamo.New(db, tables); err == nil || !strings.Contains(err.Error(), "control plane") {
		t.Errorf("New: %v", err)
	}
	if _, err := dynamo.NewCA(db, tables); err == nil || !strings.Contains(err.Error(), "control plane") {
		t.Errorf("NewCA: %v", err)
	}
	if _, err := dynamo.NewLogStore(db, tables.Log); err == nil || !strings.Contains(err.Error(), "control plane") {
		t.Errorf("NewLogStore: %v", err)
	}
	if _, err := dynamo.New(emutest.Data(t, db), tables); err != nil {
		t.Errorf("New over the data-plane client: %v", err)
	}
}
