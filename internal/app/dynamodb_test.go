package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/monsys/hub/internal/app"
)

// countingResolver is the SDK's own resolver, counting the resolutions.
type countingResolver struct {
	n    atomic.Int64
	next dynamodb.EndpointResolverV2
}

func (r *countingResolver) ResolveEndpoint(ctx context.Context, p dynamodb.EndpointParameters) (smithyendpoints.Endpoint, error) {
	r.n.Add(1)
	return r.next.ResolveEndpoint(ctx, p)
}

// callParams are the endpoint parameters a call binds under the client's
// options (as the SDK's middleware does), for a table.
func callParams(o dynamodb.Options, table string) dynamodb.EndpointParameters {
	var region *string // as the SDK binds it: none for an empty one
	if o.Region != "" {
		region = aws.String(o.Region)
	}
	return dynamodb.EndpointParameters{
		Region:                region,
		UseFIPS:               aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:          aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		Endpoint:              o.BaseEndpoint,
		AccountIdEndpointMode: aws.String(string(o.AccountIDEndpointMode)),
		ResourceArn:           aws.String(table),
	}
}

// TestDynamoDBOptions checks that the hub's DynamoDB client resolves its
// endpoint once, when it is built, and answers every call with what the
// SDK's own resolver answers for that call.
func TestDynamoDBOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        dynamodb.Options
		call     func(*dynamodb.Options) // a per-call change of the options
		static   bool                    // the call is answered without the rules
		wantHost string
	}{
		{name: "ok/region", o: dynamodb.Options{Region: "eu-west-1"}, static: true, wantHost: "dynamodb.eu-west-1.amazonaws.com"},
		{name: "ok/endpoint-override", o: dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:8000")}, static: true, wantHost: "127.0.0.1:8000"},
		{name: "ok/fips", o: dynamodb.Options{Region: "us-east-1", EndpointOptions: dynamodb.EndpointResolverOptions{UseFIPSEndpoint: aws.FIPSEndpointStateEnabled}}, static: true, wantHost: "dynamodb-fips.us-east-1.amazonaws.com"},
		{name: "ok/dual-stack", o: dynamodb.Options{Region: "us-east-1", EndpointOptions: dynamodb.EndpointResolverOptions{UseDualStackEndpoint: aws.DualStackEndpointStateEnabled}}, static: true, wantHost: "dynamodb.us-east-1.api.aws"},
		{name: "ok/account-id-mode-required-is-turned-off", o: dynamodb.Options{Region: "us-east-1", AccountIDEndpointMode: aws.AccountIDEndpointModeRequired}, static: true, wantHost: "dynamodb.us-east-1.amazonaws.com"},
		{name: "ok/per-call-region-goes-to-the-rules", o: dynamodb.Options{Region: "us-east-1"}, call: func(o *dynamodb.Options) { o.Region = "ap-south-1" }, wantHost: "dynamodb.ap-south-1.amazonaws.com"},
		{name: "ok/per-call-endpoint-goes-to-the-rules", o: dynamodb.Options{Region: "us-east-1"}, call: func(o *dynamodb.Options) { o.BaseEndpoint = aws.String("http://localhost:4566") }, wantHost: "localhost:4566"},
		{name: "fail/no-region-left-to-the-rules", o: dynamodb.Options{}},
		{name: "fail/endpoint-with-fips-left-to-the-rules", o: dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:8000"), EndpointOptions: dynamodb.EndpointResolverOptions{UseFIPSEndpoint: aws.FIPSEndpointStateEnabled}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := &countingResolver{next: dynamodb.NewDefaultEndpointResolverV2()}
			tc.o.EndpointResolverV2 = rules
			o := dynamodb.New(tc.o, app.DynamoDBOptions).Options()
			if o.AccountIDEndpointMode != aws.AccountIDEndpointModeDisabled {
				t.Errorf("AccountIDEndpointMode = %q, want disabled", o.AccountIDEndpointMode)
			}
			if tc.call != nil {
				tc.call(&o)
			}
			built := rules.n.Load()
			for _, table := range []string{"monsys-agents", "monsys-batches"} {
				p := callParams(o, table)
				got, gotErr := o.EndpointResolverV2.ResolveEndpoint(t.Context(), p)
				want, wantErr := dynamodb.NewDefaultEndpointResolverV2().ResolveEndpoint(t.Context(), p)
				if (gotErr != nil) != (wantErr != nil) || got.URI.String() != want.URI.String() {
					t.Fatalf("%s: got %q, %v; the SDK's resolver gives %q, %v", table, got.URI.String(), gotErr, want.URI.String(), wantErr)
				}
				if tc.wantHost == "" {
					if gotErr == nil {
						t.Fatalf("%s: resolved %q, want an error", table, got.URI.String())
					}
					continue
				}
				if got.URI.Host != tc.wantHost {
					t.Fatalf("%s: host %q, want %q", table, got.URI.Host, tc.wantHost)
				}
				got.URI.Path = "/changed" // the SDK changes its copy of the URL
			}
			if calls := rules.n.Load() - built; tc.static && calls != 0 {
				t.Errorf("the endpoint rules ran on %d of 2 calls, want none", calls)
			}
		})
	}
}

// TestDynamoDBOptionsOverride checks that a client with the hub's options
// still sends to an endpoint override (the local hub, dynalite).
func TestDynamoDBOptionsOverride(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.GetItem" || r.Header.Get("Authorization") == "" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"Item":{"pk":{"S":"a"}}}`))
	}))
	defer srv.Close()
	c := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	}, app.DynamoDBOptions)
	for range 2 {
		out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := out.Item["pk"].(*types.AttributeValueMemberS); !ok || v.Value != "a" {
			t.Fatalf("item %v", out.Item)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("%d requests reached the override, want 2", hits.Load())
	}
}

// BenchmarkDynamoDBEndpoint compares, in one run, the endpoint resolution
// of one call of the deployed client (a region, no endpoint override) by
// the SDK's rules (Rules) and by the hub's client (Static), as it binds
// the parameters of a call on the agents table.
func BenchmarkDynamoDBEndpoint(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts func(*dynamodb.Options)
	}{
		{"Rules", func(*dynamodb.Options) {}},
		{"Static", app.DynamoDBOptions},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := dynamodb.New(dynamodb.Options{Region: "eu-west-1"}, bc.opts).Options()
			p := callParams(o, "monsys-agents")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.EndpointResolverV2.ResolveEndpoint(b.Context(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
