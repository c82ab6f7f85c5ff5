package ddb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The SDK's own client is the reference for the decoders: it is given the
// answer's bytes by an in-process HTTP client and its output (or error,
// unwrapped from the client's chain) is what ours must equal.

// answerer is an HTTP client that answers every request with one answer.
type answerer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answerer) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	h := http.Header{}
	for k, v := range a.header {
		h[k] = append([]string(nil), v...)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/x-amz-json-1.0")
	}
	return &http.Response{
		StatusCode:    a.status,
		Status:        http.StatusText(a.status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)),
		Request:       req,
	}, nil
}

func sdkClient(a *answerer) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       a,
		BaseEndpoint:     aws.String("http://x"),
		RetryMaxAttempts: 1,
		EndpointDiscovery: dynamodb.EndpointDiscoveryOptions{
			EnableEndpointDiscovery: aws.EndpointDiscoveryDisabled,
		},
	})
}

var (
	refKey   = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}
	refTable = aws.String("t")
)

// sdkDecode is what the SDK's client returns for op's answer (status 200
// and body): the output with ResultMetadata zeroed, or the error unwrapped
// from the *smithy.OperationError / ResponseError chain.
//
// On some malformed bodies the SDK's client panics (its JSON reader drops a
// syntax error inside a list or map, reads on, and slices a one-byte token
// as a string); that is recovered here and counted as the SDK failing.
func sdkDecode(op string, status int, header http.Header, body []byte) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("the SDK's client panicked: %v", r)
		}
	}()
	c := sdkClient(&answerer{status: status, header: header, body: append([]byte(nil), body...)})
	switch op {
	case "GetItem":
		out, err = sdkCall(c.GetItem, &dynamodb.GetItemInput{TableName: refTable, Key: refKey})
	case "PutItem":
		out, err = sdkCall(c.PutItem, &dynamodb.PutItemInput{TableName: refTable, Item: refKey})
	case "UpdateItem":
		out, err = sdkCall(c.UpdateItem, &dynamodb.UpdateItemInput{TableName: refTable, Key: refKey})
	case "DeleteItem":
		out, err = sdkCall(c.DeleteItem, &dynamodb.DeleteItemInput{TableName: refTable, Key: refKey})
	case "Query":
		out, err = sdkCall(c.Query, &dynamodb.QueryInput{TableName: refTable})
	case "Scan":
		out, err = sdkCall(c.Scan, &dynamodb.ScanInput{TableName: refTable})
	default:
		panic("sdkDecode: unknown op " + op)
	}
	if err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			return nil, re.Err
		}
		return nil, err
	}
	return out, nil
}

// sdkCall calls one operation of the SDK's client and zeroes the output's
// ResultMetadata (the client's, not the decoder's).
func sdkCall[I, O any](call func(context.Context, *I, ...func(*dynamodb.Options)) (*O, error), in *I) (any, error) {
	o, err := call(context.Background(), in)
	if err != nil {
		return nil, err
	}
	reflect.ValueOf(o).Elem().FieldByName("ResultMetadata").SetZero()
	return o, nil
}

// ourDecode is decode<op>(body) as an any, nil when it fails.
func ourDecode(op string, body []byte) (any, error) {
	switch op {
	case "GetItem":
		o, err := decodeGetItem(body)
		return nilIfErr(o, err)
	case "PutItem":
		o, err := decodePutItem(body)
		return nilIfErr(o, err)
	case "UpdateItem":
		o, err := decodeUpdateItem(body)
		return nilIfErr(o, err)
	case "DeleteItem":
		o, err := decodeDeleteItem(body)
		return nilIfErr(o, err)
	case "Query":
		o, err := decodeQuery(body)
		return nilIfErr(o, err)
	case "Scan":
		o, err := decodeScan(body)
		return nilIfErr(o, err)
	}
	panic("ourDecode: unknown op " + op)
}

func nilIfErr[T any](o *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return o, nil
}

var ops = []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}
