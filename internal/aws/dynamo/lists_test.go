package dynamo_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// metered asks DynamoDB for the capacity of every query and item read and
// adds it up.
type metered struct {
	dynamo.API
	units float64
	calls int // queries
	gets  int
}

func (m *metered) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.API.GetItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.units += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	m.gets++
	return out, err
}

func (m *metered) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.API.Query(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil {
		m.units += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	m.calls++
	return out, err
}

// TestListingReadUnits measures what one page of 100 costs (docs/dynamodb.md,
// "Listings"): agents as the hub writes them after a registration with a CSR
// and some traffic, and packs as a finished build writes them. The emulator
// computes capacity as DynamoDB documents it (0.5 unit per 4 KB read,
// eventually consistent; 1 per 4 KB strongly consistent read); the bounds
// hold the pages to one query each.
func TestListingReadUnits(t *testing.T) {
	ctx := t.Context()
	sdk := emutest.DynamoForTest(t)
	m := &metered{API: emutest.Data(t, sdk)}
	tables := dynamo.TablesWithPrefix(emutest.UniquePrefix(t))
	if err := dynamo.CreateTables(ctx, sdk, tables); err != nil {
		t.Fatal(err)
	}
	s, err := dynamo.New(m, tables)
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "acme-bv"
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 123456789, time.UTC)
	h := func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
	for i := range 101 {
		id := fmt.Sprintf("ag_%024d", i)
		a := hub.Agent{TenantID: tenant, AgentID: id, TokenHash: h(id), Hostname: "web-edge-" + id[3:], CreatedAt: t0,
			AnomalyGen: map[anomaly.Kind]int64{}}
		if err := s.Agents.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		key := sha256.Sum256([]byte(id))
		if err := s.Agents.PinSigningKey(ctx, id, key[:], t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Agents.PinCert(ctx, id, hub.CertPin{Fingerprint: h("cert" + id), NotAfter: t0.Add(24 * time.Hour)}, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Agents.RecordRegistration(ctx, id, hub.Registration{Hostname: a.Hostname, AgentVersion: "1.4.2", OS: "linux", Arch: "amd64",
			MaxAgentVersion: "1.4.2", At: t0}); err != nil {
			t.Fatal(err)
		}
		p := hub.Pending{Seq: 1743501600000000000, SHA: h("b" + id), At: t0}
		if err := s.Commits.BeginBatch(ctx, id, p, key[:], "1.4.2", "1.4.2"); err != nil {
			t.Fatal(err)
		}
		if err := s.Commits.EndBatch(ctx, id, p); err != nil {
			t.Fatal(err)
		}
		pk := hub.Pack{TenantID: tenant, PackID: fmt.Sprintf("pk_%024d", i), Status: hub.PackPending, PeriodStart: t0, PeriodEnd: t0.Add(720 * time.Hour),
			RequestedAt: t0.Add(time.Duration(i) * time.Second)}
		if err := s.Packs.CreatePack(ctx, pk); err != nil {
			t.Fatal(err)
		}
		pk.Status, pk.GeneratedAt, pk.FinishedAt, pk.ManifestSHA256, pk.SigningKeyID = hub.PackReady, t0, t0, h("m"+id), "sk_x"
		pk.ObjectKey, pk.ObjectVersion, pk.FileName, pk.Size, pk.Records = "packs/"+tenant+"/"+pk.PackID+"/e.tar.gz", "v1", "e.tar.gz", 123456, 7890
		if err := s.Packs.FinishPack(ctx, pk); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		list  func() (int, error)
		bound float64
	}{
		{"agents", func() (int, error) {
			p, err := s.Agents.ListAgents(ctx, tenant, hub.AgentsAll, "", 100)
			return len(p.Agents), err
		}, 201}, // the index query and the two items of each agent
		{"packs", func() (int, error) {
			p, err := s.Packs.ListPacks(ctx, tenant, "", 100)
			return len(p.Packs), err
		}, 5},
	} {
		t.Run("ok/"+c.name, func(t *testing.T) {
			m.units, m.calls, m.gets = 0, 0, 0
			n, err := c.list()
			if err != nil || n != 100 {
				t.Fatalf("listed %d, %v", n, err)
			}
			t.Logf("one page of 100 %s: %.1f read units in %d query and %d item reads", c.name, m.units, m.calls, m.gets)
			if m.calls != 1 || m.units > c.bound {
				t.Fatalf("one page of 100 %s took %d queries and %.1f read units, want 1 and at most %.0f", c.name, m.calls, m.units, c.bound)
			}
		})
	}
}
