// Package ddb is the hub's DynamoDB data-plane client: GetItem, PutItem,
// UpdateItem, DeleteItem, Query and Scan over DynamoDB's JSON protocol
// (awsJson1_0), taking and answering the SDK's own input, output and error
// types, so that the stores (internal/aws/dynamo) cannot tell it from the
// SDK's client. It is the only code in the project that sends these calls;
// the SDK's client keeps the control plane (CreateTable, DescribeTable,
// UpdateTimeToLive), which only the operator's tools and the test harness call.
//
// What it takes from the SDK, unchanged: the credentials (and their cache),
// the SigV4 signer, the retryer with its retry quota, the HTTP client and
// the endpoint, all read from the options of an SDK client built as usual
// (New). What it does itself: the request's JSON (encode.go), the answer's
// and the errors' decoding (decode.go), and one loop of attempts (client.go).
// Why: the SDK's per-call work was more than half of the ingest function's
// CPU (docs/dynamodb.md, "A DynamoDB client of our own").
package ddb
