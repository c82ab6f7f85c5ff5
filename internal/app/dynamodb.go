package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// DynamoDBOptions are the SDK settings of every DynamoDB client the hub's
// functions build (LoadClients; the Lambda path benchmark applies them to
// its client too), set after the AWS configuration chain has set the
// region and any endpoint override (AWS_ENDPOINT_URL_DYNAMODB: the local
// hub, dynalite):
//
//   - no account-ID-based endpoints (AccountIDEndpointMode disabled): the
//     hub's tables are in its own account and region, and the regional
//     endpoint serves them;
//   - the endpoint is resolved once, here, instead of by the endpoint rules
//     on every call (staticEndpoint);
//   - each request's body reaches net/http as bytes it can replay
//     (replayableBody), so that sequential calls share one connection.
//
// Left as the SDK sets them, and why, in docs/dynamodb.md.
func DynamoDBOptions(o *dynamodb.Options) {
	o.AccountIDEndpointMode = aws.AccountIDEndpointModeDisabled
	if r, ok := newStaticEndpoint(o); ok {
		o.EndpointResolverV2 = r
	}
	if o.HTTPClient != nil {
		if _, done := o.HTTPClient.(replayableBody); !done {
			o.HTTPClient = replayableBody{next: o.HTTPClient}
		}
	}
}

// replayableBody hands net/http each request's body as a bytes.Reader
// (with GetBody) instead of the SDK's own wrapper of its serialized
// request. With the SDK's wrapper, net/http's transport opened a new
// connection for about 3 % of sequential calls, each a TLS handshake,
// leaving the others idle in its pool; with the same bytes as a
// bytes.Reader it keeps one (BenchmarkDynamoDBConnections,
// TestDynamoDBKeepsOneConnection; docs/dynamodb.md, "Connections"). A
// DynamoDB request is small (at most 16 MB, a batch body at most 256 KiB);
// the copy costs far less than one handshake.
type replayableBody struct {
	next dynamodb.HTTPClient
}

func (c replayableBody) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 {
		return c.next.Do(r)
	}
	b := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, b)
	if cerr := r.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("dynamodb: read the request's %d-byte body: %w", r.ContentLength, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return c.next.Do(r)
}

// staticEndpoint answers the endpoint it resolved with the client's own
// resolver when the client was built, as long as a call asks for the
// endpoint of the same region, endpoint override, FIPS and dual-stack
// settings; a call that asks for anything else (an operation option that
// changes the region, say) goes to the resolver. The operations' other
// parameters (the table's ARN, the account ID) select account-ID-based
// endpoints only, which DynamoDBOptions turns off.
type staticEndpoint struct {
	next      dynamodb.EndpointResolverV2
	region    string
	endpoint  string // "" for none
	fips      bool
	dualStack bool
	resolved  smithyendpoints.Endpoint
}

// newStaticEndpoint resolves o's endpoint once. It reports false, leaving
// the resolution to every call, when o's settings are not the plain ones
// the static answer covers (no region, a FIPS pseudo-region, an account-ID
// mode other than disabled) or when the resolver fails: a call then fails
// with the resolver's own error.
func newStaticEndpoint(o *dynamodb.Options) (*staticEndpoint, bool) {
	if o.EndpointResolverV2 == nil || o.AccountIDEndpointMode != aws.AccountIDEndpointModeDisabled || o.Region == "" {
		return nil, false
	}
	if prev, ok := o.EndpointResolverV2.(*staticEndpoint); ok {
		o.EndpointResolverV2 = prev.next // DynamoDBOptions applied again: resolve once more, not twice
	}
	s := &staticEndpoint{
		next:      o.EndpointResolverV2,
		region:    o.Region,
		endpoint:  aws.ToString(o.BaseEndpoint),
		fips:      o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled,
		dualStack: o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled,
	}
	ep, err := s.next.ResolveEndpoint(context.Background(), s.params())
	if err != nil {
		return nil, false
	}
	s.resolved = ep
	return s, true
}

// params are the parameters a call binds for s's settings, with no table
// ARN and no account ID.
func (s *staticEndpoint) params() dynamodb.EndpointParameters {
	p := dynamodb.EndpointParameters{
		Region:                aws.String(s.region),
		UseFIPS:               aws.Bool(s.fips),
		UseDualStack:          aws.Bool(s.dualStack),
		AccountIdEndpointMode: aws.String(string(aws.AccountIDEndpointModeDisabled)),
	}
	if s.endpoint != "" {
		p.Endpoint = aws.String(s.endpoint)
	}
	return p
}

// ResolveEndpoint implements dynamodb.EndpointResolverV2. The answer is a
// copy whose URL the SDK may change; its headers and properties it only reads.
func (s *staticEndpoint) ResolveEndpoint(ctx context.Context, p dynamodb.EndpointParameters) (smithyendpoints.Endpoint, error) {
	if aws.ToString(p.Region) != s.region || aws.ToString(p.Endpoint) != s.endpoint ||
		aws.ToBool(p.UseFIPS) != s.fips || aws.ToBool(p.UseDualStack) != s.dualStack ||
		aws.ToString(p.AccountIdEndpointMode) != string(aws.AccountIDEndpointModeDisabled) {
		return s.next.ResolveEndpoint(ctx, p)
	}
	return s.resolved, nil
}
