package dynamo

import "github.com/monsys/hub/internal/hub"

// Exported for the tests of package dynamo_test.
var (
	LiveBucketOf = liveBucket
	IndexShardOf = indexShard
)

// IndexPartitionOf is the batch-index partition of b's entry on day.
func IndexPartitionOf(b hub.StoredBatch, day string) string {
	return IndexPartition(b.TenantID, day, indexShard(b.AgentID))
}
