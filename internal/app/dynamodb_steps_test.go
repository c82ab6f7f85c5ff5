package app_test

import (
	"bytes"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/benchcpu"
)

// answering is an HTTP client that answers every DynamoDB call with the
// same body, as DynamoDB does: with its CRC32 and a request id.
type answering struct{ body []byte }

func (a answering) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{
		"Content-Type":     {"application/x-amz-json-1.0"},
		"X-Amz-Crc32":      {strconv.FormatUint(uint64(crc32.ChecksumIEEE(a.body)), 10)},
		"X-Amzn-Requestid": {"EXAMPLE0REQUEST0ID0EXAMPLE0REQUEST0ID0EXAMPLE0REQ"},
	}, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: r}, nil
}

// lambdaDynamoDB is a client as the ingest function builds it in Lambda
// (the role's session credentials, cached; the region; the invocation's
// trace header in the environment), over answering, with more options.
func lambdaDynamoDB(tb testing.TB, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	tb.Setenv("AWS_LAMBDA_FUNCTION_NAME", "monsys-ingest")
	tb.Setenv("_X_AMZN_TRACE_ID", "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=0")
	creds := aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("ASIAEXAMPLEEXAMPLE01",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", strings.Repeat("IQoJb3JpZ2luX2VjEXAMPLE", 36)))
	return dynamodb.New(dynamodb.Options{Region: "eu-west-1", Credentials: creds, HTTPClient: answering{[]byte("{}")}},
		append([]func(*dynamodb.Options){app.DynamoDBOptions}, opts...)...)
}

// beginInput is an UpdateItem of the ingest's begin, as the store sends it.
func beginInput() *dynamodb.UpdateItemInput {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	sha := strings.Repeat("0123456789abcdef", 4)
	at := "2026-03-29T10:00:00.000000000Z"
	return &dynamodb.UpdateItemInput{TableName: aws.String("monsys-agents"), Key: map[string]types.AttributeValue{"agent_id": s("ag_0123456789abcdef")},
		UpdateExpression: aws.String("SET last_seq = :seq, last_batch_sha = :sha, pending = :p, agent_version = :v, max_agent_version = :mv, " +
			"last_seen = :t, last_signed_at = :t, live_at = :t, live_b = :b, live_shard = :sh"),
		ConditionExpression: aws.String("attribute_exists(agent_id) AND (last_seq = :prev AND attribute_not_exists(pending) AND signing_pubkey = :pub)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": n("1743501600000000002"), ":sha": s(sha),
			":p": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"seq": n("1743501600000000002"), "sha": s(sha),
				"prev_seq": n("1743501600000000001"), "prev_sha": s(sha), "at": s(at)}},
			":v": s("1.2.0"), ":mv": s("1.2.0"), ":t": s(at), ":prev": n("1743501600000000001"),
			":pub": &types.AttributeValueMemberB{Value: make([]byte, 32)}, ":sh": s("3"), ":b": s(at)}}
}

// withoutBuild removes a step of the stack's build step by its ID.
func withoutBuild(id string) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			_, err := s.Build.Remove(id)
			return err
		})
	}
}

// BenchmarkDynamoDBSteps measures, in one run, one UpdateItem of the
// ingest's begin on the deployed client, and the same without each step of
// the SDK's stack that the deployed hub could do without (the only steps
// weighed: docs/dynamodb.md, "The SDK's settings"). Read the allocations
// (exact) and cpu-ns/op of runs taken in turns (-count).
func BenchmarkDynamoDBSteps(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []func(*dynamodb.Options)
	}{
		{"deployed", nil},
		{"without-ClientRequestID", []func(*dynamodb.Options){withoutBuild("ClientRequestID")}},
		{"without-UserAgent", []func(*dynamodb.Options){withoutBuild("UserAgent")}},
		{"without-RecursionDetection", []func(*dynamodb.Options){withoutBuild("RecursionDetection")}},
		{"without-all-three", []func(*dynamodb.Options){withoutBuild("ClientRequestID"), withoutBuild("UserAgent"), withoutBuild("RecursionDetection")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := lambdaDynamoDB(b, bc.opts...)
			in := beginInput()
			b.ReportAllocs()
			reportCPU := benchcpu.Start(b)
			for b.Loop() {
				if _, err := c.UpdateItem(b.Context(), in); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU()
		})
	}
}
