package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/local/kmsserver"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// deployedEnv is a deployed hub's function environment over fresh tables of
// the emulator: what CloudFormation has created before the bootstrap.
func deployedEnv(t *testing.T) (func(string) string, *dynamo.CA) {
	t.Helper()
	ddb := emutest.DynamoForTest(t)
	tables := dynamo.TablesWithPrefix(emutest.UniquePrefix(t))
	if err := dynamo.CreateTables(t.Context(), ddb, tables); err != nil {
		t.Fatal(err)
	}
	store, err := dynamo.NewCA(emutest.Data(t, ddb), tables)
	if err != nil {
		t.Fatal(err)
	}
	// The log key in a local KMS; a witness that is never called (a hub
	// with no agents has nothing to log).
	srv, err := kmsserver.Open("")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	k := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: app.StaticCredentials()})
	logKey, err := k.CreateKey(t.Context(), &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistEdwards25519, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	wit, err := torchwood.NewCosignatureSigner("witness.example", tlogtest.NewKey(7).Priv)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": emutest.DynamoEndpointForTest(t), "AWS_ENDPOINT_URL_KMS": hs.URL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
		t.Setenv(k, v)
	}
	env := map[string]string{
		app.EnvTableCredentials: tables.Credentials, app.EnvTableTenants: tables.Tenants, app.EnvTableAgents: tables.Agents,
		app.EnvTableBatches: tables.Batches, app.EnvTableBatchIndex: tables.BatchIndex, app.EnvTableAnomalies: tables.Anomalies,
		app.EnvTableAudit: tables.Audit, app.EnvCAKeyID: "arn:aws:kms:us-east-1:123456789012:key/not-used-before-issuing",
		app.EnvTablePacks: tables.Packs, app.EnvTableSigningKeys: tables.SigningKeys, app.EnvPackBucket: "packs",
		app.EnvSigningMode: "kms", app.EnvLambdaFunction: "stack-pack",
		app.EnvTableLog: tables.Log, app.EnvLogBucket: "log", app.EnvLogOrigin: "hub.example.com/monsys",
		app.EnvLogKeyID: aws.ToString(logKey.KeyMetadata.Arn), app.EnvWitnesses: wit.Verifier().String() + " http://127.0.0.1:9",
	}
	return func(k string) string { return env[k] }, store
}

// bootstrap stores a hub CA certificate, as monsys-admin bootstrap does.
func bootstrap(t *testing.T, store *dynamo.CA) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, "test CA", time.Now(), time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutCACert(t.Context(), string(ca.EncodeCertPEM(root)), "arn:aws:kms:us-east-1:123456789012:key/x"); err != nil {
		t.Fatal(err)
	}
}

func errorCode(t *testing.T, body string) (string, string) {
	t.Helper()
	var e struct {
		Error     struct{ Code, Message string } `json:"error"`
		RequestID string                         `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.RequestID == "" {
		t.Fatalf("body %q is not the SPEC 4 error envelope: %v", body, err)
	}
	return e.Error.Code, e.Error.Message
}

// Functions started before `monsys-admin bootstrap` start, answer 503 with a
// clear "not bootstrapped yet" message and log it; once the bootstrap has
// run they serve, without a new cold start.
func TestNotBootstrappedYet(t *testing.T) {
	ctx := context.Background()
	out := &logtest.Buffer{}
	defer app.SetOutput(out)()
	getenv, store := deployedEnv(t)

	handler, err := app.Handler(ctx, getenv, api.Admin)
	if err != nil {
		t.Fatalf("the admin function does not start before the bootstrap: %v", err)
	}
	pack, err := app.PackFunctionFromEnv(ctx, getenv)
	if err != nil {
		t.Fatalf("the pack function does not start before the bootstrap: %v", err)
	}
	servePack := func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		raw, _ := json.Marshal(ev)
		v, err := pack.Handle(ctx, raw)
		if err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		return v.(events.APIGatewayProxyResponse), nil
	}
	integrity, err := app.Integrity(ctx, getenv)
	if err != nil {
		t.Fatalf("the integrity function does not start before the bootstrap: %v", err)
	}
	routes := map[string]struct {
		fn   app.APIFunc
		path string
	}{"admin": {handler, "/api/v1/anomalies"}, "pack": {servePack, "/api/v1/evidence-packs/pk_x"}}

	for name, r := range routes {
		t.Run("ok/"+name+"-before", func(t *testing.T) {
			resp, err := r.fn(ctx, events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: r.path, Headers: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			code, msg := errorCode(t, resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || code != "unavailable" || !strings.Contains(msg, "not bootstrapped") ||
				resp.Headers["Retry-After"] == "" {
				t.Fatalf("%d %s %q (Retry-After %q), want 503 unavailable saying the hub is not bootstrapped", resp.StatusCode, code, msg, resp.Headers["Retry-After"])
			}
		})
	}
	t.Run("ok/integrity-before", func(t *testing.T) {
		before := out.String()
		sum, err := integrity(ctx, nil)
		if err != nil {
			t.Fatalf("the integrity run fails before the bootstrap (an error alarm every 10 minutes): %v", err)
		}
		if sum != (hub.Summary{}) {
			t.Errorf("summary %+v, want nothing checked", sum)
		}
		if strings.Contains(strings.TrimPrefix(out.String(), before), "IntegrityErrors") {
			t.Error("the run emitted IntegrityErrors")
		}
	})
	if n := strings.Count(out.String(), `"state":"not_bootstrapped"`); n < 4 {
		t.Errorf("%d log lines say not_bootstrapped, want one at each start and each refused use:\n%s", n, out.String())
	}

	bootstrap(t, store)
	for name, r := range routes {
		t.Run("ok/"+name+"-after", func(t *testing.T) {
			resp, err := r.fn(ctx, events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: r.path, Headers: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := errorCode(t, resp.Body); resp.StatusCode != http.StatusUnauthorized || code != "unauthorized" {
				t.Fatalf("%d %s, want 401 unauthorized (served, no credential)", resp.StatusCode, code)
			}
		})
	}
	t.Run("ok/integrity-after", func(t *testing.T) {
		if _, err := integrity(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "IntegrityChecked") {
			t.Error("no integrity cycle ran after the bootstrap")
		}
	})
}

type failingBuilder struct{}

func (failingBuilder) BuildPack(context.Context, string, string) error {
	return errors.New("disk full")
}

// A failed pack build is logged and counted as PackBuildFailures (which
// template.yaml alarms on), and not returned to Lambda (no retry).
func TestPackBuildFailureCounted(t *testing.T) {
	var out bytes.Buffer
	f := &app.PackFunction{Packs: failingBuilder{}, Metrics: app.NewEMFMetrics(&out), Log: app.Logger(&out)}
	v, err := f.Handle(context.Background(), json.RawMessage(`{"monsys_pack_build":{"tenant_id":"acme","pack_id":"pk_1"}}`))
	if err != nil {
		t.Fatalf("a failed build returned %v to Lambda", err)
	}
	if m, _ := v.(map[string]string); m["status"] != "failed" {
		t.Errorf("answer %v, want status failed", v)
	}
	if !strings.Contains(out.String(), `"PackBuildFailures"`) || !strings.Contains(out.String(), "disk full") {
		t.Fatalf("no PackBuildFailures metric and log line:\n%s", out.String())
	}
}
