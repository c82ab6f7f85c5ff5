package ddb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Client sends DynamoDB's data-plane calls. It is safe for concurrent use.
type Client struct {
	url       string      // the endpoint, with the path "/"
	header    http.Header // the endpoint's own headers, if any
	region    string
	creds     aws.CredentialsProvider // nil: requests go unsigned, as the SDK sends them
	signer    dynamodb.HTTPSignerV4
	sig       *sigV4 // nil: every request goes to signer
	retryer   aws.RetryerV2
	http      dynamodb.HTTPClient
	crc       bool // check the answers' X-Amz-Crc32
	lambda    bool // AWS_LAMBDA_FUNCTION_NAME is set: send the trace header
	userAgent string

	// sizes are the buffer sizes for the operations' next requests.
	sizes [nOps]atomic.Int32

	// skew is the clock skew (nanoseconds) the last call's answer showed:
	// the next call signs with the clock moved by it, as the SDK does.
	skew atomic.Int64

	// now and sleep are the clock (tests replace them).
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New builds a client from the options of an SDK client (its Options(),
// after every option function has run): the same region, endpoint,
// credentials, signer, retryer and HTTP client. Account-ID-based endpoints
// are never used: the hub's tables are in its own account and region, and
// the regional endpoint (or the override of AWS_ENDPOINT_URL_DYNAMODB)
// serves them. The endpoint is resolved here, once.
func New(o dynamodb.Options) (*Client, error) {
	if o.Region == "" {
		return nil, errors.New("ddb: no region")
	}
	if o.EndpointResolverV2 == nil || o.HTTPClient == nil || o.Retryer == nil || o.HTTPSignerV4 == nil {
		return nil, errors.New("ddb: the options are not those of a built SDK client (take them from (*dynamodb.Client).Options())")
	}
	p := dynamodb.EndpointParameters{
		Region:                aws.String(o.Region),
		UseFIPS:               aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:          aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		AccountIdEndpointMode: aws.String(string(aws.AccountIDEndpointModeDisabled)),
		Endpoint:              o.BaseEndpoint,
	}
	ep, err := o.EndpointResolverV2.ResolveEndpoint(context.Background(), p)
	if err != nil {
		return nil, fmt.Errorf("ddb: resolve the endpoint of region %s: %w", o.Region, err)
	}
	u := ep.URI
	if u.Path == "" {
		u.Path = "/"
	}
	c := &Client{
		url:       u.String(),
		region:    o.Region,
		creds:     o.Credentials,
		signer:    o.HTTPSignerV4,
		retryer:   retryerV2(o.Retryer),
		http:      o.HTTPClient,
		crc:       !o.DisableValidateResponseChecksum,
		lambda:    inLambda(),
		userAgent: "monsys-hub-ddb aws-sdk-go-v2/" + aws.SDKVersion,
		now:       time.Now,
		sleep:     sleepCtx,
	}
	if len(ep.Headers) > 0 {
		c.header = ep.Headers.Clone()
	}
	if _, sdkDefault := o.HTTPSignerV4.(*v4.Signer); sdkDefault {
		c.sig = &sigV4{host: signingHost(u.Scheme, u.Host), region: o.Region}
	}
	if _, anon := c.creds.(aws.AnonymousCredentials); anon {
		c.creds = nil
	}
	return c, nil
}

// retryerV2 is r with GetAttemptToken (the retry quota's token for a first
// attempt), as the SDK's retry loop takes it.
func retryerV2(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return retryerV1{r}
}

type retryerV1 struct{ aws.Retryer }

func (r retryerV1) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// GetItem implements the stores' API.
func (c *Client) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(ctx, c, opGetItem, in, optFns, encodeGetItem, decodeGetItem)
}

// PutItem implements the stores' API.
func (c *Client) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return call(ctx, c, opPutItem, in, optFns, encodePutItem, decodePutItem)
}

// UpdateItem implements the stores' API.
func (c *Client) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return call(ctx, c, opUpdateItem, in, optFns, encodeUpdateItem, decodeUpdateItem)
}

// DeleteItem implements the stores' API.
func (c *Client) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return call(ctx, c, opDeleteItem, in, optFns, encodeDeleteItem, decodeDeleteItem)
}

// Query implements the stores' API.
func (c *Client) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return call(ctx, c, opQuery, in, optFns, encodeQuery, decodeQuery)
}

// Scan implements the operator's tenant listing (dynamo.Scanner).
func (c *Client) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return call(ctx, c, opScan, in, optFns, encodeScan, decodeScan)
}

// operation is one of the client's operations.
type operation int

const (
	opGetItem operation = iota
	opPutItem
	opUpdateItem
	opDeleteItem
	opQuery
	opScan
	nOps
)

var (
	opNames   = [nOps]string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}
	opTargets = [nOps]string{"DynamoDB_20120810.GetItem", "DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem",
		"DynamoDB_20120810.DeleteItem", "DynamoDB_20120810.Query", "DynamoDB_20120810.Scan"}
)

// bufs are the answers' buffers (the decoders copy what they keep). A
// request's body is not pooled: the HTTP client may still read it after Do
// returns (a transport writes it from another goroutine).
const maxPooled = 256 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// call is one operation: the request encoded once, then the attempts the
// retryer allows. Its errors are the SDK's: a *smithy.OperationError naming
// the operation around the cause.
func call[In, Out any](ctx context.Context, c *Client, o operation, in *In, optFns []func(*dynamodb.Options),
	encode func([]byte, *In) ([]byte, error), decode func([]byte) (*Out, error)) (*Out, error) {
	op := opNames[o]
	if len(optFns) > 0 {
		return nil, opError(op, errors.New("ddb: per-call options are not supported"))
	}
	// The request's buffer, of about the size of the operation's last
	// request (an ingest's batch body is about 5 KB, its other requests
	// under 1 KB), so that it seldom grows. encode refuses a nil in as the
	// SDK does (its required members' check).
	body, err := encode(make([]byte, 0, max(c.sizes[o].Load(), 512)), in)
	if err != nil {
		var invalid smithy.InvalidParamsError
		if !errors.As(err, &invalid) {
			err = &smithy.SerializationError{Err: err}
		}
		return nil, opError(op, err)
	}
	c.sizes[o].Store(int32(min(len(body)+len(body)/8, 1<<20)))
	var out *Out
	err = c.do(ctx, o, body, func(b []byte) (err error) {
		out, err = decode(b)
		return err
	})
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func opError(op string, err error) error {
	return &smithy.OperationError{ServiceID: dynamodb.ServiceID, OperationName: op, Err: err}
}

// The clock skew rules of the SDK's retry loop (aws/retry, aws/middleware:
// the AWS SDKs' clock skew correction): a skew is measured from an answer's
// Date header unless the answer was cached (Age) or took over 15 minutes;
// an authentication error is retried when the measured skew differs from
// the one the request was signed with by over 4 minutes.
const (
	skewThreshold  = 4 * time.Minute
	maxSkewRequest = 15 * time.Minute
)

var clockSkewCodes = map[string]bool{"InvalidSignatureException": true, "SignatureDoesNotMatch": true,
	"AuthFailure": true, "RequestTimeTooSkewed": true, "AccessDeniedException": true}

// do sends body as operation op until an answer is decoded or the retryer
// gives up: the SDK's retry loop (aws/retry.Attempt) with the SDK's retryer,
// its retry quota and its delays.
func (c *Client) do(ctx context.Context, op operation, body []byte, decode func([]byte) error) error {
	sum := sha256.Sum256(body)
	var hash [64]byte
	hex.Encode(hash[:], sum[:])
	payloadHash := string(hash[:])

	maxAttempts := c.retryer.MaxAttempts()
	release := func(error) error { return nil }
	// As the SDK's loop: each attempt is signed with the skew the attempt
	// before it measured (none: 0), and the client keeps the skew of the
	// call's last attempt, if that one measured any.
	skew := time.Duration(c.skew.Load())
	var last struct {
		skew time.Duration
		ok   bool
	}
	defer func() {
		if last.ok {
			c.skew.Store(int64(last.skew))
		}
	}()
	for attempt := 1; ; attempt++ {
		last.ok = false
		if err := ctx.Err(); err != nil {
			return err
		}
		releaseAttempt, err := c.retryer.GetAttemptToken(ctx)
		if err != nil {
			return fmt.Errorf("failed to get retry Send token, %w", err)
		}
		measured, hasSkew, err := c.attempt(ctx, op, body, payloadHash, skew, decode)
		if rerr := release(err); rerr != nil && err != nil {
			return fmt.Errorf("failed to release retry token after request error, %w", err)
		}
		if rerr := releaseAttempt(err); rerr != nil && err != nil {
			return fmt.Errorf("failed to release initial token after request error, %w", err)
		}
		last.skew, last.ok = measured, hasSkew
		if err == nil {
			return nil
		}
		if hasSkew && isClockSkew(err) && absDuration(skew-measured) > skewThreshold {
			err = &clockSkewError{err}
		}
		if !c.retryer.IsErrorRetryable(err) {
			return err
		}
		if maxAttempts > 0 && attempt >= maxAttempts {
			return &retry.MaxAttemptsError{Attempt: attempt, Err: err}
		}
		rel, terr := c.retryer.GetRetryToken(ctx, err)
		if terr != nil {
			return errors.Join(err, terr) // the retry quota is spent
		}
		release = rel
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return derr
		}
		if serr := c.sleep(ctx, delay); serr != nil {
			return &aws.RequestCanceledError{Err: serr}
		}
		skew = measured // 0 when the answer had no Date
	}
}

func isClockSkew(err error) bool {
	var v interface{ ErrorCode() string }
	return errors.As(err, &v) && clockSkewCodes[v.ErrorCode()]
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// clockSkewError is an authentication error that the clock skew explains:
// the retryer retries it (aws.RetryableError's rule).
type clockSkewError struct{ error }

func (e *clockSkewError) Unwrap() error        { return e.error }
func (e *clockSkewError) RetryableError() bool { return true }

// crcError is an answer whose body does not match its X-Amz-Crc32: it was
// damaged on the way, and the call is retried.
type crcError struct {
	got  uint32
	want string
}

func (e *crcError) Error() string {
	return fmt.Sprintf("the answer's body has CRC32 %d, its X-Amz-Crc32 header says %s", e.got, e.want)
}
func (e *crcError) RetryableError() bool { return true }

// attempt sends the request once and decodes the answer. It reports the
// clock skew the answer's Date shows, if it shows one (else measured is 0).
func (c *Client) attempt(ctx context.Context, op operation, body []byte, payloadHash string, skew time.Duration,
	decode func([]byte) error) (measured time.Duration, hasSkew bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, fmt.Errorf("build the request: %w", err)
	}
	h := make(http.Header, 12+len(c.header))
	req.Header = h
	for k, v := range c.header {
		h[k] = v
	}
	// One array for the values (each header one of them, capacity 1).
	// Accept-Encoding identity: as the SDK asks (its gzip is off by
	// default), so that no transport decompresses an answer whose
	// X-Amz-Crc32 covers the compressed bytes.
	vals := [5]string{"identity", "application/x-amz-json-1.0", opTargets[op], c.userAgent}
	h["Accept-Encoding"] = vals[0:1:1]
	h["Content-Type"] = vals[1:2:2]
	h["X-Amz-Target"] = vals[2:3:3]
	h["User-Agent"] = vals[3:4:4]
	if tid, ok := c.traceID(); ok {
		vals[4] = tid
		h["X-Amzn-Trace-Id"] = vals[4:5:5]
	}
	if c.creds != nil {
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("failed to retrieve credentials: %w", err)
		}
		at := c.now().Add(skew).UTC()
		if c.sig != nil && c.sig.canSign(creds, c.header) {
			c.sig.sign(h, creds, opNames[op], len(body), payloadHash, at)
		} else if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, sigService, c.region, at); err != nil {
			return 0, false, fmt.Errorf("failed to sign request: %w", err)
		}
	}
	requestAt := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = &smithyhttp.RequestSendError{Err: err}
		if ctx.Err() != nil {
			err = &smithy.CanceledError{Err: ctx.Err()}
		}
		placeholder := &http.Response{Header: http.Header{}, Body: http.NoBody}
		return 0, false, responseError(placeholder, err)
	}
	responseAt := c.now()
	if d := resp.Header.Get("Date"); d != "" && resp.Header.Get("Age") == "" && responseAt.Sub(requestAt) <= maxSkewRequest {
		if server, perr := smithyhttp.ParseTime(d); perr == nil {
			measured, hasSkew = server.Sub(responseAt), true
		}
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	b, err := readAll((*bp)[:0], resp)
	if cap(b) <= maxPooled { // a page of a large query is not kept for the next small answer
		*bp = b[:0]
	}
	if err != nil {
		return measured, hasSkew, responseError(resp, &smithy.DeserializationError{Err: fmt.Errorf("failed to read the answer: %w", err)})
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return measured, hasSkew, responseError(resp, decodeError(opNames[op], resp.StatusCode, resp.Header, b))
	}
	if c.crc {
		if want := resp.Header.Get("X-Amz-Crc32"); want != "" {
			if got := crc32.ChecksumIEEE(b); strconv.FormatUint(uint64(got), 10) != want {
				return measured, hasSkew, responseError(resp, &crcError{got: got, want: want})
			}
		}
	}
	if err := decode(b); err != nil {
		return measured, hasSkew, responseError(resp, &smithy.DeserializationError{Err: err})
	}
	return measured, hasSkew, nil
}

// readAll reads and closes the answer's body into b.
func readAll(b []byte, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if n := resp.ContentLength; n > 0 && int64(cap(b)) < n && n <= 64<<20 {
		b = make([]byte, 0, n)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// responseError is err of an attempt that got resp (or the SDK's
// placeholder for none), wrapped as the SDK wraps it.
func responseError(resp *http.Response, err error) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: err},
		RequestID:     resp.Header.Get("X-Amzn-Requestid"),
	}
}

// traceID is the X-Amzn-Trace-Id header the SDK sends from a Lambda
// function (its recursion detection): the invocation's trace ID, which the
// runtime sets in the environment for each invocation, percent-encoded.
// Whether the client runs in Lambda is read when the client is built.
func (c *Client) traceID() (string, bool) {
	if !c.lambda {
		return "", false
	}
	id, ok := os.LookupEnv("_X_AMZN_TRACE_ID")
	if !ok {
		return "", false
	}
	return percentEncode(id), true
}

func inLambda() bool {
	_, ok := os.LookupEnv("AWS_LAMBDA_FUNCTION_NAME")
	return ok
}

func percentEncode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEncode(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexd = "0123456789ABCDEF"
	t := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; shouldEncode(c) {
			t = append(t, '%', hexd[c>>4], hexd[c&15])
		} else {
			t = append(t, c)
		}
	}
	return string(t)
}

func shouldEncode(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return false
	}
	switch c {
	case '-', '=', ';', ':', '+', '&', '[', ']', '{', '}', '"', '\'', ',':
		return false
	}
	return true
}

// FromSDK is New over the options of an SDK client.
func FromSDK(c *dynamodb.Client) (*Client, error) {
	if c == nil {
		return nil, errors.New("ddb: nil SDK client")
	}
	return New(c.Options())
}
