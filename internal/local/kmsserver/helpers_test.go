package kmsserver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/local/kmsserver"
)

// t0 is the fixed start of the test clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// serve starts srv behind httptest and returns a real SDK client for it.
func serve(t *testing.T, srv *kmsserver.Server) *kms.Client {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(hs.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMS", "local-secret", ""),
		HTTPClient:   bufferedBodies{hs.Client()},
		Retryer:      aws.NopRetryer{},
	})
}

// bufferedBodies hands net/http a private copy of each request body.
//
// The SDK closes a request's body as soon as Do returns, which is when the
// response headers arrive. For a body larger than the transport's 4 KiB
// write buffer the server has read all of it and answered while net/http's
// write loop still makes its last read (the check that the body is no
// longer than Content-Length); that read then fails on the closed body, and
// the transport closes the connection under the response the SDK is still
// reading: "deserialization failed ... use of closed network connection"
// (aws/aws-sdk-go-v2#2737). The production clients retry it; these tests run
// without retries so that every answer of the server is seen exactly once.
type bufferedBodies struct{ c *http.Client }

func (b bufferedBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return b.c.Do(req)
}

// newClient opens an in-memory server with a test clock.
func newClient(t *testing.T, opts ...kmsserver.Option) (*kms.Client, *clocktest.Clock) {
	t.Helper()
	c := clocktest.At(t0)
	srv, err := kmsserver.Open("", append([]kmsserver.Option{kmsserver.WithClock(c.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return serve(t, srv), c
}

func createKey(t *testing.T, c *kms.Client, spec types.KeySpec) *types.KeyMetadata {
	t.Helper()
	in := &kms.CreateKeyInput{KeySpec: spec}
	if spec != types.KeySpecSymmetricDefault {
		in.KeyUsage = types.KeyUsageTypeSignVerify
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey %s: %v", spec, err)
	}
	return out.KeyMetadata
}

// errCheck asserts that err is the expected error.
type errCheck func(t *testing.T, err error)

// wantType expects an error that errors.As finds as T, one of the SDK's
// modeled KMS exceptions.
func wantType[T error]() errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		var target T
		if !errors.As(err, &target) {
			t.Fatalf("error = %v, want %T", err, target)
		}
	}
}

// wantCode expects an exception the SDK does not model (ValidationException,
// SerializationException, ...), which it surfaces as a GenericAPIError.
func wantCode(code string) errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		var ge *smithy.GenericAPIError
		if !errors.As(err, &ge) || ge.ErrorCode() != code {
			t.Fatalf("error = %v, want GenericAPIError %s", err, code)
		}
	}
}

// check runs want against err, or demands success when want is nil.
func check(t *testing.T, err error, want errCheck) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatal("succeeded, want an error")
	case want != nil:
		want(t, err)
	}
}
