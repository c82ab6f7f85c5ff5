package app_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/app"
)

// BenchmarkDynamoDBConnections counts the TLS connections a client opens
// for sequential calls, as a warm function makes them, to a local HTTPS
// server that answers like DynamoDB (conns/1k-calls: a count, not a time):
// the deployed DynamoDB client (app.DynamoDBOptions, the SDK's own
// transport) against a plain net/http client on the same transport
// settings. Every connection beyond the first is a TLS handshake the
// function pays for (docs/dynamodb.md, "Connections").
func BenchmarkDynamoDBConnections(b *testing.B) {
	for _, tc := range []struct {
		name string
		call func(b *testing.B, srv *httptest.Server, hc *awshttp.BuildableClient) func()
	}{
		{"sdk", func(b *testing.B, srv *httptest.Server, hc *awshttp.BuildableClient) func() {
			c := dynamodb.New(dynamodb.Options{Region: "eu-west-1", HTTPClient: hc,
				Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}, app.DynamoDBOptions)
			in := &dynamodb.GetItemInput{TableName: aws.String("t"),
				Key: map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: "a"}}}
			return func() {
				if _, err := c.GetItem(b.Context(), in); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"net-http", func(b *testing.B, srv *httptest.Server, hc *awshttp.BuildableClient) func() {
			return func() {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL,
					strings.NewReader(`{"TableName":"t","Key":{"agent_id":{"S":"a"}}}`))
				if err != nil {
					b.Fatal(err)
				}
				res, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, hc, conns := dynamoLikeServer(b)
			call := tc.call(b, srv, hc)
			b.ResetTimer()
			for range b.N {
				call()
			}
			b.ReportMetric(float64(conns.Load())*1000/float64(b.N), "conns/1k-calls")
		})
	}
}

// dynamoLikeServer is a local HTTPS server that answers every request as
// DynamoDB answers a GetItem, the SDK transport that trusts it, and the
// count of connections it accepted.
func dynamoLikeServer(tb testing.TB) (*httptest.Server, *awshttp.BuildableClient, *atomic.Int64) {
	conns := new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"Item":{"agent_id":{"S":"a"}}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	})
	return srv, hc, conns
}

// TestDynamoDBKeepsOneConnection: the deployed client's sequential calls
// share one connection (with the SDK's own request body, about 30 in 1,000
// calls opened a new one).
func TestDynamoDBKeepsOneConnection(t *testing.T) {
	srv, hc, conns := dynamoLikeServer(t)
	c := dynamodb.New(dynamodb.Options{Region: "eu-west-1", HTTPClient: hc,
		Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}, app.DynamoDBOptions)
	in := &dynamodb.GetItemInput{TableName: aws.String("t"),
		Key: map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: "a"}}}
	const calls = 1000
	for range calls {
		if _, err := c.GetItem(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	// One connection; a second one now and then would be the race of a
	// loaded machine, not 30.
	if n := conns.Load(); n > 2 {
		t.Fatalf("%d connections for %d sequential calls, want 1", n, calls)
	}
}

// TestReplayableBodyShortBody: a body shorter than its Content-Length is an
// error that says so, and nothing is sent.
func TestReplayableBodyShortBody(t *testing.T) {
	sent := 0
	o := dynamodb.Options{HTTPClient: doerFunc(func(*http.Request) (*http.Response, error) { sent++; return nil, io.EOF })}
	app.DynamoDBOptions(&o)
	req, err := http.NewRequest(http.MethodPost, "https://dynamodb.eu-west-1.amazonaws.com/", io.NopCloser(strings.NewReader("{}")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10
	if _, err := o.HTTPClient.Do(req); err == nil || !strings.Contains(err.Error(), "10-byte body") || sent != 0 {
		t.Fatalf("Do: %v, sent %d", err, sent)
	}
	app.DynamoDBOptions(&o) // applied twice: still one wrapper
	if _, err := o.HTTPClient.Do(req); err == nil {
		t.Fatal("no error")
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
