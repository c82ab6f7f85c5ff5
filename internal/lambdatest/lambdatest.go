// Package lambdatest measures how quickly a Lambda bootstrap binary
// (aws-lambda-go on provided.al2023) becomes ready: it runs the binary
// against a fake Lambda Runtime API on loopback and times the first
// GET /runtime/invocation/next, then optionally serves one event.
package lambdatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsys/hub/internal/logtest"
)

// Runtime API paths (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	pathNext      = "/2018-06-01/runtime/invocation/next"
	pathResponse  = "/2018-06-01/runtime/invocation/{id}/response"
	pathInvokeErr = "/2018-06-01/runtime/invocation/{id}/error"
	pathInitErr   = "/2018-06-01/runtime/init/error"
)

const (
	// requestID is the id of the one invocation Measure serves.
	requestID = "coldstart-0001"
	// functionName appears in the function's environment and ARN.
	functionName = "coldstart"
	// invokeTimeout is the deadline given to the invocation when ctx has no
	// earlier one.
	invokeTimeout = 30 * time.Second
	// maxPayload is Lambda's limit on a synchronous response.
	maxPayload = 6 << 20
)

var (
	// ErrExited is returned when the function exits before it is measured.
	ErrExited = errors.New("lambdatest: function exited")
	// ErrInitFailed is returned when the function posts an init error.
	ErrInitFailed = errors.New("lambdatest: function init failed")
	// ErrInvokeFailed is returned when the function posts an invocation
	// error or an oversized response.
	ErrInvokeFailed = errors.New("lambdatest: invocation failed")
)

// Result is one cold start. Durations run from just before the process
// started.
type Result struct {
	// Ready is the time until the function's first GET .../invocation/next:
	// runtime start, package init and the handler's own setup.
	Ready time.Duration
	// FirstResponse is the body the function posted for the event; nil when
	// Measure got no event.
	FirstResponse []byte
	// FirstInvoke is the time until that response arrived (so FirstInvoke -
	// Ready is roughly the first invocation's cost); 0 without an event.
	FirstInvoke time.Duration
}

// Measure starts bin with a Lambda-like environment (AWS_LAMBDA_RUNTIME_API
// pointing at a fake Runtime API, function name, region, memory size) plus env,
// which wins over those defaults except for AWS_LAMBDA_RUNTIME_API. The
// process does not inherit the caller's environment. Measure waits for the
// first /invocation/next; with a non-nil event it also delivers the event as
// the first invocation and waits for the response. The process is killed
// before Measure returns. On error, Result holds what was measured so far.
func Measure(ctx context.Context, bin string, env []string, event []byte) (Result, error) {
	api := newRuntimeAPI(event, deadline(ctx))
	srv := httptest.NewServer(api.handler())
	defer func() {
		api.shutdown()
		srv.Close()
	}()

	out := logtest.NewTail(8 << 10)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = lambdaEnv(bin, strings.TrimPrefix(srv.URL, "http://"), env)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("lambdatest: start %q: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	failed := func(err error) error {
		return fmt.Errorf("%w\n--- %s output ---\n%s", err, filepath.Base(bin), strings.TrimRight(out.String(), "\n"))
	}

	var res Result
	select {
	case at := <-api.ready:
		res.Ready = at.Sub(start)
	case body := <-api.initErr:
		return res, failed(fmt.Errorf("%w: %q: %s", ErrInitFailed, bin, body))
	case <-exited:
		return res, failed(fmt.Errorf("%w: %q before its first /invocation/next: %v", ErrExited, bin, waitErr))
	case <-ctx.Done():
		return res, failed(fmt.Errorf("lambdatest: %q not ready: %w", bin, ctx.Err()))
	}
	if event == nil {
		return res, nil
	}

	select {
	case r := <-api.response:
		res.FirstInvoke = r.at.Sub(start)
		res.FirstResponse = r.body
		return res, nil
	case body := <-api.invokeErr:
		return res, failed(fmt.Errorf("%w: %q: %s", ErrInvokeFailed, bin, body))
	case body := <-api.initErr:
		return res, failed(fmt.Errorf("%w: %q: %s", ErrInitFailed, bin, body))
	case <-exited:
		return res, failed(fmt.Errorf("%w: %q before it answered the event: %v", ErrExited, bin, waitErr))
	case <-ctx.Done():
		return res, failed(fmt.Errorf("lambdatest: %q did not answer the event: %w", bin, ctx.Err()))
	}
}

// lambdaEnv is the environment Lambda gives a provided.al2023 function,
// trimmed to what a Go runtime and the SDK read.
func lambdaEnv(bin, apiAddr string, extra []string) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_LAMBDA_FUNCTION_NAME=" + functionName,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(bin),
	}
	env = append(env, extra...)
	// os/exec keeps the last value of a duplicated key.
	return append(env, "AWS_LAMBDA_RUNTIME_API="+apiAddr)
}

func deadline(ctx context.Context) time.Time {
	d := time.Now().Add(invokeTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// runtimeAPI serves one cold start. The first /invocation/next is the ready
// signal; with an event it also answers it, and every later /next blocks
// until shutdown, as Lambda does between invocations.
type runtimeAPI struct {
	event    []byte
	deadline time.Time

	delivered atomic.Bool
	readyOnce sync.Once
	closing   chan struct{}
	closeOnce sync.Once

	ready     chan time.Time
	response  chan posted
	invokeErr chan []byte
	initErr   chan []byte
}

type posted struct {
	at   time.Time
	body []byte
}

func newRuntimeAPI(event []byte, deadline time.Time) *runtimeAPI {
	return &runtimeAPI{
		event:     event,
		deadline:  deadline,
		closing:   make(chan struct{}),
		ready:     make(chan time.Time, 1),
		response:  make(chan posted, 1),
		invokeErr: make(chan []byte, 1),
		initErr:   make(chan []byte, 1),
	}
}

func (a *runtimeAPI) shutdown() { a.closeOnce.Do(func() { close(a.closing) }) }

func (a *runtimeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathNext, a.next)
	mux.HandleFunc("POST "+pathResponse, a.post(func(at time.Time, body []byte) { send(a.response, posted{at, body}) }))
	mux.HandleFunc("POST "+pathInvokeErr, a.post(func(_ time.Time, body []byte) { send(a.invokeErr, body) }))
	mux.HandleFunc("POST "+pathInitErr, a.post(func(_ time.Time, body []byte) { send(a.initErr, body) }))
	return mux
}

func (a *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	a.readyOnce.Do(func() { a.ready <- now })
	if a.event != nil && a.delivered.CompareAndSwap(false, true) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", requestID)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(a.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:"+functionName)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0")
		_, _ = w.Write(a.event)
		return
	}
	select {
	case <-a.closing:
	case <-r.Context().Done():
	}
	http.Error(w, "runtime shutting down", http.StatusGone)
}

// post records a function's POST and answers 202 Accepted, which is what
// aws-lambda-go expects.
func (a *runtimeAPI) post(record func(at time.Time, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		if id := r.PathValue("id"); id != "" && id != requestID {
			http.Error(w, "unknown request id "+strconv.Quote(id), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxPayload {
			send(a.invokeErr, []byte(fmt.Sprintf("response larger than %d bytes", maxPayload)))
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		record(at, body)
		w.WriteHeader(http.StatusAccepted)
	}
}

// send delivers v unless the channel already holds a value: only the first
// of each kind of event matters.
func send[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}
