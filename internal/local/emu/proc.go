package emu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monsys/hub/internal/logtest"
)

const (
	// stopGrace is how long a SIGTERM gets before SIGKILL.
	stopGrace = 5 * time.Second
	// probeEvery is the readiness polling interval.
	probeEvery = 100 * time.Millisecond
	// portAttempts bounds retries on a fresh port when a chosen port was taken.
	portAttempts = 3
)

// errPortTaken marks a start that failed because the port was already bound.
var errPortTaken = errors.New("port already in use")

// proc supervises one emulator process: start, wait until a probe passes,
// stop with SIGTERM then SIGKILL, start again with the same arguments.
type proc struct {
	name string // for messages: "dynalite", "minio"
	bin  string
	args []string
	env  []string // nil: inherit
	dir  string   // working directory; "": the caller's
	log  io.Writer
	// ports are the loopback ports the process binds, checked before each
	// start so that a probe never mistakes another server on them for ours.
	ports []int

	mu  sync.Mutex
	cur *run
}

// run is one incarnation of the process.
type run struct {
	cmd  *exec.Cmd
	tail *logtest.Tail
	done chan struct{} // closed once Wait returns; err is set before
	err  error
}

// start launches the process and waits until probe succeeds, the process
// exits, or ctx ends; on failure the process is killed.
func (p *proc) start(ctx context.Context, probe func(context.Context) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && !p.cur.exited() {
		return fmt.Errorf("%s: already running (pid %d)", p.name, p.cur.cmd.Process.Pid)
	}
	for _, port := range p.ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("%s: %w: 127.0.0.1:%d: %w", p.name, errPortTaken, port, err)
		}
		_ = l.Close()
	}
	r := &run{tail: logtest.NewTail(16 << 10), done: make(chan struct{})}
	var out io.Writer = r.tail
	if p.log != nil {
		out = io.MultiWriter(r.tail, lenientWriter{p.log})
	}
	r.cmd = exec.Command(p.bin, p.args...)
	r.cmd.Env = p.env
	r.cmd.Dir = p.dir
	r.cmd.Stdout = out
	r.cmd.Stderr = out
	r.cmd.SysProcAttr = sysProcAttr()
	// A grandchild holding the output pipe must not hang Wait.
	r.cmd.WaitDelay = 2 * time.Second
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %q: %w", p.name, p.bin, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	p.cur = r

	if err := r.waitReady(ctx, probe); err != nil {
		_ = r.stop() // the start error says more than a failed kill would
		out := r.tail.Lines(40)
		if portTaken(out) {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return fmt.Errorf("%s: %s %s: %w\n--- output ---\n%s", p.name, p.bin, strings.Join(p.args, " "), err, out)
	}
	return nil
}

// stop ends the current run, if any. It is idempotent.
func (p *proc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	if err := p.cur.stop(); err != nil {
		return fmt.Errorf("%s: stop: %w", p.name, err)
	}
	return nil
}

// output returns the tail of the current run's output.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return ""
	}
	return p.cur.tail.Lines(40)
}

// restart stops the process and starts it again on the same port and
// directory, giving the start at most timeout; prepare, if not nil, runs in
// between.
func (p *proc) restart(ctx context.Context, timeout time.Duration, probe func(context.Context) error, prepare func() error) error {
	if err := p.stop(); err != nil {
		return fmt.Errorf("emu: restart %w", err)
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return fmt.Errorf("emu: restart: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.start(ctx, probe); err != nil {
		return fmt.Errorf("emu: restart %w", err)
	}
	return nil
}

// portTaken reports whether emulator output says its port was bound already
// (node: EADDRINUSE; MinIO: "Specified port is already in use").
func portTaken(output string) bool {
	out := strings.ToLower(output)
	return strings.Contains(out, "eaddrinuse") ||
		strings.Contains(out, "address already in use") ||
		strings.Contains(out, "port is already in use")
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *run) waitReady(ctx context.Context, probe func(context.Context) error) error {
	// A probe must not outlive the process: a port held by someone else may
	// accept connections and never answer.
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	go func() {
		select {
		case <-r.done:
			cancelRun()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil && !r.exited() {
			return nil
		}
		select {
		case <-ctx.Done():
			if r.exited() {
				return fmt.Errorf("exited before it was ready: %v", r.err)
			}
			return fmt.Errorf("not ready: %w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace.
func (r *run) stop() error {
	if r.exited() {
		return nil
	}
	if err := signalGroup(r.cmd.Process, false); err != nil {
		return err
	}
	select {
	case <-r.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := signalGroup(r.cmd.Process, true); err != nil {
		return err
	}
	<-r.done
	return nil
}

// startOnFreePort calls start with n distinct loopback ports, the first one
// fixed when fixed is not 0, and retries with fresh ports when another process
// took a chosen one first.
func startOnFreePort(fixed, n int, start func(ports []int) error) error {
	attempts := portAttempts
	if fixed != 0 && n == 1 {
		attempts = 1 // nothing to choose differently next time
	}
	var err error
	for range attempts {
		ports := make([]int, 0, n)
		if fixed != 0 {
			ports = append(ports, fixed)
		}
		for len(ports) < n {
			port, ferr := FreePort()
			if ferr != nil {
				return ferr
			}
			if !slices.Contains(ports, port) {
				ports = append(ports, port)
			}
		}
		if err = start(ports); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// lenientWriter drops write errors: a failing log must not stall the
// emulator's output pipe.
type lenientWriter struct{ w io.Writer }

func (l lenientWriter) Write(p []byte) (int, error) {
	_, _ = l.w.Write(p)
	return len(p), nil
}
