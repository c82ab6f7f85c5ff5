package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// TestRaceRotatePackKey: rounds of five concurrent POST /signing-keys/rotate
// in kms mode, against the local KMS. SPEC 4: none answers 5xx; each is
// carried out or gets 409 conflict; every round rotates at least once. And
// no rotation leaves a KMS key behind: after every round the tenant's
// Ed25519 keys in KMS are exactly those of its lineage and its pending key.
func TestRaceRotatePackKey(t *testing.T) {
	clk := clocktest.Skewed()
	e := startEnv(t, local.Config{DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t), Clock: clk})
	ad := e.admin()
	const rounds, n = 3, 5
	rotated := 0
	for round := range rounds {
		clk.Advance(2 * time.Second) // a new second: windows are whole seconds
		results := make([]resp, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = ad.do("POST", "/signing-keys/rotate", nil)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, r := range results {
			switch {
			case r.Status == http.StatusOK:
				ok++
			case r.Status == http.StatusConflict && r.code() == "conflict":
				if r.Header.Get("Retry-After") == "" {
					t.Errorf("round %d, rotation %d: 409 without Retry-After", round, i)
				}
			default:
				t.Errorf("round %d, rotation %d: %s", round, i, r)
			}
		}
		wantKMSKeysRecorded(t, e)
		if t.Failed() {
			t.FailNow()
		}
		if ok == 0 {
			t.Fatalf("round %d: no rotation was carried out", round)
		}
		rotated += ok
	}
	rec, err := e.hub.Stores.Keys.GetKeys(context.Background(), e.info.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Lineage) != 1+rotated {
		t.Fatalf("lineage has %d keys, want the first and %d rotations", len(rec.Lineage), rotated)
	}
}

// wantKMSKeysRecorded: the tenant's pack-signing keys in KMS (Ed25519 keys
// whose description names the tenant) are exactly the keys its record
// refers to: the lineage's and the pending one.
func wantKMSKeysRecorded(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	rec, err := e.hub.Stores.Keys.GetKeys(ctx, e.info.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ref := range rec.Refs {
		want = append(want, ref)
	}
	if rec.Pending != nil && rec.Pending.Ref != "" {
		want = append(want, rec.Pending.Ref)
	}
	var got []string
	p := kms.NewListKeysPaginator(e.hub.KMS, &kms.ListKeysInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			d, err := e.hub.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			m := d.KeyMetadata
			if m.KeySpec == types.KeySpecEccNistEdwards25519 && strings.HasPrefix(aws.ToString(m.Description), "monsys pack signing "+e.info.TenantID+" ") {
				got = append(got, aws.ToString(m.Arn))
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("KMS holds %d pack keys of %s, the record refers to %d:\n KMS    %v\n record %v", len(got), e.info.TenantID, len(want), got, want)
	}
}

// TestRaceRotateToken: five concurrent POST /agents/{id}/rotate-token (SPEC 4:
// never 5xx; each carried out or 409 conflict). Exactly the token of a 200
// that won last works; the old one and those of the losers do not.
func TestRaceRotateToken(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	ad := e.admin()
	const n = 5
	results := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = ad.do("POST", "/agents/"+a.id+"/rotate-token", nil)
		})
	}
	close(start)
	wg.Wait()
	var won []string
	for i, r := range results {
		switch {
		case r.Status == http.StatusOK:
			won = append(won, r.Body["token"].(string))
		case r.Status == http.StatusConflict && r.code() == "conflict":
		default:
			t.Errorf("rotation %d: %s", i, r)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(won) == 0 {
		t.Fatal("no rotation was carried out")
	}
	working := 0
	for _, tok := range append(won, a.token) {
		a.token = tok
		if r := a.ingest(a.body(metric("cpu", 1))); r.Status == http.StatusAccepted {
			working++
		}
	}
	if working != 1 {
		t.Fatalf("%d tokens work, want exactly one", working)
	}
}
