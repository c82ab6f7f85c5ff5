package dynamo_test

import (
	"encoding/base32"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/hub"
)

// fleetIDs returns n agent ids of the hub's shape (ag_ and 24 base32
// characters of 15 random bytes), from a fixed seed.
func fleetIDs(t *testing.T, n int) []string {
	t.Helper()
	r := mrand.New(mrand.NewChaCha8([32]byte{16}))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	ids := make([]string, n)
	for i := range ids {
		b := make([]byte, 15)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		ids[i] = "ag_" + strings.ToLower(enc.EncodeToString(b))
		if !hub.ValidAgentID(ids[i]) {
			t.Fatalf("%q is not an agent id", ids[i])
		}
	}
	return ids
}

// TestKeyDistribution checks the partition keys an ingest writes, for
// 100,000 agents sending one batch a minute (docs/dynamodb.md, "Hot
// partitions"): the batch-index shards and the live index's shards share
// the load evenly, and the live index's bucket moves are spread evenly over
// time, not bunched after each boundary.
func TestKeyDistribution(t *testing.T) {
	const agents = 100_000
	ids := fleetIDs(t, agents)
	shards := make([]int, dynamo.IndexShards)
	for _, id := range ids {
		shards[dynamo.IndexShardOf(id)]++
	}
	mean := float64(agents) / dynamo.IndexShards
	for sh, n := range shards {
		if float64(n) > 1.05*mean {
			t.Errorf("index shard %d holds %d agents, more than 5%% over the mean %.0f", sh, n, mean)
		}
	}
	// Write units per second on the busiest batch-index partition when all
	// the agents are in one tenant (the worst case): one 1-WRU entry per
	// batch, one batch a minute.
	busiest := 0
	for _, n := range shards {
		busiest = max(busiest, n)
	}
	if wcu := float64(busiest) / 60; wcu > 300 {
		t.Errorf("busiest batch-index partition: %.0f WCU/s, want at most 300", wcu)
	} else {
		t.Logf("busiest batch-index partition, one tenant of %d agents: %.0f WCU/s", agents, wcu)
	}
	// Bucket moves: each agent's bucket starts at its own offset, so over
	// one LiveBucket the moves fall evenly in every minute.
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	perMinute := make([]int, int(dynamo.LiveBucket/time.Minute))
	for _, id := range ids {
		b := dynamo.LiveBucketOf(id, t0)
		if b.After(t0) || !b.After(t0.Add(-dynamo.LiveBucket)) {
			t.Fatalf("bucket of %s at %s is %s: want at or before, less than %s before", id, t0, b, dynamo.LiveBucket)
		}
		next := b.Add(dynamo.LiveBucket) // the agent's next move
		if got := dynamo.LiveBucketOf(id, next.Add(-time.Nanosecond)); !got.Equal(b) {
			t.Fatalf("bucket of %s moved before its boundary: %s, want %s", id, got, b)
		}
		if got := dynamo.LiveBucketOf(id, next); !got.Equal(next) {
			t.Fatalf("bucket of %s at its boundary %s is %s", id, next, got)
		}
		perMinute[int((next.Sub(t0)-time.Nanosecond)/time.Minute)]++ // next is in (t0, t0+LiveBucket]
	}
	moveMean := float64(agents) / float64(len(perMinute))
	for m, n := range perMinute {
		if float64(n) > 1.05*moveMean {
			t.Errorf("minute %d: %d bucket moves, more than 5%% over the mean %.0f", m, n, moveMean)
		}
	}
	// Each move writes the live index twice (a delete and a put of a
	// keys-only entry, 1 WRU each), spread over the live index's shards.
	wcu := 2 * 1.05 * moveMean / 60 / dynamo.IndexShards
	t.Logf("live index: %.0f WCU/s per shard at most", wcu)
}
