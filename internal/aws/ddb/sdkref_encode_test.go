package ddb

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// encCaptureHTTP is the reference's HTTP client: it keeps the body of the
// request the SDK sends and answers 200 with an empty JSON object.
type encCaptureHTTP struct {
	body []byte
	sent bool
}

func (c *encCaptureHTTP) Do(req *http.Request) (*http.Response, error) {
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
	return newSDKRef().encode(t, in)
}

// sdkRef is the SDK's client over an encCaptureHTTP, unsigned (anonymous
// credentials), one attempt.
type sdkRef struct {
	c  *dynamodb.Client
	hc *encCaptureHTTP
}

func newSDKRef() *sdkRef {
	hc := &encCaptureHTTP{}
	return &sdkRef{hc: hc, c: dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       hc,
		BaseEndpoint:     aws.String("http://x"),
		RetryMaxAttempts: 1,
	})}
}

// encode is sdkEncode with r's client.
func (r *sdkRef) encode(t testing.TB, in any) (body []byte, sent bool, err error) {
	t.Helper()
	r.hc.sent, r.hc.body = false, nil
	ctx := context.Background()
	switch v := in.(type) {
	case *dynamodb.GetItemInput:
		_, err = r.c.GetItem(ctx, v)
	case *dynamodb.PutItemInput:
		_, err = r.c.PutItem(ctx, v)
	case *dynamodb.UpdateItemInput:
		_, err = r.c.UpdateItem(ctx, v)
	case *dynamodb.DeleteItemInput:
		_, err = r.c.DeleteItem(ctx, v)
	case *dynamodb.QueryInput:
		_, err = r.c.Query(ctx, v)
	case *dynamodb.ScanInput:
		_, err = r.c.Scan(ctx, v)
	default:
		t.Fatalf("sdkEncode: %T is not an input of the six operations", in)
	}
	return r.hc.body, r.hc.sent, err
}

// TestSDKSendsBadValuesWrong pins why the encoders refuse what the SDK's
// serializer does not know (TestEncodeRefuses): the SDK sends a body
// DynamoDB cannot read, silently drops a list element, or panics. If an SDK
// upgrade changes this, the encoders' refusals are to be checked again.
func TestSDKSendsBadValuesWrong(t *testing.T) {
	put := func(v types.AttributeValue) *dynamodb.PutItemInput {
		return &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"a": v}}
	}
	for _, v := range []types.AttributeValue{nil, &types.UnknownUnionMember{Tag: "X"}} {
		body, sent, err := sdkEncode(t, put(v))
		if !sent || err != nil || json.Valid(body) {
			t.Errorf("%T in a map: the SDK sent %v (%v) a body %s; it used to send invalid JSON", v, sent, err, body)
		}
	}
	body, _, err := sdkEncode(t, put(&types.AttributeValueMemberL{Value: []types.AttributeValue{nil, &types.AttributeValueMemberS{Value: "x"}}}))
	if err != nil || string(body) != `{"Item":{"a":{"L":[{"S":"x"}]}},"TableName":"t"}` {
		t.Errorf("nil in a list: the SDK sent %s (%v); it used to drop the element", body, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("a nil *types.AttributeValueMemberS: the SDK no longer panics")
			}
		}()
		sdkEncode(t, put((*types.AttributeValueMemberS)(nil)))
	}()
}
