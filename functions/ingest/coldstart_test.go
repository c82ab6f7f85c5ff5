package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/lambdatest"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// maxBinarySize bounds the linux/arm64 bootstrap (bytes, decimal MB).
const maxBinarySize = 20_000_000

// binDir holds the bootstraps the tests build, one per platform.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ingest-coldstart-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := emutest.RunTests(m, emutest.NeedDynamo)
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds struct {
	mu   sync.Mutex
	bins map[string]string
}

// bootstrap builds this function for goos/goarch with deploy/Makefile's own
// target (the one sam build runs: -tags lambda.norpc, static, stripped), with
// only the platform changed, once per test binary, and returns the
// binary's path.
func bootstrap(tb testing.TB, goos, goarch string) string {
	tb.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	platform := goos + "-" + goarch
	if bin, ok := builds.bins[platform]; ok {
		return bin
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("build %s: %v", platform, err)
	}
	dir := filepath.Join(binDir, platform)
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("make", "--no-print-directory", "-f", "deploy/Makefile", "build-IngestFunction",
		"ARTIFACTS_DIR="+dir, "GO="+gobin, "LAMBDA_ENV=CGO_ENABLED=0 GOOS="+goos+" GOARCH="+goarch)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", platform, err, out)
	}
	if builds.bins == nil {
		builds.bins = map[string]string{}
	}
	builds.bins[platform] = bin
	return bin
}

func TestBinarySize(t *testing.T) {
	for _, p := range []struct{ goos, goarch string }{{"linux", "arm64"}, {runtime.GOOS, runtime.GOARCH}} {
		fi, err := os.Stat(bootstrap(t, p.goos, p.goarch))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s/%s bootstrap: %d bytes (%.2f MiB)", p.goos, p.goarch, fi.Size(), float64(fi.Size())/(1<<20))
		if p.goos == "linux" && p.goarch == "arm64" && fi.Size() >= maxBinarySize {
			t.Errorf("linux/arm64 bootstrap is %d bytes, want under %d", fi.Size(), maxBinarySize)
		}
	}
}

// TestBootstrapIsDeployed checks that the binary the cold-start benchmark
// measures is built as deploy/Makefile builds the deployed one.
func TestBootstrapIsDeployed(t *testing.T) {
	info, err := buildinfo.ReadFile(bootstrap(t, runtime.GOOS, runtime.GOARCH))
	if err != nil {
		t.Fatal(err)
	}
	// -ldflags is not recorded under -trimpath.
	want := map[string]string{"-tags": "lambda.norpc", "-trimpath": "true", "CGO_ENABLED": "0"}
	for _, s := range info.Settings {
		if v, ok := want[s.Key]; ok {
			if s.Value != v {
				t.Errorf("built with %s=%q, want %q", s.Key, s.Value, v)
			}
			delete(want, s.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("built without %v", want)
	}
}

// functionEnv prepares what the deployed function finds: tables on the
// shared dynalite and a bootstrapped hub CA. It returns the environment
// template.yaml would give it, pointed at dynalite.
func functionEnv(tb testing.TB) []string {
	tb.Helper()
	ctx := tb.Context()
	db := emutest.DynamoForTest(tb)
	tables := dynamo.TablesWithPrefix(emutest.UniquePrefix(tb))
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		tb.Fatal(err)
	}
	st, err := dynamo.NewCA(emutest.Data(tb, db), tables)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	root, err := ca.NewRoot(key, "monsys test CA", time.Now(), 24*time.Hour, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := st.PutCACert(ctx, string(ca.EncodeCertPEM(root)), "unused"); err != nil {
		tb.Fatal(err)
	}
	return []string{
		app.EnvTableCredentials + "=" + tables.Credentials,
		app.EnvTableTenants + "=" + tables.Tenants,
		app.EnvTableAgents + "=" + tables.Agents,
		app.EnvTableBatches + "=" + tables.Batches,
		app.EnvTableBatchIndex + "=" + tables.BatchIndex,
		app.EnvTableAnomalies + "=" + tables.Anomalies,
		app.EnvTableAudit + "=" + tables.Audit,
		app.EnvCAKeyID + "=unused",
		"AWS_ENDPOINT_URL_DYNAMODB=" + emutest.DynamoEndpointForTest(tb),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
	}
}

const requestID = "coldstart-request-1"

// badTokenEvent is POST /api/v1/ingest with a well-formed agent token that no
// agent has, so the first invocation makes one DynamoDB read and answers 401.
func badTokenEvent(tb testing.TB) []byte {
	tb.Helper()
	body := `[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1743501600000000000,"agent_version":"1.4.2"}]`
	ev := events.APIGatewayProxyRequest{
		Resource: "/api/v1/ingest", Path: "/api/v1/ingest", HTTPMethod: "POST",
		Headers: map[string]string{
			"Authorization":      "Bearer ms_" + strings.Repeat("A", 43),
			"Content-Type":       "application/json",
			"X-Monsys-Signature": strings.Repeat("A", 86) + "==",
		},
		Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: requestID, Stage: "prod", HTTPMethod: "POST", ResourcePath: "/api/v1/ingest",
			Identity: events.APIGatewayRequestIdentity{SourceIP: "192.0.2.10"},
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestColdStart(t *testing.T) {
	bin := bootstrap(t, runtime.GOOS, runtime.GOARCH)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := lambdatest.Measure(ctx, bin, functionEnv(t), badTokenEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ready after %v, first invocation answered after %v (%v for the invocation)", res.Ready, res.FirstInvoke, res.FirstInvoke-res.Ready)

	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(res.FirstResponse, &resp); err != nil {
		t.Fatalf("response is not a proxy response: %v: %s", err, res.FirstResponse)
	}
	if resp.StatusCode != 401 {
		t.Errorf("status %d, want 401; body %s", resp.StatusCode, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var envelope struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &envelope); err != nil {
		t.Fatalf("body is not the error envelope: %v: %s", err, resp.Body)
	}
	if envelope.Error.Code != "unauthorized" || envelope.Error.Message == "" || envelope.RequestID != requestID {
		t.Errorf("envelope %+v, want code unauthorized, a message and request_id %q", envelope, requestID)
	}
}

func BenchmarkColdStart(b *testing.B) {
	bin := bootstrap(b, runtime.GOOS, runtime.GOARCH)
	env, event := functionEnv(b), badTokenEvent(b)
	var ready, invoke time.Duration
	for b.Loop() {
		res, err := lambdatest.Measure(b.Context(), bin, env, event)
		if err != nil {
			b.Fatal(err)
		}
		ready += res.Ready
		invoke += res.FirstInvoke
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(ready), "ready-ms")
	b.ReportMetric(ms(invoke), "first-invoke-ms")
}
