package dynamo_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/benchcpu"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/samtemplate"
	"github.com/monsys/hub/internal/sig"
)

// The Lambda path benchmarks compare, in one go test -bench run, the CPU of
// the whole ingest function on the steady path of a warm function, from the
// API Gateway proxy event's bytes to the response's bytes, with the real
// dynamo store and the deployed DynamoDB client (internal/aws/ddb) behind an in-process transport
// (BenchmarkLambdaPath), with the least any hub must do with the same body
// (BenchmarkLambdaFloor: SHA-256, Ed25519 verify, a generic JSON decode).
// Both report cpu-ns/op, the process's CPU time (user + system, every
// thread: the garbage collector's work counts) per batch, which a shared
// machine disturbs far less than the wall clock; scripts/bench-ratio.sh
// prints the ratio of the medians.

// replay is an HTTP client that answers each DynamoDB call with the
// answer dynalite gave the same operation on the same table when the path
// was recorded: the agent item as it was before the recorded batch (whose
// seq every benchmark batch exceeds), and the empty answers of the writes.
type replay struct {
	mu     sync.Mutex
	rec    httpDoer // the emulator's client, while recording
	recURL *url.URL // the emulator's endpoint
	resp   map[string]recorded
	hosts  map[string]int      // the hosts the client sent to, and how often
	seen   func(*http.Request) // if set, called with each request (tests)
}

// recorded is one answer of the emulator: its headers (the request id,
// the CRC32 of the body, the date) and body.
type recorded struct {
	header http.Header
	body   []byte
}

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

func (r *replay) Do(req *http.Request) (*http.Response, error) {
	body := bytes.NewBuffer(make([]byte, 0, max(req.ContentLength, 0)+bytes.MinRead))
	if _, err := body.ReadFrom(req.Body); err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	k := req.Header.Get("X-Amz-Target") + " " + tableName(body.Bytes())
	r.mu.Lock()
	r.hosts[req.URL.Host]++
	if r.seen != nil {
		r.seen(req)
	}
	rec := r.rec
	r.mu.Unlock()
	if rec != nil {
		req.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
		req.URL.Scheme, req.URL.Host, req.Host = r.recURL.Scheme, r.recURL.Host, ""
		res, err := rec.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			return res, err
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, err
		}
		_ = res.Body.Close()
		r.mu.Lock()
		if _, ok := r.resp[k]; !ok { // the first answer: the agent before the batch
			r.resp[k] = recorded{header: res.Header.Clone(), body: b}
		}
		r.mu.Unlock()
		res.Body = io.NopCloser(bytes.NewReader(b))
		return res, nil
	}
	r.mu.Lock()
	ans, ok := r.resp[k]
	r.mu.Unlock()
	if !ok {
		return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
			Body: io.NopCloser(bytes.NewReader([]byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"not recorded: ` + k + `"}`))), Request: req}, nil
	}
	// A transport parses the headers of each answer into a new map.
	return &http.Response{StatusCode: http.StatusOK, Header: ans.header.Clone(),
		Body: io.NopCloser(bytes.NewReader(ans.body)), ContentLength: int64(len(ans.body)), Request: req}, nil
}

// tableName is the TableName member of a DynamoDB request, found without
// decoding the request: a real transport only sends the bytes, and the
// benchmark must not charge the path with a JSON decode the deployed
// function does not do. Table names hold no characters JSON escapes.
func tableName(req []byte) string {
	const member = `"TableName":"`
	_, rest, ok := bytes.Cut(req, []byte(member))
	if !ok {
		return ""
	}
	name, _, _ := bytes.Cut(rest, []byte(`"`))
	return string(name)
}

// lambdaPath is a warm ingest function over replayed DynamoDB answers and
// the agent that sends to it.
type lambdaPath struct {
	handler *api.Handler
	event   events.APIGatewayProxyRequest // the agent's ingest event; body and signature set per batch
	c       *commitCase
	rp      *replay
	client  *ddb.Client // the deployed client over rp
}

func newLambdaPath(tb testing.TB) *lambdaPath {
	db := emutest.DynamoForTest(tb)
	_, tables := newStore(tb, db)
	fx := &commitFx{db: emutest.Data(tb, db), tables: tables, auth: commitAuthority(tb)}
	c := fx.newCase(tb, batchKind{name: "signed-1-day", signed: true, days: 1})
	recURL, err := url.Parse(aws.ToString(db.Options().BaseEndpoint))
	if err != nil {
		tb.Fatal(err)
	}
	rp := &replay{rec: db.Options().HTTPClient, recURL: recURL, resp: map[string]recorded{}, hosts: map[string]int{}}
	// The deployed client, built as the function builds it (app.LoadClients
	// in a Lambda environment), with the replaying transport in place of
	// the network's; recording sends on to the emulator.
	client := lambdaClients(tb, config.WithHTTPClient(rp)).DynamoDB
	core := c.service(client)
	// The deployed request log line, formatted and written (to the null
	// device: the function writes it to its standard output).
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = devNull.Close() })
	h, err := api.New(core.Services(), app.Logger(devNull), api.Ingest)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile("../../api/testdata/events/ingest.json")
	if err != nil {
		tb.Fatal(err)
	}
	lp := &lambdaPath{handler: h, c: c, rp: rp, client: client}
	if err := json.Unmarshal(raw, &lp.event); err != nil {
		tb.Fatal(err)
	}
	lp.event.Headers["Authorization"] = "Bearer " + c.token
	lp.event.MultiValueHeaders = nil
	lp.event.RequestContext.Identity.ClientCert = &events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert{ClientCertPem: c.cert}
	// Record: the first batch through dynalite (cold: the credential is
	// read), then replay from the second on.
	if status, _ := lp.send(tb, lp.eventBytes(tb, lp.next())); status != http.StatusAccepted {
		tb.Fatalf("recording: status %d", status)
	}
	rp.mu.Lock()
	rp.rec = nil
	rp.mu.Unlock()
	return lp
}

// lambdaEnv is what the Lambda service sets in an ingest function's
// environment that the clients read (through the SDK's configuration chain): the region, the execution
// role's temporary credentials (with a session token of the length STS
// gives), the function's name and execution environment, and the
// invocation's X-Ray trace header (set by the runtime for every
// invocation, traced or not). No shared AWS configuration file is read.
func lambdaEnv(tb testing.TB) map[string]string {
	dir := tb.TempDir()
	return map[string]string{
		"AWS_REGION":                  emu.Region,
		"AWS_DEFAULT_REGION":          emu.Region,
		"AWS_ACCESS_KEY_ID":           "ASIAEXAMPLEEXAMPLE01",
		"AWS_SECRET_ACCESS_KEY":       "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN":           strings.Repeat("IQoJb3JpZ2luX2VjEXAMPLE", 36), // 828 characters
		"AWS_LAMBDA_FUNCTION_NAME":    "monsys-ingest",
		"AWS_EXECUTION_ENV":           "AWS_Lambda_provided.al2023",
		"_X_AMZN_TRACE_ID":            "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=1:ab12cd34:0",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_DYNAMODB":   "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               "", // Lambda sets none (a machine may)
	}
}

// deployedGC gives the benchmark's process the garbage collector the
// deployed ingest function has: app.TuneGC with the memory template.yaml
// gives IngestFunction, as Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE says it
// (GOGC or GOMEMLIMIT set when the benchmark runs win, as they would in the
// function's environment). Both benchmarks run under it, so their ratio
// compares the same process settings.
func deployedGC(b *testing.B) {
	tpl, err := samtemplate.Load("../../../template.yaml")
	if err != nil {
		b.Fatal(err)
	}
	mem := fmt.Sprint(tpl.Functions()["IngestFunction"].Prop(tpl, "MemorySize"))
	env := map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": mem,
		"GOGC": os.Getenv("GOGC"), "GOMEMLIMIT": os.Getenv("GOMEMLIMIT")}
	if _, ok := app.LambdaGCSettings(func(k string) string { return env[k] }); !ok && env["GOGC"]+env["GOMEMLIMIT"] == "" {
		b.Fatalf("no collector tuning for IngestFunction's MemorySize %q", mem)
	}
	b.Cleanup(app.TuneGC(func(k string) string { return env[k] }))
}

// lambdaClients are the clients app.LoadClients builds in a Lambda
// environment (lambdaEnv).
func lambdaClients(tb testing.TB, opts ...func(*config.LoadOptions) error) app.Clients {
	for k, v := range lambdaEnv(tb) {
		tb.Setenv(k, v)
	}
	c, err := app.LoadClients(tb.Context(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// next is the agent's next 10 KiB body.
func (lp *lambdaPath) next() []byte {
	lp.c.seq++
	return batchtest.Body(lp.c.seq, commitDays[0].Format("2006-01-02"))
}

// eventBytes is the proxy event of body, as API Gateway hands it to the function.
func (lp *lambdaPath) eventBytes(tb testing.TB, body []byte) []byte {
	ev := lp.event
	ev.Headers = map[string]string{}
	for k, v := range lp.event.Headers {
		ev.Headers[k] = v
	}
	ev.Headers["X-Monsys-Signature"] = sig.Sign(lp.c.key, body)
	ev.Body = string(body)
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// send is what the deployed function does with one invocation: lambda.Start
// calls the app.APIFunc's Invoke (event bytes to response bytes).
func (lp *lambdaPath) send(tb testing.TB, event []byte) (int, []byte) {
	var status int
	fn := app.APIFunc(func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		res, err := lp.handler.Handle(ctx, ev)
		status = res.StatusCode
		return res, err
	})
	out, err := fn.Invoke(tb.Context(), event)
	if err != nil {
		tb.Fatal(err)
	}
	return status, out
}

// TestLambdaPath checks that the benchmark measures an accepted batch, answered from replayed answers.
func TestLambdaPath(t *testing.T) {
	lp := newLambdaPath(t)
	var sent []http.Header
	lp.rp.mu.Lock()
	lp.rp.seen = func(req *http.Request) { sent = append(sent, req.Header.Clone()) }
	lp.rp.mu.Unlock()
	for range 3 {
		if status, out := lp.send(t, lp.eventBytes(t, lp.next())); status != http.StatusAccepted {
			t.Fatalf("status %d: %s", status, out)
		}
	}
	want := "dynamodb." + emu.Region + ".amazonaws.com"
	lp.rp.mu.Lock()
	defer lp.rp.mu.Unlock()
	if len(lp.rp.hosts) != 1 || lp.rp.hosts[want] == 0 {
		t.Fatalf("the client sent to %v, want only %s (the deployed client's endpoint)", lp.rp.hosts, want)
	}
	// The deployed client's requests: signed with the role's session
	// credentials, with the invocation's trace header.
	env := lambdaEnv(t)
	if len(sent) != 3*5 {
		t.Fatalf("%d requests for 3 batches, want 15 (5 a batch)", len(sent))
	}
	for _, h := range sent {
		if h.Get("X-Amz-Security-Token") != env["AWS_SESSION_TOKEN"] || !strings.Contains(h.Get("Authorization"), "Credential="+env["AWS_ACCESS_KEY_ID"]+"/") {
			t.Fatalf("request not signed with the function's credentials: %v", h)
		}
		if h.Get("X-Amzn-Trace-Id") != env["_X_AMZN_TRACE_ID"] {
			t.Fatalf("X-Amzn-Trace-Id %q, want the invocation's", h.Get("X-Amzn-Trace-Id"))
		}
	}
}

// BenchmarkLambdaPath is the ingest function on the steady path of a warm function.
func BenchmarkLambdaPath(b *testing.B) {
	deployedGC(b)
	lp := newLambdaPath(b)
	// A ring of events, each handed to the function as a fresh copy (the
	// runtime reads every invocation's event into a new buffer): the
	// function's heap stays as small as a deployed one's, so the garbage
	// collector runs as often as it does there (b.N events made ahead
	// would hold hundreds of MB live and make collections rare). Every
	// batch is accepted: the replayed agent item is the one before the
	// recorded batch, whose seq every event's exceeds.
	evs := make([][]byte, lambdaRing)
	for i := range evs {
		evs[i] = lp.eventBytes(b, lp.next())
	}
	b.SetBytes(int64(len(batchtest.Body(1, "2026-03-29"))))
	b.ReportAllocs()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live, gcs := ms.HeapAlloc, ms.NumGC
	b.ResetTimer()
	reportCPU := benchcpu.Start(b)
	for i := range b.N {
		ev := evs[i%len(evs)]
		if status, out := lp.send(b, append(make([]byte, 0, len(ev)), ev...)); status != http.StatusAccepted {
			b.Fatalf("status %d: %s", status, out)
		}
	}
	reportCPU()
	runtime.ReadMemStats(&ms)
	// The collections per batch and the live heap they mark, at the start.
	b.ReportMetric(float64(ms.NumGC-gcs)/float64(b.N), "gc/op")
	b.ReportMetric(float64(live)/(1<<20), "live-MB")
}

// BenchmarkIngestCalls is the store adapter's calls of an accepted signed
// batch on the Lambda path's deployed client and replayed answers, each on
// its own: the agent's state read, the begin, the batch's index entry and
// item (PutBatch: two calls, and the body's compression), the end.
func BenchmarkIngestCalls(b *testing.B) {
	lp := newLambdaPath(b)
	st, err := dynamo.New(lp.client, lp.c.fx.tables)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	a, err := st.Agents.GetAgentState(ctx, lp.c.agent)
	if err != nil {
		b.Fatal(err)
	}
	body := batchtest.Body(a.LastSeq+1, commitDays[0].Format("2006-01-02"))
	sum := sha256.Sum256(body)
	at := commitT0.Add(time.Minute)
	p := hub.Pending{Seq: a.LastSeq + 1, SHA: hex.EncodeToString(sum[:]), PrevSeq: a.LastSeq, PrevSHA: a.LastBatchSHA, At: at}
	day := commitDays[0].UTC()
	sb := hub.StoredBatch{TenantID: a.TenantID, AgentID: a.AgentID, Key: hub.SignedBatchKey(p.Seq), Seq: p.Seq, SHA: p.SHA,
		Signed: true, Signature: sig.Sign(lp.c.key, body), Body: body, Records: 100, MinTS: day, MaxTS: day.Add(99 * time.Second),
		Days: []string{day.Format("2006-01-02")}, ReceivedAt: at}
	for _, bc := range []struct {
		name string
		call func() error
	}{
		{"GetAgentState", func() error { _, err := st.Agents.GetAgentState(ctx, a.AgentID); return err }},
		{"BeginBatch", func() error {
			return st.Commits.BeginBatch(ctx, a.AgentID, p, a.SigningPubKey, a.AgentVersion, a.MaxAgentVersion)
		}},
		{"PutBatchIndex", func() error { return st.Batches.PutBatchIndex(ctx, sb) }},
		{"PutBatch", func() error { return st.Batches.PutBatch(ctx, sb) }},
		{"EndBatch", func() error { return st.Commits.EndBatch(ctx, a.AgentID, p) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			runtime.GC()
			b.ResetTimer()
			reportCPU := benchcpu.Start(b)
			for range b.N {
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU()
		})
	}
}

// lambdaRing is how many distinct events BenchmarkLambdaPath sends in turn.
const lambdaRing = 64

// BenchmarkLambdaFloor is SHA-256, Ed25519 verify and a generic JSON decode of the same body.
func BenchmarkLambdaFloor(b *testing.B) {
	deployedGC(b)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	body := batchtest.Body(1743501600000000001, "2026-03-29")
	d := sha256.Sum256(body)
	s := ed25519.Sign(priv, d[:])
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	reportCPU := benchcpu.Start(b)
	defer reportCPU()
	for range b.N {
		d := sha256.Sum256(body)
		if !ed25519.Verify(pub, d[:], s) {
			b.Fatal("verify")
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
