package ddb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/monsys/hub/internal/benchcpu"
)

// script is an HTTP client that answers each request with the next of its
// answers (the last one again when they run out) and keeps the requests
// with their bodies.
type script struct {
	mu      sync.Mutex
	answers []answer
	reqs    []*http.Request
	bodies  [][]byte
}

// answer is one scripted answer: a status, headers and a body, or a
// transport error; hook, if set, runs when the request arrives.
type answer struct {
	status int
	header map[string]string
	body   string
	err    error
	hook   func(*http.Request)
}

func (s *script) Do(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, b)
	a := s.answers[min(len(s.reqs), len(s.answers))-1]
	s.mu.Unlock()
	if a.hook != nil {
		a.hook(r)
	}
	if a.err != nil {
		return nil, a.err
	}
	h := http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"REQ" + strconv.Itoa(len(s.reqs))}}
	for k, v := range a.header {
		if v == "" {
			h.Del(k)
			continue
		}
		h.Set(k, v)
	}
	if _, ok := a.header["X-Amz-Crc32"]; !ok {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(a.body))), 10))
	}
	return &http.Response{StatusCode: a.status, Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), Header: h,
		Body: io.NopCloser(strings.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: r}, nil
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

const (
	testKey    = "ASIAEXAMPLEEXAMPLE01"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken  = "IQoJb3JpZ2luX2VjEXAMPLE"
)

// sdkOptions are the options of an SDK client over hc, built as LoadClients
// builds one (static role credentials with a session token), with no
// backoff between attempts.
func sdkOptions(hc dynamodb.HTTPClient) dynamodb.Options {
	return dynamodb.New(dynamodb.Options{
		Region:       "eu-west-1",
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(testKey, testSecret, testToken)),
		HTTPClient:   hc,
		BaseEndpoint: aws.String("https://dynamodb.eu-west-1.amazonaws.com"),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	}).Options()
}

// newTestClient is a client over s whose sleeps are recorded, not slept.
func newTestClient(t *testing.T, s *script) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(sdkOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }
	return c, &slept
}

// send is one call of the client's loop with a raw body, the answer kept.
func send(c *Client, ctx context.Context, body string) (string, error) {
	var got string
	err := c.do(ctx, opGetItem, []byte(body), func(b []byte) error { got = string(b); return nil })
	return got, err
}

func TestRequestSigned(t *testing.T) {
	s := &script{answers: []answer{{status: 200, body: `{}`}}}
	c, _ := newTestClient(t, s)
	before := time.Now().UTC().Truncate(time.Second)
	if _, err := send(c, t.Context(), `{"TableName":"agents"}`); err != nil {
		t.Fatal(err)
	}
	r := s.reqs[0]
	for k, want := range map[string]string{
		"Content-Type":         "application/x-amz-json-1.0",
		"Accept-Encoding":      "identity", // as the SDK: no transport may decompress what X-Amz-Crc32 covers
		"X-Amz-Target":         "DynamoDB_20120810.GetItem",
		"X-Amz-Security-Token": testToken,
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.URL.String() != "https://dynamodb.eu-west-1.amazonaws.com/" || r.Method != http.MethodPost {
		t.Errorf("sent %s %s", r.Method, r.URL)
	}
	if r.ContentLength != int64(len(s.bodies[0])) || r.GetBody == nil {
		t.Errorf("ContentLength %d (body %d bytes), GetBody set %v: the body must be replayable bytes of a known length",
			r.ContentLength, len(s.bodies[0]), r.GetBody != nil)
	}
	auth := r.Header.Get("Authorization")
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Fatalf("X-Amz-Date %q (%v)", r.Header.Get("X-Amz-Date"), err)
	}
	scope := "Credential=" + testKey + "/" + date.Format("20060102") + "/eu-west-1/dynamodb/aws4_request"
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, scope) {
		t.Fatalf("Authorization %q, want scope %q", auth, scope)
	}
	for _, h := range []string{"accept-encoding", "content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"} {
		if !strings.Contains(auth, h) {
			t.Errorf("header %s not signed: %s", h, auth)
		}
	}
	// What DynamoDB checks: the signature of the request as it arrived,
	// body included, computed by the signer from the secret.
	check, _ := http.NewRequest(r.Method, r.URL.String(), bytes.NewReader(s.bodies[0]))
	for k, v := range r.Header {
		check.Header[k] = v
	}
	check.Header.Del("Authorization")
	check.Header.Del("X-Amz-Date")
	check.Header.Del("X-Amz-Security-Token")
	sum := sha256Hex(s.bodies[0])
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: testToken},
		check, sum, "dynamodb", "eu-west-1", date); err != nil {
		t.Fatal(err)
	}
	if got := check.Header.Get("Authorization"); got != auth {
		t.Errorf("the signature does not match the request sent:\n sent %s\n want %s", auth, got)
	}
}

func TestTraceHeader(t *testing.T) {
	for _, tc := range []struct {
		name, fn, trace, want string
	}{
		{"ok/lambda", "monsys-ingest", "Root=1-6789;Parent=53995c3f;Sampled=0", "Root=1-6789;Parent=53995c3f;Sampled=0"},
		{"ok/lambda-encoded", "monsys-ingest", "Root=1 x/é", "Root=1%20x%2F%C3%A9"},
		{"ok/not-lambda", "", "Root=1-6789", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fn != "" {
				t.Setenv("AWS_LAMBDA_FUNCTION_NAME", tc.fn)
			} else {
				t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
				unsetenv(t, "AWS_LAMBDA_FUNCTION_NAME")
			}
			t.Setenv("_X_AMZN_TRACE_ID", tc.trace)
			s := &script{answers: []answer{{status: 200, body: `{}`}}}
			c, _ := newTestClient(t, s)
			if _, err := send(c, t.Context(), `{}`); err != nil {
				t.Fatal(err)
			}
			if got := s.reqs[0].Header.Get("X-Amzn-Trace-Id"); got != tc.want {
				t.Errorf("X-Amzn-Trace-Id %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	throttled := answer{status: 400, body: `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}`}
	internal := answer{status: 500, body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}`}
	invalid := answer{status: 400, body: `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}`}
	ok := answer{status: 200, body: `{"Item":{}}`}
	reset := answer{err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name     string
		answers  []answer
		attempts int
		check    func(t *testing.T, err error)
	}{
		{"ok/first", []answer{ok}, 1, nil},
		{"ok/after-500", []answer{internal, ok}, 2, nil},
		{"ok/after-throttling", []answer{throttled, throttled, ok}, 3, nil},
		{"ok/after-reset", []answer{reset, ok}, 2, nil},
		{"ok/after-bad-crc", []answer{{status: 200, body: `{"Item":{}}`, header: map[string]string{"X-Amz-Crc32": "12"}}, ok}, 2, nil},
		{"fail/validation-not-retried", []answer{invalid, ok}, 1, func(t *testing.T, err error) {
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" || api.ErrorMessage() != "bad key" {
				t.Errorf("want the ValidationException, got %v", err)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || re.ServiceRequestID() != "REQ1" {
				t.Errorf("want the response's status and request id, got %v", err)
			}
		}},
		{"fail/500-three-times", []answer{internal}, 3, func(t *testing.T, err error) {
			var max *retry.MaxAttemptsError
			var ise *types.InternalServerError
			if !errors.As(err, &max) || max.Attempt != 3 || !errors.As(err, &ise) {
				t.Errorf("want 3 attempts ending on the InternalServerError, got %v", err)
			}
		}},
		{"fail/reset-three-times", []answer{reset}, 3, func(t *testing.T, err error) {
			var send *smithyhttp.RequestSendError
			if !errors.As(err, &send) || !strings.Contains(err.Error(), "connection reset by peer") {
				t.Errorf("want the send error, got %v", err)
			}
		}},
		{"fail/bad-crc-three-times", []answer{{status: 200, body: `{}`, header: map[string]string{"X-Amz-Crc32": "12"}}}, 3, func(t *testing.T, err error) {
			var crc *crcError
			if !errors.As(err, &crc) || crc.want != "12" {
				t.Errorf("want the CRC32 error, got %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{answers: tc.answers}
			c, _ := newTestClient(t, s)
			got, err := send(c, t.Context(), `{}`)
			if s.count() != tc.attempts {
				t.Errorf("%d attempts, want %d", s.count(), tc.attempts)
			}
			if tc.check == nil {
				if err != nil || got != `{"Item":{}}` {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			tc.check(t, err)
			for i := 1; i < len(s.bodies); i++ {
				if !bytes.Equal(s.bodies[i], s.bodies[0]) {
					t.Errorf("attempt %d sent %q, the first %q", i+1, s.bodies[i], s.bodies[0])
				}
			}
		})
	}
}

// TestRetryQuota: once the retry quota is spent, an error is not retried
// and the answer says why, as the SDK's loop says it.
func TestRetryQuota(t *testing.T) {
	s := &script{answers: []answer{{status: 500, body: `{"__type":"InternalServerError"}`}}}
	o := sdkOptions(s)
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		so.RetryCost, so.RetryTimeoutCost = 5, 5
		so.RateLimiter = ratelimit.NewTokenRateLimit(7) // one retry
	})
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = send(c, t.Context(), `{}`)
	if s.count() != 2 || err == nil || !strings.Contains(err.Error(), "retry quota exceeded") {
		t.Fatalf("%d attempts, %v; want 2 and the quota's refusal", s.count(), err)
	}
}

func TestCanceledWhileSending(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := &script{answers: []answer{{hook: func(*http.Request) { cancel() }, err: context.Canceled}}}
	c, _ := newTestClient(t, s)
	_, err := send(c, ctx, `{}`)
	var ce *smithy.CanceledError
	if !errors.As(err, &ce) || !errors.Is(err, context.Canceled) || s.count() != 1 {
		t.Fatalf("%d attempts, %v; want 1 and a CanceledError", s.count(), err)
	}
}

// TestClockSkew: an authentication error from a server whose clock is 10
// minutes ahead is retried, signed with the server's time; the next call
// starts from that skew.
func TestClockSkew(t *testing.T) {
	ahead := time.Now().Add(10 * time.Minute).UTC()
	date := map[string]string{"Date": ahead.Format(http.TimeFormat)}
	s := &script{answers: []answer{
		{status: 400, header: date, body: `{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired"}`},
		{status: 200, header: date, body: `{}`},
	}}
	c, _ := newTestClient(t, s)
	if _, err := send(c, t.Context(), `{}`); err != nil {
		t.Fatal(err)
	}
	if _, err := send(c, t.Context(), `{}`); err != nil {
		t.Fatal(err)
	}
	if s.count() != 3 {
		t.Fatalf("%d requests, want 3", s.count())
	}
	for i, r := range s.reqs {
		d, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		skewed := d.Sub(ahead).Abs() < time.Minute
		if skewed != (i > 0) {
			t.Errorf("request %d signed at %v (server at %v)", i+1, d, ahead)
		}
	}
	// Without the skew, the same error is the caller's.
	s2 := &script{answers: []answer{{status: 400, body: `{"__type":"InvalidSignatureException","message":"bad"}`}}}
	c2, _ := newTestClient(t, s2)
	if _, err := send(c2, t.Context(), `{}`); err == nil || s2.count() != 1 {
		t.Fatalf("%d attempts, %v", s2.count(), err)
	}
}

// TestAnswerBufferReused: the answers' buffer goes back to the pool, so a
// decoder that kept it would see the next answer's bytes: the client hands
// each decoder its own answer.
func TestAnswerBuffer(t *testing.T) {
	big := `{"Item":{"k":{"S":"` + strings.Repeat("x", 20000) + `"}}}`
	s := &script{answers: []answer{{status: 200, body: big}, {status: 200, body: `{}`}}}
	c, _ := newTestClient(t, s)
	for _, want := range []string{big, `{}`} {
		got, err := send(c, t.Context(), `{}`)
		if err != nil || got != want {
			t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
		}
	}
}

func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// BenchmarkAttempt is the client's work for one call besides the codec:
// the payload hash, the signature, the request and the answer's read, over
// an in-process HTTP client.
func BenchmarkAttempt(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4000)
	hc := &fixedAnswer{body: []byte(`{}`)}
	c, err := New(sdkOptions(hc))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for range b.N {
		if err := c.do(b.Context(), opPutItem, body, func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// fixedAnswer answers every request with body, as an HTTP client does:
// the request's body read, a new header map and body per answer.
type fixedAnswer struct{ body []byte }

func (f *fixedAnswer) Do(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"},
		"X-Amz-Crc32": {strconv.FormatUint(uint64(crc32.ChecksumIEEE(f.body)), 10)}, "X-Amzn-Requestid": {"ABC"}, "Date": {"Sun, 06 Dec 2026 12:00:00 GMT"}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: r}, nil
}

// TestAsTheSDK runs the same calls through the SDK's client and this one,
// each over the same scripted answers, and holds them to the same outcome:
// the number of attempts, the error's text (the chain of wrappers and the
// API error), and the classes of error the stores and the retryer ask about.
func TestAsTheSDK(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	unsetenv(t, "AWS_LAMBDA_FUNCTION_NAME")
	in := &dynamodb.PutItemInput{TableName: aws.String("agents"),
		Item:                                map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: "ag_1"}},
		ConditionExpression:                 aws.String("attribute_not_exists(agent_id)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	ccf := answer{status: 400, body: `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"agent_id":{"S":"ag_1"},"seq":{"N":"7"}}}`}
	pte := answer{status: 400, body: `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"too fast"}`}
	thr := answer{status: 400, body: `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}`}
	ise := answer{status: 500, body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}`}
	unavailable := answer{status: 503, body: `<html>Service Unavailable</html>`, header: map[string]string{"Content-Type": "text/html"}}
	notFound := answer{status: 400, body: `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`}
	denied := answer{status: 400, body: `{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: x is not authorized"}`}
	ok := answer{status: 200, body: `{}`}
	for _, tc := range []struct {
		name    string
		answers []answer
	}{
		{"ok/first", []answer{ok}},
		{"fail/condition", []answer{ccf}},
		{"fail/not-found", []answer{notFound}},
		{"fail/denied", []answer{denied}},
		{"ok/after-throughput", []answer{pte, ok}},
		{"fail/throughput-always", []answer{pte}},
		{"fail/throttling-always", []answer{thr}},
		{"ok/after-503-html", []answer{unavailable, ok}},
		{"fail/500-always", []answer{ise}},
		{"fail/reset-always", []answer{{err: errors.New("read: connection reset by peer")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdkScript, ourScript := &script{answers: tc.answers}, &script{answers: tc.answers}
			_, sdkErr := dynamodb.New(sdkOptions(sdkScript)).PutItem(t.Context(), in)
			c, _ := newTestClient(t, ourScript)
			_, ourErr := c.PutItem(t.Context(), in)
			if sdkScript.count() != ourScript.count() {
				t.Errorf("%d attempts, the SDK %d", ourScript.count(), sdkScript.count())
			}
			if fmt.Sprint(ourErr) != fmt.Sprint(sdkErr) {
				t.Errorf("error\n %v\nthe SDK's\n %v", ourErr, sdkErr)
			}
			var ourCCF, sdkCCF *types.ConditionalCheckFailedException
			if errors.As(ourErr, &ourCCF) != errors.As(sdkErr, &sdkCCF) || ourCCF != nil && !reflect.DeepEqual(ourCCF.Item, sdkCCF.Item) {
				t.Errorf("ConditionalCheckFailedException %+v, the SDK's %+v", ourCCF, sdkCCF)
			}
			var ourRE, sdkRE *awshttp.ResponseError
			if errors.As(ourErr, &ourRE) != errors.As(sdkErr, &sdkRE) || ourRE != nil && (ourRE.HTTPStatusCode() != sdkRE.HTTPStatusCode() || ourRE.ServiceRequestID() != sdkRE.ServiceRequestID()) {
				t.Errorf("response error %v, the SDK's %v", ourRE, sdkRE)
			}
			for i := range min(len(sdkScript.bodies), len(ourScript.bodies)) {
				if !jsonEqual(t, sdkScript.bodies[i], ourScript.bodies[i]) {
					t.Errorf("request %d\n %s\nthe SDK's\n %s", i+1, ourScript.bodies[i], sdkScript.bodies[i])
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestNewRefuses: a client is built only from the options of a built SDK
// client with a region; the endpoint the SDK resolves is the one it sends to.
func TestNewRefuses(t *testing.T) {
	built := sdkOptions(&script{})
	noRegion := built
	noRegion.Region = ""
	unbuilt := dynamodb.Options{Region: "eu-west-1"}
	for _, tc := range []struct {
		name string
		o    dynamodb.Options
		want string
	}{
		{"fail/no-region", noRegion, "no region"},
		{"fail/not-built", unbuilt, "not those of a built SDK client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := FromSDK(nil); err == nil {
		t.Error("FromSDK(nil): no error")
	}
	for _, tc := range []struct{ endpoint, want string }{
		{"", "https://dynamodb.eu-west-1.amazonaws.com/"},
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000/"},
	} {
		o := dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String(tc.endpoint)}).Options()
		if tc.endpoint == "" {
			o = dynamodb.New(dynamodb.Options{Region: "eu-west-1"}).Options()
		}
		c, err := New(o)
		if err != nil || c.url != tc.want {
			t.Errorf("endpoint %q: %v, %v; want %s", tc.endpoint, c, err, tc.want)
		}
	}
	// Account-ID-based endpoints are never used, whatever the options say.
	o := dynamodb.New(dynamodb.Options{Region: "eu-west-1", AccountIDEndpointMode: aws.AccountIDEndpointModeRequired,
		Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S", AccountID: "123456789012"}}}).Options()
	if c, err := New(o); err != nil || c.url != "https://dynamodb.eu-west-1.amazonaws.com/" {
		t.Errorf("account-ID mode required: %v, %v", c, err)
	}
}

// TestClockSkewAsTheSDK: over the same answers, some with a server clock 10
// minutes ahead and some without a Date, each request is signed with the
// same skew as the SDK's client signs it, across the attempts of a call and
// from one call to the next.
func TestClockSkewAsTheSDK(t *testing.T) {
	ahead := map[string]string{"Date": time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)}
	skewed := answer{status: 400, header: ahead, body: `{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired"}`}
	ise := answer{status: 500, header: ahead, body: `{"__type":"InternalServerError"}`}
	reset := answer{err: errors.New("connection reset by peer")}
	okAhead := answer{status: 200, header: ahead, body: `{}`}
	ok := answer{status: 200, body: `{}`}
	in := &dynamodb.GetItemInput{TableName: aws.String("agents"),
		Key: map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: "ag_1"}}}
	for _, tc := range []struct {
		name    string
		answers []answer // over two calls
	}{
		{"ok/skew-then-answer", []answer{skewed, okAhead, ok}},
		{"ok/skew-then-no-date", []answer{ise, reset, ok, ok}},
		{"ok/skew-last-without-date", []answer{ise, ok, ok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offsets := func(s *script) []time.Duration {
				var out []time.Duration
				for _, r := range s.reqs {
					d, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, time.Until(d).Round(time.Minute))
				}
				return out
			}
			sdkScript, ourScript := &script{answers: tc.answers}, &script{answers: tc.answers}
			sdk := dynamodb.New(sdkOptions(sdkScript))
			c, _ := newTestClient(t, ourScript)
			for range 2 {
				_, sdkErr := sdk.GetItem(t.Context(), in)
				_, ourErr := c.GetItem(t.Context(), in)
				if (sdkErr == nil) != (ourErr == nil) {
					t.Fatalf("error %v, the SDK's %v", ourErr, sdkErr)
				}
			}
			if got, want := offsets(ourScript), offsets(sdkScript); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("signed at offsets %v, the SDK at %v", got, want)
			}
		})
	}
}
