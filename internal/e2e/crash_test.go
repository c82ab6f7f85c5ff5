package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
)

// TestCrashBurst is SPEC 4.2's last paragraph end to end, and issue 10's
// "done when": 8 agents send signed batches whose records fall on ten
// different days; the local hub (cmd/monsys-local, a process of its own with
// its own dynalite, which dies with it) is SIGKILLed three times during the
// burst, each time once a chosen number of batches has been acknowledged, and
// started again on the same state folder. Each agent retries every batch
// until it is answered, honouring Retry-After, as monsys-agent does. Then an
// evidence pack of the ten days, built through the API, must hold every
// batch exactly once (its batch.ndjson line and each of its records) and
// nothing else, and every agent must still be able to send.
func TestCrashBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/monsys-local and kills it three times")
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs the hub's dynalite to die with it (Pdeathsig, Linux only)")
	}
	start := time.Now()
	hp := startHubProcess(t)
	e := hp.env
	const nAgents, perAgent = 8, 12
	killAt := []int{16, 40, 64} // acknowledged batches, of nAgents*perAgent
	agents := make([]*agent, nAgents)
	for i := range agents {
		agents[i] = e.enrolledAgent()
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from := today.Add(-10 * 24 * time.Hour)

	batches := make([][]sentBatch, nAgents)
	acks := make(chan struct{}, nAgents*perAgent)
	var failure atomic.Value
	fail := func(format string, args ...any) { failure.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }
	var wg sync.WaitGroup
	t.Cleanup(func() { fail("the test ended"); wg.Wait() }) // no agent outlives a failed test
	var unanswered, retryAfter atomic.Int64
	for i, a := range agents {
		wg.Go(func() {
			prev := ""
			for j := range perAgent {
				body, recs := crashBody(a, i, j, prev, from)
				status := 0
				for status == 0 && failure.Load() == nil {
					r, err := send(a.c, "POST", e.info.URL+"/api/v1/ingest", a.token, body, map[string]string{sig.Header: signOf(a, body)})
					switch {
					case err != nil: // the hub is down: try again once it is back
						unanswered.Add(1)
						time.Sleep(100 * time.Millisecond)
					case r.Status == http.StatusAccepted, r.Status == http.StatusOK && r.Body["duplicate"] == true:
						status = r.Status
					case r.Status == http.StatusServiceUnavailable, r.Status == http.StatusTooManyRequests,
						r.Status == http.StatusConflict && r.code() == "conflict":
						secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
						if err != nil || secs <= 0 {
							fail("agent %d batch %d: %s without Retry-After", i, j, r)
							return
						}
						retryAfter.Add(1)
						time.Sleep(time.Duration(secs) * time.Second)
					default:
						fail("agent %d batch %d: unexpected answer %s", i, j, r)
						return
					}
				}
				if status == 0 {
					return
				}
				batches[i] = append(batches[i], sentBatch{body, status, recs})
				sum := sha256.Sum256(body)
				prev = hex.EncodeToString(sum[:])
				acks <- struct{}{}
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	acked := 0
kills:
	for _, k := range killAt {
		for acked < k {
			select {
			case <-acks:
				acked++
			case <-finished: // only if an agent gave up
				break kills
			}
		}
		hp.kill()
		hp.start()
	}
	<-finished
	if f := failure.Load(); f != nil {
		t.Fatalf("%s\n--- hub output (tail) ---\n%s", f, hp.tail())
	}
	burst := time.Since(start)

	// The pack of the ten days, then one pack for each day (a batch left
	// with some of its index entries only would be missing from some days).
	ad := e.admin()
	accepted, duplicates := 0, 0
	for i := range agents {
		for _, b := range batches[i] {
			if b.status == http.StatusAccepted {
				accepted++
			} else {
				duplicates++
			}
		}
	}
	checkCrashPack(t, ad, agents, batches, from, today.Add(-time.Second))
	for d := range 10 {
		day := from.Add(time.Duration(d) * 24 * time.Hour)
		checkCrashPack(t, ad, agents, batches, day, day.Add(24*time.Hour-time.Second))
	}
	for i, a := range agents {
		if r := a.ingest(a.body(metric("after", 1))); r.Status != http.StatusAccepted {
			t.Errorf("agent %d after the burst: %s", i, r)
		}
		if list := ad.anomalies("kind=replay_detected&agent_id=" + a.id); len(list) != 0 {
			t.Errorf("agent %d: a retry was taken for a replay: %v", i, list)
		}
	}
	t.Logf("%d batches (%d answered 202, %d answered 200 duplicate) from %d agents, hub killed %d times; "+
		"%d requests got no answer, %d were told to retry later; burst %s, whole test %s",
		nAgents*perAgent, accepted, duplicates, nAgents, len(killAt), unanswered.Load(), retryAfter.Load(),
		burst.Round(time.Second), time.Since(start).Round(time.Second))
}

// sentBatch is a batch of the burst and the answer it finally got.
type sentBatch struct {
	body    []byte
	status  int
	records map[string]time.Time // record id → ts
}

const recordsPerBatch = 10

// crashBody is batch j of agent i: its header (chained to prev, as
// monsys-agent does) and one record on each of the ten days after
// from, each with an id of its own.
func crashBody(a *agent, i, j int, prev string, from time.Time) ([]byte, map[string]time.Time) {
	h := rec{"type": "batch", "ts": time.Now().UTC().Format(time.RFC3339), "seq": a.seq.Add(1), "agent_version": a.version}
	if prev != "" {
		h["prev"] = prev
	}
	all := []rec{h}
	recs := map[string]time.Time{}
	for k := range recordsPerBatch {
		day := (i*7 + j*3 + k) % 10
		ts := from.Add(time.Duration(day)*24*time.Hour + time.Duration(i*60+j*5+k)*time.Minute)
		rid := fmt.Sprintf("a%d-b%d-r%d", i, j, k)
		recs[rid] = ts
		all = append(all, rec{"type": "metric", "ts": ts.Format(time.RFC3339), "name": "cpu", "value": k, "rid": rid})
	}
	return mustJSON(a.e.t, all), recs
}

// checkCrashPack builds the pack of [from, to] through the API and checks
// it: every batch with records in the period has exactly one batch.ndjson
// line and each of those records exactly once; nothing else is there.
func checkCrashPack(t *testing.T, ad *admin, agents []*agent, batches [][]sentBatch, from, to time.Time) {
	t.Helper()
	id := ad.requestPack(mustJSON(t, map[string]string{"period_start": from.Format(time.RFC3339), "period_end": to.Format(time.RFC3339)}))
	r := ad.awaitPack(id)
	if r.Body["status"] != "ready" {
		t.Fatalf("pack %s: %s", id, r)
	}
	files := members(t, download(t, r.Body["download_url"].(string)))
	period := from.Format(time.DateOnly) + ".." + to.Format(time.DateOnly)
	want := map[string]bool{}
	for i, a := range agents {
		lines := map[string]int{} // body sha → batch.ndjson lines
		for _, l := range ndjson(t, files["data/agents/"+a.id+"/batch.ndjson"]) {
			lines[l["body_sha256"].(string)]++
		}
		records := map[string]int{}
		for _, l := range ndjson(t, files["data/agents/"+a.id+"/metric.ndjson"]) {
			records[l["rid"].(string)]++
		}
		for j, b := range batches[i] {
			in := 0
			for rid, ts := range b.records {
				if ts.Before(from) || ts.After(to) {
					continue
				}
				in++
				if n := records[rid]; n != 1 {
					t.Errorf("pack %s: agent %d batch %d (answered %d): record %s is there %d times, want once", period, i, j, b.status, rid, n)
				}
				delete(records, rid)
			}
			if in == 0 {
				continue
			}
			sum := sha256.Sum256(b.body)
			if n := lines[hex.EncodeToString(sum[:])]; n != 1 {
				t.Errorf("pack %s: agent %d batch %d (answered %d): %d lines in batch.ndjson, want 1", period, i, j, b.status, n)
			}
			delete(lines, hex.EncodeToString(sum[:]))
			want["data/agents/"+a.id+"/batch.ndjson"], want["data/agents/"+a.id+"/metric.ndjson"] = true, true
		}
		for sha := range lines {
			t.Errorf("pack %s: agent %d: batch.ndjson has a batch with no records in the period or never acknowledged: %s", period, i, sha)
		}
		for rid := range records {
			t.Errorf("pack %s: agent %d: a record of no acknowledged batch of the period: %s", period, i, rid)
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "data/agents/") && !want[name] {
			t.Errorf("pack %s has %s, which no agent of the burst sent in the period", period, name)
		}
	}
}

func ndjson(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// hubProcess is cmd/monsys-local running as a process of its own, on a
// fixed port and state folder, with its own dynalite (which dies with it)
// and the test binary's MinIO.
type hubProcess struct {
	t    *testing.T
	bin  string
	root string
	vars []string
	env  *env
	out  logtest.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startHubProcess(t *testing.T) *hubProcess {
	t.Helper()
	root, err := emu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "monsys-local")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/monsys-local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build monsys-local: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	s3, user, pass := emutest.S3EndpointForTest(t)
	hp := &hubProcess{t: t, bin: bin, root: root, vars: []string{"MONSYS_LOCAL_ADDR=" + addr, "MONSYS_LOCAL_DIR=" + dir,
		"MONSYS_LOCAL_S3_ENDPOINT=" + s3, "MONSYS_LOCAL_S3_USER=" + user, "MONSYS_LOCAL_S3_PASSWORD=" + pass,
		"MONSYS_PACK_BUCKET=" + emutest.UniqueBucket(t), "MONSYS_LOCAL_DYNAMODB_ENDPOINT="}}
	t.Cleanup(hp.stop)
	hp.start()
	raw, err := os.ReadFile(filepath.Join(dir, "hub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info profile.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(info.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hp.env = &env{t: t, info: info, pool: pool, logs: &logtest.Buffer{}}
	return hp
}

// start runs the hub and returns once it serves. A start right after a
// kill may find the dying dynalite still holding its data folder, so a
// start that fails is tried again, a few times.
func (hp *hubProcess) start() {
	hp.t.Helper()
	for attempt := 1; ; attempt++ {
		ready := make(chan struct{})
		cmd := exec.Command(hp.bin)
		cmd.Dir = hp.root
		cmd.Env = append(os.Environ(), hp.vars...)
		cmd.Stdout = &hp.out
		cmd.Stderr = &readyWriter{w: &hp.out, line: "monsys local hub on", ready: ready}
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			hp.t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		hp.mu.Lock()
		hp.cmd, hp.done = cmd, done
		hp.mu.Unlock()
		select {
		case <-ready:
			return
		case <-done:
			if attempt == 5 {
				hp.t.Fatalf("monsys-local exited %d times before serving:\n%s", attempt, hp.tail())
			}
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		case <-time.After(3 * time.Minute):
			hp.t.Fatalf("monsys-local did not serve within 3 minutes:\n%s", hp.tail())
		}
	}
}

// kill SIGKILLs the hub and waits until it is gone.
func (hp *hubProcess) kill() {
	hp.mu.Lock()
	cmd, done := hp.cmd, hp.done
	hp.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the hub the polite way (it stops its dynalite).
func (hp *hubProcess) stop() {
	hp.mu.Lock()
	cmd, done := hp.cmd, hp.done
	hp.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (hp *hubProcess) tail() string {
	s := hp.out.String()
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

// readyWriter copies a process's output to w and closes ready at the first
// line that contains line.
type readyWriter struct {
	w     io.Writer
	line  string
	ready chan struct{}
	once  sync.Once
	buf   []byte
}

func (r *readyWriter) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	for {
		i := strings.IndexByte(string(r.buf), '\n')
		if i < 0 {
			break
		}
		if strings.Contains(string(r.buf[:i]), r.line) {
			r.once.Do(func() { close(r.ready) })
		}
		r.buf = r.buf[i+1:]
	}
	return r.w.Write(p)
}
