package dynamo_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/sig"
)

// unitBatches is how many batches TestIngestRequestUnits sends, one a
// minute: three live-index buckets' worth.
const unitBatches = 30

// The targets of issue 16 for the steady path.
const (
	maxRRU = 1.0
	maxWRU = 5.0
)

// TestIngestRequestUnits counts, at the adapter, the request units of an
// accepted 10 KiB, 100-record signed batch on the steady path of a warm
// function (one core that has already served the agent), every index
// included (docs/dynamodb.md, "Request units"). The agent sends one batch a
// minute; the steady path is the median batch, and the mean includes the
// batches that move the agent's live-index bucket. make bench prints its
// "ingest units" line.
func TestIngestRequestUnits(t *testing.T) {
	db := newDB(t)
	_, tables := newStore(t, db)
	fx := &commitFx{db: emutest.Data(t, db), tables: tables, auth: commitAuthority(t)}
	c := fx.newCase(t, batchKind{name: "signed-1-day", signed: true, days: 1})
	m := &dynamo.Meter{API: fx.db, Schema: dynamo.Schema(tables), Estimate: true}
	svc := c.service(m)
	send := func() hub.IngestResult {
		c.seq++
		body := batchtest.Body(c.seq, commitDays[0].Format("2006-01-02"))
		res, err := svc.Ingest.Ingest(t.Context(), hub.IngestRequest{Token: c.token, ClientCertPEM: c.cert,
			ContentType: "application/json", Signature: sig.Sign(c.key, body), Body: body})
		if err != nil || res.Accepted != batchtest.Records {
			t.Fatalf("ingest seq %d: %+v, %v", c.seq, res, err)
		}
		return res
	}
	send() // the function is warm from here on
	all := map[string]dynamo.Units{}
	var reads, writes []float64
	for range unitBatches {
		c.clk.Advance(time.Minute)
		m.Reset()
		send()
		r, w, _ := m.Totals()
		reads, writes = append(reads, r), append(writes, w)
		for k, u := range m.Breakdown() {
			all[k] = dynamo.Units{Read: all[k].Read + u.Read, Write: all[k].Write + u.Write}
		}
	}
	_, _, calls := m.Totals()
	t.Logf("mean per batch:\n%s", perBatch(all, unitBatches, strings.TrimSuffix(tables.Agents, "agents")))
	rru, wru := median(reads), median(writes)
	mr, mw := mean(reads), mean(writes)
	fmt.Printf("ingest units: steady path %.2f RRU %.2f WRU (%d calls); mean %.2f RRU %.2f WRU per accepted 10 KiB signed batch (%d batches, one a minute)\n",
		rru, wru, calls, mr, mw, unitBatches)
	if rru > maxRRU || wru > maxWRU {
		t.Errorf("steady path: %.2f RRU, %.2f WRU per batch; want at most %.0f RRU and %.0f WRU", rru, wru, maxRRU, maxWRU)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func mean(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}

// perBatch lists the units per table and index, divided by n, without the tables' prefix.
func perBatch(b map[string]dynamo.Units, n int, prefix string) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %-22s RRU %5.2f WRU %5.2f\n", strings.TrimPrefix(k, prefix), b[k].Read/float64(n), b[k].Write/float64(n))
	}
	return sb.String()
}

// newDB is the shared dynalite, as the stores' API.
func newDB(t *testing.T) *dynamodb.Client {
	t.Helper()
	return emutest.DynamoForTest(t)
}

// TestIndexWriteUnits checks the meter's index rules on the agents table.
func TestIndexWriteUnits(t *testing.T) {
	agents := dynamo.Schema(dynamo.TablesWithPrefix("x-"))[2]
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	base := map[string]types.AttributeValue{"agent_id": s("ag_1"), "last_seq": &types.AttributeValueMemberN{Value: "1"}}
	with := func(kv ...string) map[string]types.AttributeValue {
		it := map[string]types.AttributeValue{}
		for k, v := range base {
			it[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			it[kv[i]] = s(kv[i+1])
		}
		return it
	}
	for _, tc := range []struct {
		name          string
		before, after map[string]types.AttributeValue
		want          map[string]float64
	}{
		{"ok/no-index-attribute", base, with("hostname", "h"), map[string]float64{}},
		{"ok/enters-attention", base, with("attn", "3"), map[string]float64{dynamo.AgentsAttention: 1}},
		{"ok/leaves-attention", with("attn", "3"), base, map[string]float64{dynamo.AgentsAttention: 1}},
		{"ok/absent-item-enters", nil, with("attn", "3"), map[string]float64{dynamo.AgentsAttention: 1}},
		{"ok/live-key-moves", with("live_shard", "1", "live_b", "a"), with("live_shard", "1", "live_b", "b"),
			map[string]float64{dynamo.AgentsLive: 2}},
		{"ok/live-unchanged", with("live_shard", "1", "live_b", "a"), with("live_shard", "1", "live_b", "a"), map[string]float64{}},
		{"ok/live-keys-only-ignores-other-attributes", with("live_shard", "1", "live_b", "a", "live_at", "x"),
			with("live_shard", "1", "live_b", "a", "live_at", "y"), map[string]float64{}},
		{"ok/attention-all-projects-every-attribute", with("attn", "3", "live_at", "x"), with("attn", "3", "live_at", "y"),
			map[string]float64{dynamo.AgentsAttention: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dynamo.IndexWriteUnits(agents, tc.before, tc.after)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("IndexWriteUnits = %v, want %v", got, tc.want)
			}
		})
	}
	if aws.ToString(agents.TableName) != "x-agents" {
		t.Fatalf("schema order changed: %s", aws.ToString(agents.TableName))
	}
}

// expireBatches is how many batches TestExpireRequestUnits marks.
const expireBatches = 20

// TestExpireRequestUnits counts, at the adapter, the request units the
// expiry pass spends per batch of the hub's shape (accepted 10 KiB,
// 100-record signed batches, stored compressed), every index included:
// the figure docs/dynamodb.md's "The expiry pass at 100,000 agents" uses.
func TestExpireRequestUnits(t *testing.T) {
	db := newDB(t)
	_, tables := newStore(t, db)
	fx := &commitFx{db: emutest.Data(t, db), tables: tables, auth: commitAuthority(t)}
	c := fx.newCase(t, batchKind{name: "signed-1-day", signed: true, days: 1})
	svc := c.service(fx.db)
	for range expireBatches {
		c.seq++
		c.clk.Advance(time.Minute)
		body := batchtest.Body(c.seq, commitDays[0].Format("2006-01-02"))
		if res, err := svc.Ingest.Ingest(t.Context(), hub.IngestRequest{Token: c.token, ClientCertPEM: c.cert,
			ContentType: "application/json", Signature: sig.Sign(c.key, body), Body: body}); err != nil || res.Accepted != batchtest.Records {
			t.Fatalf("ingest seq %d: %+v, %v", c.seq, res, err)
		}
	}
	m := &dynamo.Meter{API: fx.db, Schema: dynamo.Schema(tables), Estimate: true}
	st, err := dynamo.New(m, tables)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	sc := hub.ExpiryScope{TenantID: c.tenant, From: from, To: from.AddDate(0, 1, 0).Add(-time.Second),
		ReceivedBefore: c.clk.Now().Add(time.Second), At: time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)}
	day := hub.ExpiryPart{Day: commitDays[0].Truncate(24 * time.Hour)}
	marked := 0
	for sh := range st.Batches.ExpiryShards() {
		day.Shard = sh
		pg, err := st.Batches.ExpirePart(t.Context(), sc, day, "", 1000)
		if err != nil || pg.Cursor != "" {
			t.Fatalf("ExpirePart(%s) = %+v, %v", day.Name(), pg, err)
		}
		marked += pg.Marked
	}
	if marked < expireBatches { // and the case's own first batch, if any
		t.Fatalf("marked %d batches, want the %d ingested", marked, expireBatches)
	}
	r, w, calls := m.Totals()
	n := float64(marked)
	t.Logf("per batch:\n%s", perBatch(m.Breakdown(), marked, strings.TrimSuffix(tables.Agents, "agents")))
	fmt.Printf("expiry pass units: %.3f RRU %.2f WRU per batch (%d batches, %d calls)\n", r/n, w/n, marked, calls)
	if w/n > 3 {
		t.Errorf("the pass writes %.2f WRU per batch, want at most 3 (docs/dynamodb.md)", w/n)
	}
}
