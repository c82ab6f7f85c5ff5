package emu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Region is the region the emulator clients sign for.
const Region = "us-east-1"

// ErrBadEndpoint is returned for an endpoint that is not an absolute http(s) URL.
var ErrBadEndpoint = errors.New("emu: bad endpoint")

// Client settings for emulators on loopback: fail fast when one is down (as
// fault tests arrange) instead of backing off for the better part of a minute.
const (
	clientAttempts      = 3
	clientMaxBackoff    = time.Second
	clientDialTimeout   = 2 * time.Second
	clientHeaderTimeout = 15 * time.Second // from request sent to response headers; bodies may stream longer
	emulatorAccessKey   = "local"
	emulatorSecretKey   = "local-secret"
)

// exitNoticeGrace is how long a failed request waits for the harness to see
// its emulator exit: a refused connection comes before the process is reaped.
const exitNoticeGrace = 2 * time.Second

// ClientOption adjusts a client built by DynamoClient or S3Client.
type ClientOption func(*clientOptions)

type clientOptions struct {
	exitCause Emulator
}

// WithExitCause makes the client's requests fail with e's *ExitError once
// e's process has exited unasked: the caller learns that the emulator died,
// how and when, with the end of its output, instead of a bare
// "connection refused".
func WithExitCause(e Emulator) ClientOption {
	return func(o *clientOptions) { o.exitCause = e }
}

// DynamoClient returns a DynamoDB client for an emulator endpoint, with
// static dummy credentials, region us-east-1, at most 3 attempts per call and
// short network timeouts. It reads no shared AWS config or environment. ctx
// is unused: building the client does no I/O.
func DynamoClient(_ context.Context, endpoint string, opts ...ClientOption) (*dynamodb.Client, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("emu: dynamodb client: %w", err)
	}
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(emulatorAccessKey, emulatorSecretKey, ""),
		Retryer:      emulatorRetryer(),
		HTTPClient:   emulatorHTTPClient(opts),
	}), nil
}

// S3Client returns a path-style S3 client for an emulator endpoint (MinIO)
// with the given root credentials and the same retry and timeout settings as
// DynamoClient. ctx is unused: building the client does no I/O.
func S3Client(_ context.Context, endpoint, user, pass string, opts ...ClientOption) (*s3.Client, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("emu: s3 client: %w", err)
	}
	if user == "" || pass == "" {
		return nil, fmt.Errorf("emu: s3 client for %q: empty user or password", endpoint)
	}
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(user, pass, ""),
		Retryer:      emulatorRetryer(),
		HTTPClient:   emulatorHTTPClient(opts),
	}), nil
}

func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadEndpoint, endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w %q: want http(s)://host:port", ErrBadEndpoint, endpoint)
	}
	return nil
}

// emulatorRetryer retries without a retry quota: a fault test that kills an
// emulator must not drain the token bucket and break the calls that follow.
func emulatorRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = clientAttempts
		o.MaxBackoff = clientMaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

func emulatorHTTPClient(opts []ClientOption) aws.HTTPClient {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	var c aws.HTTPClient = awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = clientDialTimeout }).
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = clientHeaderTimeout })
	if o.exitCause != nil {
		c = exitCauseClient{next: c, emu: o.exitCause}
	}
	return c
}

// exitCauseClient fails the requests to an emulator that exited with the
// emulator's *ExitError.
type exitCauseClient struct {
	next aws.HTTPClient
	emu  Emulator
}

func (c exitCauseClient) Do(req *http.Request) (*http.Response, error) {
	if cause := c.emu.Err(); cause != nil {
		return nil, fmt.Errorf("emu: %s %s: %w", req.Method, req.URL, cause)
	}
	resp, err := c.next.Do(req)
	if err == nil || req.Context().Err() != nil {
		return resp, err
	}
	timer := time.NewTimer(exitNoticeGrace)
	defer timer.Stop()
	select {
	case <-c.emu.Exited():
	case <-timer.C:
	case <-req.Context().Done():
	}
	if cause := c.emu.Err(); cause != nil {
		return nil, fmt.Errorf("%w (the emulator is gone: %w)", err, cause)
	}
	return resp, err
}

// The MinIO root credentials the harness uses when none are given.
const (
	DefaultMinIOUser     = "monsys"
	DefaultMinIOPassword = "monsys-minio-secret"
)
