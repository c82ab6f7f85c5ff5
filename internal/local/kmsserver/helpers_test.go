package kmsserver_test

import (
	"context"
	"errors"
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
		HTTPClient:   hs.Client(),
		Retryer:      aws.NopRetryer{},
	})
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
