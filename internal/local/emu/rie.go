package emu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

const (
	// RIEModuleVersion is the github.com/aws/aws-lambda-runtime-interface-emulator
	// version that scripts/ensure-rie.sh builds; keep the two in step. The
	// module proxy serves only pseudo-versions of it.
	RIEModuleVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	// RIEInvokePath is the emulator's one endpoint, the path of Lambda's
	// Invoke API for a function named "function".
	RIEInvokePath = "/2015-03-31/functions/function/invocations"
	// rieStartTimeout bounds a start when the caller's context has no
	// earlier deadline; it excludes building the binary.
	rieStartTimeout = 30 * time.Second
	// ensureRIEScript builds the emulator once into the cache.
	ensureRIEScript = "scripts/ensure-rie.sh"
	// maxInvokeResponse is Lambda's limit on a synchronous response (6 MB),
	// with room for the emulator's own error bodies.
	maxInvokeResponse = 7 << 20
)

// ErrInvoke is returned by RIE.Invoke when the emulator does not answer 200:
// the function's init failed, it crashed or timed out.
var ErrInvoke = errors.New("emu: rie: invocation failed")

// RIEOptions configures StartRIE.
type RIEOptions struct {
	// Bootstrap is the function's executable, as Lambda finds it at
	// /var/task/bootstrap in a provided.al2023 function. Required.
	Bootstrap string
	// Env is the whole environment of the emulator, which passes it on to the
	// function (as Lambda passes a function's configured variables); nothing
	// of the caller's environment is inherited. The emulator itself reads
	// AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_TIMEOUT (seconds) and
	// AWS_LAMBDA_FUNCTION_MEMORY_SIZE from it, and adds AWS_LAMBDA_RUNTIME_API.
	Env []string
	// Dir is the function's working directory, Lambda's /var/task; "" means
	// the directory of Bootstrap.
	Dir string
	// Log receives the emulator's and the function's output; nil discards it
	// (the tail still appears in errors).
	Log io.Writer
	// Bin is the aws-lambda-rie binary; "" means EnsureRIE(ctx, Root).
	Bin string
	// Root is the repository root; "" means RepoRoot(). Only used to find
	// scripts/ensure-rie.sh.
	Root string
}

// RIE is a running AWS Lambda Runtime Interface Emulator serving one
// function. Like Lambda, it starts the function's process at the first
// invocation (the cold start) and keeps it for the next ones; it serves one
// invocation at a time.
type RIE struct {
	proc    *proc
	port    int
	reports *reportLog
	client  *http.Client
}

// Report is the emulator's REPORT line for one invocation, as Lambda writes it
// to CloudWatch Logs.
type Report struct {
	RequestID string
	// Init is the function's start (the emulator's INIT REPORT durations
	// before the invocation): process start until its first request for an
	// event. It is 0 for a warm invocation.
	Init time.Duration
	// Duration is the invocation's duration.
	Duration time.Duration
}

// EnsureRIE returns the path of the pinned aws-lambda-rie binary, building it
// first with scripts/ensure-rie.sh if the cache does not have it (tens of
// seconds, once per version and cache). MONSYS_RIE_BIN, when set, names a
// binary to use instead. Build progress goes to stderr.
func EnsureRIE(ctx context.Context, root string) (string, error) {
	return ensureTool(ctx, root, cachedTool{name: "aws-lambda-rie", script: ensureRIEScript,
		versionEnv: "RIE_MODULE_VERSION", version: RIEModuleVersion, binEnv: "MONSYS_RIE_BIN"})
}

// StartRIE starts aws-lambda-rie for o.Bootstrap with its invoke endpoint and
// its Runtime API on free loopback ports, and returns once the invoke
// endpoint accepts connections. The function itself starts at the first
// Invoke. ctx bounds the start (and a first-time build) only.
func StartRIE(ctx context.Context, o RIEOptions) (*RIE, error) {
	if o.Bootstrap == "" {
		return nil, errors.New("emu: start rie: no bootstrap")
	}
	boot, err := filepath.Abs(o.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("emu: start rie: %w", err)
	}
	if fi, err := os.Stat(boot); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("emu: start rie: bootstrap %q is not an executable file (%v)", boot, err)
	}
	dir := o.Dir
	if dir == "" {
		dir = filepath.Dir(boot)
	}
	bin := o.Bin
	if bin == "" {
		root := o.Root
		if root == "" {
			if root, err = RepoRoot(); err != nil {
				return nil, fmt.Errorf("emu: start rie: %w", err)
			}
		}
		if bin, err = EnsureRIE(ctx, root); err != nil {
			return nil, err
		}
	}
	// A nil env would make exec inherit the caller's environment.
	env := append([]string{}, o.Env...)

	ctx, cancel := context.WithTimeout(ctx, rieStartTimeout)
	defer cancel()
	var r *RIE
	err = startOnFreePort(0, 2, func(ports []int) error {
		r = &RIE{port: ports[0], reports: &reportLog{}, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
		var out io.Writer = r.reports
		if o.Log != nil {
			out = io.MultiWriter(r.reports, lenientWriter{o.Log})
		}
		r.proc = &proc{
			name: "aws-lambda-rie",
			bin:  bin,
			args: []string{
				"--runtime-interface-emulator-address", "127.0.0.1:" + strconv.Itoa(ports[0]),
				"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
				boot,
			},
			env:   env,
			dir:   dir,
			log:   out,
			ports: ports,
		}
		return r.proc.start(ctx, r.probe)
	})
	if err != nil {
		return nil, fmt.Errorf("emu: start %w", err)
	}
	return r, nil
}

// Endpoint is the URL of the invoke endpoint.
func (r *RIE) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(r.port) + RIEInvokePath }

// Invoke sends one event, as Lambda's synchronous Invoke does, and returns
// the function's response payload. A handler that returns an error gives its
// error document ({"errorMessage":...,"errorType":...}) as the payload, as
// Lambda does; an init failure, a crash or a timeout gives ErrInvoke with the
// emulator's output.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Endpoint(), bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("emu: rie: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("emu: rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInvokeResponse+1))
	if err != nil {
		return nil, fmt.Errorf("emu: rie: read the response: %w", err)
	}
	if len(body) > maxInvokeResponse {
		return nil, fmt.Errorf("%w: response over %d bytes", ErrInvoke, maxInvokeResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d: %.300s\n--- output ---\n%s", ErrInvoke, resp.StatusCode, body, r.proc.output())
	}
	return body, nil
}

// Reports returns the REPORT lines written so far, oldest first.
func (r *RIE) Reports() []Report { return r.reports.all() }

// Output returns the tail of the emulator's and the function's output.
func (r *RIE) Output() string { return r.proc.output() }

// Stop ends the emulator and the function with SIGTERM, then SIGKILL after a
// grace period. Calling it again does nothing.
func (r *RIE) Stop() error {
	if err := r.proc.stop(); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	return nil
}

// probe checks that the emulator serves HTTP. It must not touch the invoke
// path: any method there is an invocation.
func (r *RIE) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(r.port)+"/", nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// The emulator's log lines that Reports reads: the REPORT line ends each
// invocation; INIT REPORT lines, before it, time the function's start. The
// REPORT line's own "Init Duration" times only the emulator handing the start
// over, not the start itself.
var (
	reportRE     = regexp.MustCompile(`REPORT RequestId: (\S+)\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms`)
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
)

// reportLog collects REPORT lines from the emulator's output.
type reportLog struct {
	mu      sync.Mutex
	partial []byte
	init    time.Duration // INIT REPORTs since the last REPORT
	reports []Report
}

func (l *reportLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		if m := initReportRE.FindSubmatch(line); m != nil {
			l.init += millis(m[1])
		} else if m := reportRE.FindSubmatch(line); m != nil {
			l.reports = append(l.reports, Report{RequestID: string(m[1]), Init: l.init, Duration: millis(m[2])})
			l.init = 0
		}
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 { // a line that long is no report
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

func (l *reportLog) all() []Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Report(nil), l.reports...)
}

// millis parses "12.34" (milliseconds); "" is 0.
func millis(b []byte) time.Duration {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0
	}
	return time.Duration(math.Round(f * float64(time.Millisecond)))
}
