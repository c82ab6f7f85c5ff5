package dynamo

// Exported for the tests of package dynamo_test.
var (
	LiveBucketOf = liveBucket
	IndexShardOf = indexShard
)
