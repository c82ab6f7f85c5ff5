package rie

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/local/kmsserver"
	"github.com/monsys/hub/internal/samtemplate"
	"github.com/monsys/hub/internal/tlog"
)

// apiTestdata holds the API Gateway events and the test PKI whose CA issued
// the events' client certificates.
var apiTestdata = filepath.Join("..", "api", "testdata")

// caKeyID is the local KMS key id of the test CA's key.
const caKeyID = "0e3c5a7b-2d4f-4a61-9b8c-7d6e5f4a3b21"

// world is what both runs share: the emulators, the local KMS holding the
// test CA's key, and a stand-in for Lambda's Invoke API that records the
// pack function's calls to itself.
type world struct {
	tpl       *samtemplate.Template
	fns       []function
	dynamo    string
	s3        string
	s3User    string
	s3Pass    string
	kmsURL    string
	kms       *kms.Client
	lambdaURL string
	invokes   *recorder

	mu   sync.Mutex
	keys map[string][2]string // KMS keys made for key resources: logical id → id, ARN
	wit  *emu.Litewitness     // the stacks' witness (litewitness)
}

func newWorld(t *testing.T, tpl *samtemplate.Template) *world {
	t.Helper()
	fns, err := functions(tpl)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{tpl: tpl, fns: fns, keys: map[string][2]string{}, invokes: &recorder{}}
	w.dynamo = emutest.DynamoEndpointForTest(t)
	w.s3, w.s3User, w.s3Pass = emutest.S3EndpointForTest(t)

	dir := t.TempDir()
	writeCAKey(t, dir)
	srv, err := kmsserver.Open(dir, kmsserver.WithRegion(stackRegion), kmsserver.WithAccount(stackAccount))
	if err != nil {
		t.Fatal(err)
	}
	kmsSrv := httptest.NewServer(srv)
	t.Cleanup(kmsSrv.Close)
	w.kmsURL = kmsSrv.URL
	w.kms = kms.New(kms.Options{Region: stackRegion, BaseEndpoint: aws.String(w.kmsURL), Credentials: app.StaticCredentials()})

	lam := httptest.NewServer(w.invokes)
	t.Cleanup(lam.Close)
	w.lambdaURL = lam.URL
	t.Cleanup(func() {
		if w.wit != nil {
			if err := w.wit.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	return w
}

// writeCAKey puts the test CA's private key into a local KMS key file
// (docs/local-kms.md, "On-disk format"), so that the hub signs with the key
// that issued the event files' certificates.
func writeCAKey(t *testing.T, dir string) {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, filepath.Join(apiTestdata, "pki", "ca-TEST-ONLY.key")))
	if blk == nil {
		t.Fatal("no PEM block in the test CA key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("the test CA key is a %T", k)
	}
	scalar, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	file, err := json.Marshal(map[string]any{
		"format": "monsys-localkms/v1",
		"keys": []map[string]any{{
			"key_id": caKeyID, "key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY",
			"description": "monsys test CA", "creation_date": "2026-01-01T00:00:00Z", "key_state": "Enabled",
			"material": scalar,
		}},
		"aliases": []any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// key gives the KMS key of a key resource: the test CA's key for the one
// MONSYS_CA_KEY_ID names, a new key of the resource's spec for any other.
func (w *world) key(logicalID string, props map[string]any) (string, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if k, ok := w.keys[logicalID]; ok {
		return k[0], k[1], nil
	}
	var id, arn string
	if logicalID == w.caKeyResource() {
		id, arn = caKeyID, "arn:aws:kms:"+stackRegion+":"+stackAccount+":key/"+caKeyID
	} else {
		spec, _ := props["KeySpec"].(string)
		usage, _ := props["KeyUsage"].(string)
		if spec == "" {
			spec = string(kmstypes.KeySpecSymmetricDefault)
		}
		if usage == "" {
			usage = string(kmstypes.KeyUsageTypeEncryptDecrypt)
		}
		out, err := w.kms.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: kmstypes.KeySpec(spec),
			KeyUsage: kmstypes.KeyUsageType(usage), Description: aws.String(logicalID)})
		if err != nil {
			return "", "", fmt.Errorf("create KMS key for %s: %w", logicalID, err)
		}
		id, arn = aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
	}
	w.keys[logicalID] = [2]string{id, arn}
	return id, arn, nil
}

// caKeyResource is the logical id of the key MONSYS_CA_KEY_ID names.
func (w *world) caKeyResource() string {
	for _, f := range w.fns {
		if v, ok := f.def.Env[app.EnvCAKeyID]; ok {
			id, _, _ := strings.Cut(samtemplate.Token(v), ".")
			return id
		}
	}
	return ""
}

// state is one copy of the hub's state: one stack's tables and bucket,
// seeded alike, and each function's environment in that stack.
type state struct {
	name   string
	env    map[string]map[string]string // by function logical id
	tables dynamo.Tables
	bucket string
	stores hub.Stores
	ca     *dynamo.CA
	tmp    string            // TMPDIR of the functions
	merged map[string]string // the variables of all functions together
}

// newState resolves the template for a stack named stackName and creates
// what its functions' variables name, as a first deploy does: the tables
// (dynamo.Schema) and the packs bucket with Object Lock. The hub is not
// bootstrapped yet (w.bootstrap).
func (w *world) newState(t *testing.T, name, stackName, tablePrefix string) *state {
	t.Helper()
	ctx := t.Context()
	wit := w.litewitness(t)
	// HotDays at its longest: request-pack.json asks for March 2026 on the
	// real clock, which a 45-day hot window refuses once it is long past.
	s, err := newStack(w.tpl, stackName, map[string]string{"TablePrefix": tablePrefix, "Witnesses": wit.VKey() + " " + wit.URL(),
		"HotDays": strconv.Itoa(app.MaxHotDays)}, w.key)
	if err != nil {
		t.Fatal(err)
	}
	st := &state{name: name, env: map[string]map[string]string{}, tmp: t.TempDir()}
	merged := map[string]string{}
	for _, f := range w.fns {
		env, err := lambdaEnv(s, f)
		if err != nil {
			t.Fatal(err)
		}
		st.env[f.id] = env
		for k, v := range env {
			if strings.HasPrefix(k, "AWS_LAMBDA_") || k == "AWS_EXECUTION_ENV" {
				continue
			}
			if prev, ok := merged[k]; ok && prev != v {
				t.Fatalf("%s is %q for one function and %q for %s", k, prev, v, f.id)
			}
			merged[k] = v
		}
	}
	settings, err := app.FromEnv(mapEnv(merged))
	if err != nil {
		t.Fatalf("the template's variables: %v", err)
	}
	packs, err := app.PacksFromEnv(mapEnv(merged), &settings)
	if err != nil {
		t.Fatalf("the template's variables: %v", err)
	}
	logs, err := app.LogFromEnv(mapEnv(merged))
	if err != nil {
		t.Fatalf("the template's variables: %v", err)
	}
	settings.Tables.Log = logs.Table
	st.tables, st.bucket, st.merged = settings.Tables, packs.Bucket, merged

	db, err := emu.DynamoClient(ctx, w.dynamo)
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTables(ctx, db, st.tables); err != nil {
		t.Fatal(err)
	}
	data := emutest.Data(t, db)
	if st.stores, err = dynamo.New(data, st.tables); err != nil {
		t.Fatal(err)
	}
	if st.ca, err = dynamo.NewCA(data, st.tables); err != nil {
		t.Fatal(err)
	}
	s3c, err := emu.S3Client(ctx, w.s3, w.s3User, w.s3Pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("create bucket %s: %v", st.bucket, err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(logs.Bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("create bucket %s: %v", logs.Bucket, err)
	}
	// The witness learns the stack's log, as its operator would be told.
	signer, err := kmssign.New(ctx, w.kms, logs.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.VerifierKey(logs.Origin, signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := wit.AddLog(ctx, logs.Origin, vkey); err != nil {
		t.Fatal(err)
	}
	return st
}

// litewitness is the witness every stack's log is cosigned by (one per
// test run; each stack's log has its own origin).
func (w *world) litewitness(t *testing.T) *emu.Litewitness {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wit == nil {
		var o emu.LitewitnessOptions
		if os.Getenv(emutest.EnvTestEmuLog) == "1" {
			o.Log = os.Stderr
		}
		lw, err := emu.StartLitewitness(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		w.wit = lw
	}
	return w.wit
}

// bootstrap seeds st as monsys-admin bootstrap and the local hub do: the hub
// CA certificate (the test CA), and the tenant, admin key, agent and token
// the event files carry.
func (w *world) bootstrap(t *testing.T, st *state) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	settings, err := app.FromEnv(mapEnv(st.merged))
	must(err)
	_, err = st.ca.PutCACert(ctx, string(readFile(t, filepath.Join(apiTestdata, "pki", "ca.pem"))), settings.CAKeyID)
	must(err)
	id := eventIdentities(t)
	now := time.Now().UTC()
	must(st.stores.Tenants.PutTenant(ctx, hub.Tenant{TenantID: id.tenant, CreatedAt: now}))
	must(st.stores.Credentials.PutCredential(ctx, hub.Credential{Hash: cred.Hash(id.adminKey), Kind: cred.KindAdmin, TenantID: id.tenant, CreatedAt: now}))
	must(st.stores.Credentials.PutCredential(ctx, hub.Credential{Hash: cred.Hash(id.agentToken), Kind: cred.KindAgent, TenantID: id.tenant, AgentID: id.agentID, CreatedAt: now}))
	must(st.stores.Agents.CreateAgent(ctx, hub.Agent{TenantID: id.tenant, AgentID: id.agentID, TokenHash: cred.Hash(id.agentToken), Hostname: "web-01", CreatedAt: now}))
}

// identities are the tenant, agent and credentials the event files carry:
// the agent's token and id in register.json (its Authorization header and
// its client certificate's CN and O), the admin key in create-agent.json.
type identities struct{ tenant, agentID, agentToken, adminKey string }

func eventIdentities(t *testing.T) identities {
	t.Helper()
	read := func(name string) events.APIGatewayProxyRequest {
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(apiEvent(t, name), &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	bearer := func(ev events.APIGatewayProxyRequest) string {
		v, ok := strings.CutPrefix(ev.Headers["Authorization"], "Bearer ")
		if !ok || v == "" {
			t.Fatalf("%s %s has no bearer token", ev.HTTPMethod, ev.Path)
		}
		return v
	}
	reg := read("register.json")
	if reg.RequestContext.Identity.ClientCert == nil {
		t.Fatal("register.json has no client certificate")
	}
	cert, err := ca.ParseCertPEM(reg.RequestContext.Identity.ClientCert.ClientCertPem)
	if err != nil || len(cert.Subject.Organization) != 1 {
		t.Fatalf("register.json's client certificate: %v", err)
	}
	return identities{tenant: cert.Subject.Organization[0], agentID: cert.Subject.CommonName,
		agentToken: bearer(reg), adminKey: bearer(read("create-agent.json"))}
}

// awsEnv is what points the SDK at the emulators, for the functions'
// processes and for this one: endpoints, the MinIO credentials (the one
// emulator that checks signatures) and no shared config files.
func (w *world) awsEnv(tmp string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB":   w.dynamo,
		"AWS_ENDPOINT_URL_KMS":        w.kmsURL,
		"AWS_ENDPOINT_URL_S3":         w.s3,
		"AWS_ENDPOINT_URL_LAMBDA":     w.lambdaURL,
		"AWS_ENDPOINT_URL_STS":        w.s3, // MinIO answers STS AssumeRole with a session of known expiry
		"AWS_ACCESS_KEY_ID":           w.s3User,
		"AWS_SECRET_ACCESS_KEY":       w.s3Pass,
		"AWS_CONFIG_FILE":             filepath.Join(tmp, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(tmp, "no-aws-credentials"),
		"TMPDIR":                      tmp,
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// recorder stands in for Lambda's Invoke API: it records each call and
// answers as Lambda does to InvocationType Event (202, empty body).
type recorder struct {
	mu    sync.Mutex
	calls []invocation
}

type invocation struct {
	function, invocationType string
	payload                  []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), "/2015-03-31/functions/")
	name, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "invocations" || req.Method != http.MethodPost {
		http.Error(w, `{"Type":"User","message":"not the Invoke API"}`, http.StatusNotFound)
		return
	}
	fn, _ := url.PathUnescape(name)
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	r.calls = append(r.calls, invocation{function: fn, invocationType: req.Header.Get("X-Amz-Invocation-Type"), payload: body})
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// take returns the calls recorded since the last take.
func (r *recorder) take() []invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// invoker serves one invocation: event bytes in, response bytes out.
type invoker func(ctx context.Context, payload []byte) ([]byte, error)

// inProcess is, for each function directory, what its main.go builds,
// served the way lambda.Start serves a handler: the event decoded into the
// handler's argument with encoding/json, the result encoded, an error
// returned as Lambda's error document. A function added to functions/ must
// be added here.
var inProcess = map[string]func(ctx context.Context, getenv func(string) string) (invoker, error){
	"register": apiFunction(api.Register),
	"ingest":   apiFunction(api.Ingest),
	"rotate":   apiFunction(api.Rotate),
	"admin":    apiFunction(api.Admin),
	"logview": func(ctx context.Context, getenv func(string) string) (invoker, error) {
		h, err := app.LogViewHandler(ctx, getenv)
		if err != nil {
			return nil, err
		}
		return handlerOf(h), nil
	},
	"integrity": func(ctx context.Context, getenv func(string) string) (invoker, error) {
		run, err := app.Integrity(ctx, getenv)
		if err != nil {
			return nil, err
		}
		return handlerOf(run), nil
	},
	"pack": func(ctx context.Context, getenv func(string) string) (invoker, error) {
		f, err := app.PackFunctionFromEnv(ctx, getenv)
		if err != nil {
			return nil, err
		}
		return handlerOf(f.Handle), nil
	},
}

func apiFunction(g api.Group) func(context.Context, func(string) string) (invoker, error) {
	return func(ctx context.Context, getenv func(string) string) (invoker, error) {
		h, err := app.Handler(ctx, getenv, g)
		if err != nil {
			return nil, err
		}
		return handlerOf(h), nil
	}
}

func handlerOf[In, Out any](h func(context.Context, In) (Out, error)) invoker {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		var in In
		if err := json.Unmarshal(payload, &in); err != nil {
			return errorDocument(err)
		}
		out, err := h(ctx, in)
		if err != nil {
			return errorDocument(err)
		}
		return json.Marshal(out)
	}
}

// errorDocument is a handler error as the Lambda runtime reports it.
func errorDocument(err error) ([]byte, error) {
	typ := reflect.TypeOf(err)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": typ.Name()})
}

// buildBootstrap builds a function's bootstrap with deploy/Makefile's own
// target, for this machine's architecture instead of arm64, into dir, and
// checks the binary is what the Makefile promises: static, stripped, built
// with -trimpath and -tags lambda.norpc.
func buildBootstrap(ctx context.Context, root, logicalID, dir string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-f", "deploy/Makefile", "build-"+logicalID,
		"ARTIFACTS_DIR="+dir, "GO="+gobin, "LAMBDA_ENV=CGO_ENABLED=0 GOOS=linux GOARCH="+runtime.GOARCH)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make -f deploy/Makefile build-%s: %w\n%s", logicalID, err, out)
	}
	bin := filepath.Join(dir, "bootstrap")
	if err := checkBootstrap(bin); err != nil {
		return "", fmt.Errorf("build-%s: %w", logicalID, err)
	}
	return bin, nil
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func checkBootstrap(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	if want, ok := elfMachine[runtime.GOARCH]; !ok || f.Machine != want {
		return fmt.Errorf("%s is built for %v, not for this machine (%s)", bin, f.Machine, runtime.GOARCH)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: CGO_ENABLED=0 did not hold", bin)
		}
	}
	if f.Section(".symtab") != nil {
		return fmt.Errorf("%s has a symbol table: -ldflags=-s did not hold", bin)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return err
	}
	want := map[string]string{"-tags": "lambda.norpc", "-trimpath": "true", "CGO_ENABLED": "0"}
	for _, s := range info.Settings {
		if v, ok := want[s.Key]; ok {
			if s.Value != v {
				return fmt.Errorf("%s is built with %s=%s, want %s", bin, s.Key, s.Value, v)
			}
			delete(want, s.Key)
		}
	}
	if len(want) > 0 {
		return fmt.Errorf("%s is built without %v", bin, want)
	}
	return nil
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiEvent reads an API Gateway proxy event file as raw JSON, so that what
// the function gets is the file, byte for byte, unless a step edits it.
func apiEvent(t testing.TB, name string) []byte {
	t.Helper()
	b := readFile(t, filepath.Join(apiTestdata, "events", name))
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

var errNoRoute = errors.New("no function of the template serves this event")
