package dynamo_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/sig"
)

// unitBatches is how many steady-path batches TestIngestRequestUnits averages.
const unitBatches = 8

// TestIngestRequestUnits counts, at the adapter, the request units of an
// accepted 10 KiB, 100-record signed batch on the steady path of a warm
// function (one core that has already served the agent), every index
// included (docs/dynamodb.md, "Request units"). make bench prints its
// "ingest units" line.
func TestIngestRequestUnits(t *testing.T) {
	db := newDB(t)
	_, tables := newStore(t, db)
	fx := &commitFx{db: db, tables: tables, auth: commitAuthority(t)}
	c := fx.newCase(t, batchKind{"signed-1-day", true, 1})
	m := &dynamo.Meter{API: db, Schema: dynamo.Schema(tables), Estimate: true}
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
	m.Reset()
	for range unitBatches {
		send()
	}
	r, w, calls := m.Totals()
	rru, wru := r/unitBatches, w/unitBatches
	t.Logf("per batch:\n%s", perBatch(m, unitBatches, strings.TrimSuffix(tables.Agents, "agents")))
	fmt.Printf("ingest units: %.2f RRU %.2f WRU %.1f calls per accepted 10 KiB signed batch (%d batches)\n",
		rru, wru, float64(calls)/unitBatches, unitBatches)
}

// perBatch lists the units per table and index, divided by n, without the tables' prefix.
func perBatch(m *dynamo.Meter, n int, prefix string) string {
	b := m.Breakdown()
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
		{"ok/live-key-moves", with("live_shard", "1", "live_at", "a"), with("live_shard", "1", "live_at", "b"),
			map[string]float64{dynamo.AgentsLive: 2}},
		{"ok/live-unchanged", with("live_shard", "1", "live_at", "a"), with("live_shard", "1", "live_at", "a"), map[string]float64{}},
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
