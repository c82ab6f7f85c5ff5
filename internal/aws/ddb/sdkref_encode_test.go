package ddb

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// captureHTTP is the reference's HTTP client: it keeps the body of the
// request the SDK sends and answers 200 with an empty JSON object.
type captureHTTP struct {
	body []byte
	sent bool
}

func (c *captureHTTP) Do(req *http.Request) (*http.Response, error) {
	c.sent = true
	c.body = nil
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		c.body = b
	}
	return &http.Response{
		StatusCode:    200,
		Status:        "200 OK",
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:          io.NopCloser(bytes.NewReader([]byte("{}"))),
		ContentLength: 2,
		Request:       req,
	}, nil
}

// sdkEncode runs the SDK's own client on in (a *dynamodb.XxxInput of one
// of the six operations) and returns the body it sent, or the error it
// returned without sending (sent false).
func sdkEncode(t testing.TB, in any) (body []byte, sent bool, err error) {
	t.Helper()
	hc := &captureHTTP{}
	c := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       hc,
		BaseEndpoint:     aws.String("http://x"),
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	switch v := in.(type) {
	case *dynamodb.GetItemInput:
		_, err = c.GetItem(ctx, v)
	case *dynamodb.PutItemInput:
		_, err = c.PutItem(ctx, v)
	case *dynamodb.UpdateItemInput:
		_, err = c.UpdateItem(ctx, v)
	case *dynamodb.DeleteItemInput:
		_, err = c.DeleteItem(ctx, v)
	case *dynamodb.QueryInput:
		_, err = c.Query(ctx, v)
	case *dynamodb.ScanInput:
		_, err = c.Scan(ctx, v)
	default:
		t.Fatalf("sdkEncode: %T is not an input of the six operations", in)
	}
	return hc.body, hc.sent, err
}
