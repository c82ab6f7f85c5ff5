package emu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// exitOutputLines is how much of a process's output an ExitError keeps.
	exitOutputLines = 30
)

// Emulator is what the users of an emulator process can ask of it while it
// runs: Dynalite, MinIO and Litewitness are Emulators.
type Emulator interface {
	// Exited is closed once the current process has exited, for any reason.
	Exited() <-chan struct{}
	// Err is nil while the process runs and after a Stop; after any other
	// exit (a crash, a signal from someone else) it is an *ExitError.
	Err() error
}

var (
	_ Emulator = (*Dynalite)(nil)
	_ Emulator = (*MinIO)(nil)
	_ Emulator = (*Litewitness)(nil)
)

// ExitError says that an emulator process exited while its users still
// counted on it: any exit that Stop or Restart did not ask for.
type ExitError struct {
	Name   string        // "dynalite", "minio", ...
	Pid    int           // the process that exited
	Status string        // how it ended: "exit status 1", "signal: killed"
	At     time.Time     // when the harness saw it exit, UTC
	Uptime time.Duration // from its start to its exit
	Output string        // the last lines of its output
}

// RetryableError tells the AWS SDK's retryer not to retry a request that
// failed with it: an emulator that exited does not come back by itself.
func (*ExitError) RetryableError() bool { return false }

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s (pid %d) exited unexpectedly at %s, %s after its start: %s\n--- last output of %s ---\n%s",
		e.Name, e.Pid, e.At.Format("2006-01-02T15:04:05.000Z"), e.Uptime.Round(time.Millisecond), e.Status, e.Name, e.Output)
}

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

	mu  sync.Mutex // serialises start and stop
	cur atomic.Pointer[run]
}

// run is one incarnation of the process.
type run struct {
	cmd      *exec.Cmd
	tail     *logtest.Tail
	started  time.Time
	stopping atomic.Bool   // set by stop before it signals the process
	done     chan struct{} // closed once Wait returns; err and exit are set before
	err      error
	exit     *ExitError // nil if the process exited because stop asked it to
}

// start launches the process and waits until probe succeeds, the process
// exits, or ctx ends; on failure the process is killed.
func (p *proc) start(ctx context.Context, probe func(context.Context) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.cur.Load(); cur != nil && !cur.exited() {
		return fmt.Errorf("%s: already running (pid %d)", p.name, cur.cmd.Process.Pid)
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
	started := make(chan error, 1)
	go p.startAndWait(r, started)
	if err := <-started; err != nil {
		return fmt.Errorf("%s: start %q: %w", p.name, p.bin, err)
	}
	p.cur.Store(r)

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

// startAndWait starts r's process, sends the outcome to started, then waits
// for the process to exit and records how, the moment it does, so that users
// learn why the emulator is gone (Err) instead of only seeing their
// connections refused.
//
// Linux sends the parent-death signal (sysProcAttr) when the thread that
// started the child ends, not the process, and Go ends a thread when a
// goroutine locked to it exits: an emulator started from such a goroutine
// (anyone's) died with it. This goroutine holds its thread from the start
// until the process has exited.
func (p *proc) startAndWait(r *run, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := r.cmd.Start(); err != nil {
		started <- err
		return
	}
	r.started = time.Now()
	started <- nil
	r.err = r.cmd.Wait()
	if !r.stopping.Load() {
		r.exit = &ExitError{
			Name:   p.name,
			Pid:    r.cmd.Process.Pid,
			Status: exitStatus(r.cmd.ProcessState, r.err),
			At:     time.Now().UTC(),
			Uptime: time.Since(r.started),
			Output: r.tail.Lines(exitOutputLines),
		}
	}
	close(r.done)
}

// exitStatus says how a process ended: "exit status 1", "signal: killed".
func exitStatus(ps *os.ProcessState, err error) string {
	if ps != nil {
		return ps.String()
	}
	return fmt.Sprint(err)
}

// closedChan is what Exited returns before any start.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// exitedChan is closed once the current run's process has exited.
func (p *proc) exitedChan() <-chan struct{} {
	if r := p.cur.Load(); r != nil {
		return r.done
	}
	return closedChan
}

// exitErr is the current run's *ExitError once it exited unasked, else nil.
func (p *proc) exitErr() error {
	r := p.cur.Load()
	if r == nil || !r.exited() || r.exit == nil {
		return nil
	}
	return r.exit
}

// stop ends the current run, if any. It is idempotent.
func (p *proc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur.Load()
	if r == nil {
		return nil
	}
	if err := r.stop(); err != nil {
		return fmt.Errorf("%s: stop: %w", p.name, err)
	}
	return nil
}

// output returns the tail of the current run's output.
func (p *proc) output() string {
	if r := p.cur.Load(); r != nil {
		return r.tail.Lines(40)
	}
	return ""
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
	r.stopping.Store(true)
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
