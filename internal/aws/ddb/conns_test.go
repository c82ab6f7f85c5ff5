package ddb

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dynamoLikeServer is a local HTTPS server that answers every request as
// DynamoDB answers a GetItem, a client over the SDK's transport that
// trusts it, and the count of connections the server accepted.
func dynamoLikeServer(tb testing.TB) (*Client, *atomic.Int64) {
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
	c, err := FromSDK(dynamodb.New(dynamodb.Options{Region: "eu-west-1", HTTPClient: hc,
		Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(srv.URL)}))
	if err != nil {
		tb.Fatal(err)
	}
	return c, conns
}

var connsInput = &dynamodb.GetItemInput{TableName: aws.String("t"),
	Key: map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: "a"}}}

// TestKeepsOneConnection: sequential calls, as a warm function makes them,
// share one connection (the SDK's own client, with its own wrapper of the
// request body, opened a new one for about 30 in 1,000 calls: each a TLS
// handshake; docs/dynamodb.md, "Connections").
func TestKeepsOneConnection(t *testing.T) {
	c, conns := dynamoLikeServer(t)
	const calls = 1000
	for range calls {
		if _, err := c.GetItem(t.Context(), connsInput); err != nil {
			t.Fatal(err)
		}
	}
	// One connection; a second one now and then would be the race of a
	// loaded machine, not 30.
	if n := conns.Load(); n > 2 {
		t.Fatalf("%d connections for %d sequential calls, want 1", n, calls)
	}
}

// BenchmarkConnections counts the TLS connections the client opens per
// 1,000 sequential calls (a count, not a time).
func BenchmarkConnections(b *testing.B) {
	c, conns := dynamoLikeServer(b)
	b.ResetTimer()
	for range b.N {
		if _, err := c.GetItem(b.Context(), connsInput); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(conns.Load())*1000/float64(b.N), "conns/1k-calls")
}
