// Package emutest gives a test binary the shared emulators of internal/local/emu:
// one dynalite and one MinIO per binary, started from TestMain, with unique
// table prefixes and bucket names per test. It is the only part of the
// harness that imports "testing", so binaries that start emulators (the local
// hub, the demo) do not link it.
package emutest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/local/emu"
)

// Environment variables read by RunTests.
const (
	// EnvTestDynamoEndpoint names a running DynamoDB-compatible endpoint
	// to use instead of starting dynalite, e.g. http://127.0.0.1:4566.
	EnvTestDynamoEndpoint = "MONSYS_TEST_DYNAMODB_ENDPOINT"
	// EnvTestS3Endpoint names a running S3-compatible endpoint to use
	// instead of starting MinIO; EnvTestS3User and EnvTestS3Password are
	// its credentials (default: emu.MinIOOptions' defaults).
	EnvTestS3Endpoint = "MONSYS_TEST_S3_ENDPOINT"
	EnvTestS3User     = "MONSYS_TEST_S3_USER"
	EnvTestS3Password = "MONSYS_TEST_S3_PASSWORD"
	// EnvSkipMinIO=1 makes S3ForTest skip its test instead of building and
	// starting MinIO.
	EnvSkipMinIO = "MONSYS_SKIP_MINIO"
	// EnvTestEmuLog=1 copies the emulators' output to stderr.
	EnvTestEmuLog = "MONSYS_TEST_EMU_LOG"
)

// Need selects the emulators RunTests starts for a test binary.
type Need uint8

// The emulators a test binary can need.
const (
	NeedDynamo Need = 1 << iota // dynalite, or EnvTestDynamoEndpoint
	NeedS3                      // MinIO, or EnvTestS3Endpoint
)

// sharedStartTimeout covers a first-time MinIO build on a slow machine.
const sharedStartTimeout = 15 * time.Minute

var errSkipMinIO = errors.New(EnvSkipMinIO + "=1: MinIO-backed test skipped")

// shared is set by RunTests before m.Run and only read afterwards.
var shared struct {
	ran                bool
	need               Need
	dynamo             string
	dynamoErr          error
	dynamoEmu          emu.Emulator // nil: an endpoint of EnvTestDynamoEndpoint
	s3, s3User, s3Pass string
	s3Err              error
	s3Emu              emu.Emulator // nil: an endpoint of EnvTestS3Endpoint
}

// watched is an emulator RunTests started, for the report of its exit.
type watched struct {
	name string // "dynalite", "minio"
	emu  emu.Emulator
}

// RunTests starts the emulators in need once for the whole test binary,
// runs the tests and stops the emulators. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emu.NeedDynamo|emu.NeedS3)) }
//
// Tests then call DynamoForTest, S3ForTest and UniquePrefix. An emulator that
// fails to start fails the tests that ask for it, with the reason. An
// emulator that exits during the tests (a crash, a signal) is reported on
// stderr the moment it does, with its exit status, the time and the end of
// its output; the tests that use it afterwards fail with that cause, and so
// does the run.
func RunTests(m *testing.M, need Need) int {
	ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
	defer cancel()
	var log io.Writer
	if os.Getenv(EnvTestEmuLog) == "1" {
		log = os.Stderr
	}
	shared.ran, shared.need = true, need

	if need&NeedDynamo != 0 {
		if ep := os.Getenv(EnvTestDynamoEndpoint); ep != "" {
			shared.dynamo = ep
		} else if d, err := emu.StartDynalite(ctx, emu.DynaliteOptions{Log: log}); err != nil {
			shared.dynamoErr = err
		} else {
			defer d.Stop()
			shared.dynamo, shared.dynamoEmu = d.Endpoint(), d
		}
	}
	if need&NeedS3 != 0 {
		switch {
		case os.Getenv(EnvTestS3Endpoint) != "":
			shared.s3 = os.Getenv(EnvTestS3Endpoint)
			shared.s3User = envOr(EnvTestS3User, emu.DefaultMinIOUser)
			shared.s3Pass = envOr(EnvTestS3Password, emu.DefaultMinIOPassword)
		case os.Getenv(EnvSkipMinIO) == "1":
			shared.s3Err = errSkipMinIO
		default:
			if mi, err := emu.StartMinIO(ctx, emu.MinIOOptions{Log: log}); err != nil {
				shared.s3Err = err
			} else {
				defer mi.Stop()
				shared.s3, shared.s3Emu = mi.Endpoint(), mi
				shared.s3User, shared.s3Pass = mi.Credentials()
			}
		}
	}
	cancel() // the emulators outlive the start context by design

	var started []watched
	if shared.dynamoEmu != nil {
		started = append(started, watched{"dynalite", shared.dynamoEmu})
	}
	if shared.s3Emu != nil {
		started = append(started, watched{"minio", shared.s3Emu})
	}
	testsDone := make(chan struct{})
	var reporters sync.WaitGroup
	for _, w := range started {
		reporters.Go(func() { reportExit(os.Stderr, w.emu, testsDone) })
	}
	code := m.Run()
	close(testsDone)
	reporters.Wait()
	for _, w := range started {
		if err := w.emu.Err(); err != nil {
			fmt.Fprintf(os.Stderr, "emutest: FAIL: the shared %s stopped during the tests: %v\n", w.name, err)
			code = 1
		}
	}
	return code
}

// reportExit writes e's *ExitError to w the moment e's process exits unasked
// before done is closed (or by then, when the two come together): the time a
// test binary's emulator died shows among the tests' output, next to the
// first test it broke.
func reportExit(w io.Writer, e emu.Emulator, done <-chan struct{}) {
	select {
	case <-e.Exited():
	case <-done:
		select {
		case <-e.Exited():
		default:
			return
		}
	}
	if err := e.Err(); err != nil {
		fmt.Fprintf(w, "emutest: %v\n", err)
	}
}

// SharedDynalite is RunTests(m, NeedDynamo), for packages that only need
// DynamoDB:
//
//	func TestMain(m *testing.M) { os.Exit(emutest.SharedDynalite(m)) }
func SharedDynalite(m *testing.M) int { return RunTests(m, NeedDynamo) }

// DynamoEndpointForTest returns the test binary's DynamoDB endpoint, or fails
// t if RunTests did not start one.
func DynamoEndpointForTest(t testing.TB) string {
	t.Helper()
	switch {
	case !shared.ran || shared.need&NeedDynamo == 0:
		t.Fatal("emutest: no shared DynamoDB: call emutest.RunTests(m, emu.NeedDynamo) or emutest.SharedDynalite(m) from TestMain")
	case shared.dynamoErr != nil:
		t.Fatalf("emutest: shared DynamoDB did not start: %v", shared.dynamoErr)
	}
	gone(t, shared.dynamoEmu)
	return shared.dynamo
}

// gone fails t if e (nil: an endpoint the harness did not start) exited.
func gone(t testing.TB, e emu.Emulator) {
	t.Helper()
	if e == nil {
		return
	}
	if err := e.Err(); err != nil {
		t.Fatalf("emutest: the shared emulator is gone: %v", err)
	}
}

// clientOptions make a shared emulator's clients fail with its exit.
func clientOptions(e emu.Emulator) []emu.ClientOption {
	if e == nil {
		return nil
	}
	return []emu.ClientOption{emu.WithExitCause(e)}
}

// DynamoForTest returns a client of the test binary's DynamoDB endpoint.
// Tables are shared by all tests of the binary: name them with UniquePrefix.
func DynamoForTest(t testing.TB) *dynamodb.Client {
	t.Helper()
	c, err := emu.DynamoClient(t.Context(), DynamoEndpointForTest(t), clientOptions(shared.dynamoEmu)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Data is the hub's data-plane client (internal/aws/ddb) over the SDK
// client c's settings: what the stores take.
func Data(t testing.TB, c *dynamodb.Client) *ddb.Client {
	t.Helper()
	d, err := ddb.FromSDK(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// S3EndpointForTest returns the test binary's S3 endpoint and credentials.
// It skips t when EnvSkipMinIO=1 and fails it if RunTests did not start one.
func S3EndpointForTest(t testing.TB) (endpoint, user, pass string) {
	t.Helper()
	switch {
	case !shared.ran || shared.need&NeedS3 == 0:
		t.Fatal("emutest: no shared S3: call emutest.RunTests(m, emu.NeedS3) from TestMain")
	case errors.Is(shared.s3Err, errSkipMinIO):
		t.Skip(shared.s3Err)
	case shared.s3Err != nil:
		t.Fatalf("emutest: shared MinIO did not start (set %s=1 to skip MinIO-backed tests): %v", EnvSkipMinIO, shared.s3Err)
	}
	gone(t, shared.s3Emu)
	return shared.s3, shared.s3User, shared.s3Pass
}

// S3ForTest returns a client of the test binary's S3 endpoint. Buckets are
// shared by all tests of the binary: name them with UniqueBucket.
func S3ForTest(t testing.TB) *s3.Client {
	t.Helper()
	ep, user, pass := S3EndpointForTest(t)
	c, err := emu.S3Client(t.Context(), ep, user, pass, clientOptions(shared.s3Emu)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// UniquePrefix returns a new DynamoDB table-name prefix for t, such as
// "TestPin_ok_rotate_1f2e3d4c_": the test name (shortened) and random bits,
// so tests and test binaries sharing one endpoint never see each other's
// tables. Each call returns a different prefix.
func UniquePrefix(t testing.TB) string {
	t.Helper()
	return sanitizeName(t.Name(), 48, '_', false) + "_" + randomHex() + "_"
}

// UniqueBucket returns a new S3 bucket name for t, such as
// "testpack-ok-upload-1f2e3d4c": lowercase, at most 63 characters.
func UniqueBucket(t testing.TB) string {
	t.Helper()
	return sanitizeName(t.Name(), 40, '-', true) + "-" + randomHex()
}

// sanitizeName keeps letters and digits of name, turns runs of anything else
// into one sep and cuts the result to max bytes.
func sanitizeName(name string, max int, sep rune, lower bool) string {
	if lower {
		name = strings.ToLower(name)
	}
	var b strings.Builder
	pendingSep := false
	for _, r := range name {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || !lower && r >= 'A' && r <= 'Z'
		if !ok {
			pendingSep = b.Len() > 0
			continue
		}
		if pendingSep {
			b.WriteRune(sep)
			pendingSep = false
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) > max {
		s = strings.TrimRight(s[:max], string(sep))
	}
	if s == "" {
		s = "t"
	}
	return s
}

// randomHex returns 8 random hex digits. crypto/rand.Read does not fail: it
// crashes the program if the OS cannot supply randomness.
func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
