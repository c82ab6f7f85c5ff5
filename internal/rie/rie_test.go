package rie

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/samtemplate"
	"github.com/monsys/hub/internal/verify"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// side is one way of running the functions over one copy of the state.
type side struct {
	name   string
	st     *state
	invoke map[string]invoker // by logical id
	packID string             // from the last POST /evidence-packs answer
	keyFP  string             // the tenant's pack-signing key, from the rotation's answer
	build  []byte             // the build event the pack function sent itself
}

// step is one event, sent to both sides in turn.
type step struct {
	name string
	// event returns the payload for a side.
	event func(t *testing.T, sd *side) []byte
	// to are the logical ids of the functions that get the event; nil routes
	// it by its method and path, as API Gateway would.
	to func(fns []function) []string
	// status is the statusCode an API Gateway event must get (both sides
	// must agree with each other too); 0 for other events.
	status int
	// fails: the function must answer with Lambda's error document.
	fails bool
	// after looks at a side's answer: to pick up ids for later steps.
	after func(t *testing.T, w *world, sd *side, resp []byte)
}

// packIDInEvents is the pack id get-pack.json asks about.
const packIDInEvents = "pk_apitest7q2m4kzb3c5d6f7gh"

// TestRuntimeProtocol runs the API Gateway and EventBridge event files
// through every function twice over two copies of the same seeded state:
// once in-process, the handlers built as each functions/<name>/main.go
// builds them, and once as the real bootstrap under the AWS Lambda Runtime
// Interface Emulator, with the environment template.yaml gives the
// function. The answers must be the same.
func TestRuntimeProtocol(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the Runtime Interface Emulator runs on Linux only, not %s", runtime.GOOS)
	}
	ctx := t.Context()
	root, err := emu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, tpl)
	var dirs []string
	for _, f := range w.fns {
		dirs = append(dirs, f.dir)
		if inProcess[f.dir] == nil {
			t.Fatalf("%s (functions/%s) has no in-process twin in inProcess: add what its main.go builds", f.id, f.dir)
		}
	}
	if onDisk, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go")); len(onDisk) != len(dirs) {
		t.Fatalf("template.yaml has functions %v; functions/ has %d mains", dirs, len(onDisk))
	}

	rieBin, err := emu.EnsureRIE(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	boots := map[string]string{}
	for _, f := range w.fns {
		bin, err := buildBootstrap(ctx, root, f.id, filepath.Join(t.TempDir(), f.dir))
		if err != nil {
			t.Fatal(err)
		}
		boots[f.id] = bin
	}

	unique := strings.ToLower(rand.Text()[:8]) // -count=N runs share the binary's emulators
	t.Run("before-bootstrap", func(t *testing.T) { beforeBootstrap(t, w, rieBin, boots, unique) })

	inproc := &side{name: "in-process", st: w.newState(t, "in-process", "inproc-"+unique, "inproc-"+unique+"-"), invoke: map[string]invoker{}}
	underRIE := &side{name: "rie", st: w.newState(t, "rie", "rie-"+unique, "rie-"+unique+"-"), invoke: map[string]invoker{}}
	w.bootstrap(t, inproc.st)
	w.bootstrap(t, underRIE.st)
	if inproc.st.tables == underRIE.st.tables || inproc.st.bucket == underRIE.st.bucket {
		t.Fatalf("the two stacks share resources: tables %+v, bucket %s", underRIE.st.tables, underRIE.st.bucket)
	}

	// In-process: the SDK reads its endpoints from this process's environment.
	for k, v := range w.awsEnv(inproc.st.tmp) {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_REGION", stackRegion)
	for _, f := range w.fns {
		inv, err := inProcess[f.dir](ctx, mapEnv(inproc.st.env[f.id]))
		if err != nil {
			t.Fatalf("%s in-process: %v", f.id, err)
		}
		inproc.invoke[f.id] = inv
	}

	// Under the emulator: one per function, with only Lambda's environment.
	rieOf := map[string]*emu.RIE{}
	for _, f := range w.fns {
		env := maps.Clone(underRIE.st.env[f.id])
		maps.Copy(env, w.awsEnv(underRIE.st.tmp))
		var list []string
		for k, v := range env {
			list = append(list, k+"="+v)
		}
		sort.Strings(list)
		var log io.Writer
		if testing.Verbose() && os.Getenv(emutest.EnvTestEmuLog) == "1" {
			log = os.Stderr
		}
		r, err := emu.StartRIE(ctx, emu.RIEOptions{Bootstrap: boots[f.id], Env: list, Bin: rieBin, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop() })
		rieOf[f.id] = r
		underRIE.invoke[f.id] = r.Invoke
	}

	times := map[string][]time.Duration{} // wall time of each RIE invocation, by function
	run := func(t *testing.T, s step) {
		for _, id := range targets(t, w, s, inproc) {
			var got [2]any
			for i, sd := range []*side{inproc, underRIE} {
				payload := s.event(t, sd)
				start := time.Now()
				resp, err := sd.invoke[id](ctx, payload)
				if sd == underRIE {
					times[id] = append(times[id], time.Since(start))
				}
				if err != nil {
					t.Fatalf("%s %s: %v", sd.name, id, err)
				}
				if s.status != 0 {
					var r struct {
						Status int `json:"statusCode"`
					}
					if json.Unmarshal(resp, &r) != nil || r.Status != s.status {
						t.Errorf("%s %s: statusCode %d, want %d: %.400s", sd.name, id, r.Status, s.status, resp)
					}
				}
				if s.fails {
					var doc struct {
						Message string `json:"errorMessage"`
						Type    string `json:"errorType"`
					}
					if json.Unmarshal(resp, &doc) != nil || doc.Message == "" || doc.Type == "" {
						t.Errorf("%s %s: %.400s, want an error document", sd.name, id, resp)
					}
				}
				if got[i], err = normalize(resp); err != nil {
					t.Fatalf("%s %s: %v", sd.name, id, err)
				}
				if s.after != nil {
					s.after(t, w, sd, resp)
				}
			}
			if d := diff("", got[1], got[0], 8); len(d) > 0 {
				t.Errorf("%s: under the emulator the answer differs from in-process (got rie, want in-process):\n  %s\nrie: %s\nin-process: %s",
					id, strings.Join(d, "\n  "), show(got[1]), show(got[0]))
			}
		}
	}
	for _, s := range steps() {
		if !t.Run(s.name, func(t *testing.T) { run(t, s) }) && s.after != nil {
			break // a later step needs what this one picks up
		}
	}

	// Figures, not assertions: the emulator's own REPORT lines.
	var lines []string
	for _, f := range w.fns {
		reps := rieOf[f.id].Reports()
		ts := times[f.id]
		if len(reps) == 0 || len(ts) == 0 {
			t.Errorf("%s: the emulator wrote no REPORT line", f.id)
			continue
		}
		if reps[0].Init == 0 {
			t.Errorf("%s: the first invocation has no Init Duration: it was not a cold start", f.id)
		}
		for _, r := range reps[1:] {
			if r.Init != 0 {
				t.Errorf("%s: invocation %s started the function again (Init Duration %v): it crashed or was reset", f.id, r.RequestID, r.Init)
			}
		}
		fi, _ := os.Stat(boots[f.id])
		ratio := "-"
		if len(ts) > 1 {
			ratio = fmt.Sprintf("%.1fx", float64(ts[0])/float64(slices.Min(ts[1:])))
		}
		lines = append(lines, fmt.Sprintf("%-18s %5.1f MB  init %6.1f ms  first invoke %6.1f ms  invokes %d  first/fastest-warm %s",
			f.id, float64(fi.Size())/(1<<20), ms(reps[0].Init), ms(ts[0]), len(ts), ratio))
	}
	t.Logf("cold starts under the Runtime Interface Emulator (%s/%s):\n%s", runtime.GOOS, runtime.GOARCH, strings.Join(lines, "\n"))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// targets are the functions a step's event goes to.
func targets(t *testing.T, w *world, s step, sd *side) []string {
	t.Helper()
	if s.to != nil {
		ids := s.to(w.fns)
		if len(ids) == 0 {
			t.Fatal("no function of the template gets this event")
		}
		return ids
	}
	var ev struct {
		Method string `json:"httpMethod"`
		Path   string `json:"path"`
	}
	if err := json.Unmarshal(s.event(t, sd), &ev); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range w.fns {
		if f.serves(ev.Method, ev.Path) {
			ids = append(ids, f.id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s %s: %v (%d functions serve it, want 1)", ev.Method, ev.Path, errNoRoute, len(ids))
	}
	return ids
}

func file(name string) func(*testing.T, *side) []byte {
	return func(t *testing.T, _ *side) []byte { return apiEvent(t, name) }
}

// steps is the scenario: an agent registers and sends telemetry, the
// operator uses every admin route, a pack is requested, built (the build
// event the pack function sent itself is delivered to it) and fetched, the
// integrity schedule fires, and every API function gets a path it does not
// serve.
func steps() []step {
	return []step{
		{name: "register", event: file("register.json"), status: 200},
		{name: "ingest", event: file("ingest.json"), status: 202},
		{name: "ingest-base64", event: file("ingest-base64.json"), status: 202},
		{name: "create-agent", event: file("create-agent.json"), status: 201},
		{name: "get-agent", event: file("get-agent.json"), status: 200},
		{name: "list-anomalies", event: file("list-anomalies.json"), status: 200},
		{name: "rotate-signing-key", event: file("rotate-signing-key.json"), status: 200},
		{name: "rotate-client-cert", event: file("rotate-client-cert.json"), status: 200},
		// Both pins are cleared: the agent enrolls again with a CSR, and the
		// register function issues its certificate with the CA key in KMS.
		{name: "register-csr", event: file("register-csr.json"), status: 200},
		{name: "rotate-token", event: file("rotate-token.json"), status: 200},
		{name: "rotate-pack-key", event: file("rotate-pack-key.json"), status: 200, after: func(t *testing.T, w *world, sd *side, resp []byte) {
			var b struct {
				Fingerprint string `json:"fingerprint"`
			}
			if json.Unmarshal(proxyBody(t, resp), &b) != nil || b.Fingerprint == "" {
				t.Fatalf("%s: no fingerprint in %s", sd.name, resp)
			}
			sd.keyFP = b.Fingerprint
		}},
		// Nothing is published without witnesses: the log function answers
		// 404 for the checkpoint and a tile from the empty log bucket.
		{name: "log-checkpoint", event: file("log-checkpoint.json"), status: 404},
		{name: "log-tile", event: file("log-tile.json"), status: 404},
		{name: "request-pack", event: file("request-pack.json"), status: 202, after: func(t *testing.T, w *world, sd *side, resp []byte) {
			var b struct {
				PackID string `json:"pack_id"`
			}
			if json.Unmarshal(proxyBody(t, resp), &b) != nil || b.PackID == "" {
				t.Fatalf("%s: no pack_id in %s", sd.name, resp)
			}
			calls := w.invokes.take()
			if len(calls) != 1 {
				t.Fatalf("%s: the pack function invoked Lambda %d times, want once", sd.name, len(calls))
			}
			c := calls[0]
			if self := sd.st.env[packFunction(w.fns)]["AWS_LAMBDA_FUNCTION_NAME"]; c.function != self || c.invocationType != "Event" {
				t.Errorf("%s: the build was started with Invoke(%s, %s), want Invoke(%s, Event)", sd.name, c.function, c.invocationType, self)
			}
			sd.packID, sd.build = b.PackID, c.payload
		}},
		{name: "build-pack", event: func(t *testing.T, sd *side) []byte { return sd.build },
			to: func(fns []function) []string { return []string{packFunction(fns)} },
			after: func(t *testing.T, w *world, sd *side, _ []byte) {
				if left, _ := os.ReadDir(sd.st.tmp); len(left) > 0 {
					t.Errorf("%s: the build left %d files in its temporary directory", sd.name, len(left))
				}
			}},
		{name: "get-pack-ready", status: 200, event: func(t *testing.T, sd *side) []byte {
			return bytes.ReplaceAll(apiEvent(t, "get-pack.json"), []byte(packIDInEvents), []byte(sd.packID))
		}, after: func(t *testing.T, w *world, sd *side, resp []byte) {
			var b struct {
				Status string `json:"status"`
				URL    string `json:"download_url"`
			}
			if json.Unmarshal(proxyBody(t, resp), &b) != nil || b.Status != "ready" || b.URL == "" {
				t.Fatalf("%s: the pack is not ready: %s", sd.name, resp)
			}
			// The template gives the pack function a link role: the link is signed
			// by a role session (MinIO's STS AssumeRole here), never by the function's own keys.
			if !strings.Contains(b.URL, "X-Amz-Security-Token=") {
				t.Errorf("%s: the link is not signed by a role session: %s", sd.name, b.URL)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: download the pack: %v", sd.name, err)
			}
			defer got.Body.Close()
			if got.StatusCode != http.StatusOK {
				t.Fatalf("%s: the presigned link answers %d", sd.name, got.StatusCode)
			}
			rep, err := verify.VerifyReader(got.Body, verify.Options{ExpectFingerprint: sd.keyFP})
			if err != nil {
				t.Fatalf("%s: verify the pack: %v", sd.name, err)
			}
			if !rep.OK {
				t.Errorf("%s: the pack does not verify against key %s: %+v", sd.name, sd.keyFP, rep.Checks)
			}
		}},
		{name: "get-pack-unknown", event: file("get-pack.json"), status: 404},
		// Two ticks of the schedule: the second finds nothing new to raise.
		{name: "integrity-schedule", event: scheduleEvent, to: scheduled},
		{name: "integrity-schedule-again", event: scheduleEvent, to: scheduled},
		// The archive schedule's input: the monthly packs of the months
		// just ended are started (their builds are the pack function's
		// self-invocations, left alone here).
		{name: "archive-schedule", event: archiveEvent, to: withInput(archiveEvent(nil, nil)), after: func(t *testing.T, w *world, sd *side, resp []byte) {
			if string(resp) != `{"status":"done"}` {
				t.Fatalf("%s: archive run answered %.400s, want {\"status\":\"done\"}", sd.name, resp)
			}
		}},
		// A part of a monthly pack's expiry pass is the pack function's own
		// event; a part of a pack that does not exist is an invocation
		// error (Lambda retries it, then the next run re-drives), and
		// nothing expires.
		{name: "expire-part-of-no-pack", fails: true, event: func(t *testing.T, _ *side) []byte {
			return []byte(`{"` + app.ExpireEvent + `":{"tenant_id":"` + eventIdentities(t).tenant + `","pack_id":"pk_m202001r1","day":"2020-01-01","shard":0}}`)
		}, to: func(fns []function) []string { return []string{packFunction(fns)} }, after: func(t *testing.T, w *world, sd *side, resp []byte) {
			if !bytes.Contains(resp, []byte("expire part 20200101s0")) || !bytes.Contains(resp, []byte("get pack")) {
				t.Fatalf("%s: %.400s, want the part's refusal: its pack is not found", sd.name, resp)
			}
		}},
		// Not an event the pack function serves: an invocation error.
		{name: "pack-gets-a-scheduled-event", fails: true, event: scheduleEvent,
			to: func(fns []function) []string { return []string{packFunction(fns)} }},
		{name: "unknown-path", event: file("unknown-path.json"), status: 404, to: func(fns []function) []string {
			var ids []string
			for _, f := range fns {
				if len(f.routes) > 0 {
					ids = append(ids, f.id)
				}
			}
			return ids
		}},
	}
}

// scheduleEvent is EventBridge's event for a Schedule rule.
func scheduleEvent(t *testing.T, _ *side) []byte {
	return readFile(t, filepath.Join("testdata", "events", "schedule.json"))
}

// archiveEvent is the archive schedule's constant input (template.yaml).
func archiveEvent(*testing.T, *side) []byte { return []byte(`{"` + app.ArchiveEvent + `":{}}`) }

// withInput are the functions with a Schedule event whose Input is in.
func withInput(in []byte) func(fns []function) []string {
	return func(fns []function) []string {
		var ids []string
		for _, f := range fns {
			if slices.Contains(f.inputs, string(in)) {
				ids = append(ids, f.id)
			}
		}
		return ids
	}
}

// scheduled are the functions with a Schedule event.
func scheduled(fns []function) []string {
	var ids []string
	for _, f := range fns {
		if f.scheduled {
			ids = append(ids, f.id)
		}
	}
	return ids
}

// proxyBody is the body of an API Gateway proxy response.
func proxyBody(t *testing.T, resp []byte) []byte {
	t.Helper()
	var r struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("not an API Gateway proxy response: %v: %.300s", err, resp)
	}
	return []byte(r.Body)
}

// packFunction is the function that serves POST /api/v1/evidence-packs.
func packFunction(fns []function) string {
	for _, f := range fns {
		if f.serves(http.MethodPost, "/api/v1/evidence-packs") {
			return f.id
		}
	}
	return ""
}
