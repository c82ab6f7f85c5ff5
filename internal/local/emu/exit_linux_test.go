package emu_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// exitHelperEnv makes the test binary run the TestSharedExitHelper tests: a
// package run whose shared dynalite is killed halfway.
const exitHelperEnv = "EMU_TEST_EXIT_HELPER"

// TestSharedDynaliteExitIsReported runs a package (this test binary, in
// helper mode) whose shared dynalite is killed by its first test, and checks
// that the run says at once which process exited, how and when, with the
// end of its output, that the next test fails with that cause rather than a
// bare "connection refused", and that the run fails.
func TestSharedDynaliteExitIsReported(t *testing.T) {
	if os.Getenv(exitHelperEnv) == "1" {
		t.Skip("helper mode")
	}
	if os.Getenv(emutest.EnvTestDynamoEndpoint) != "" {
		t.Skipf("%s is set: no dynalite of the harness to kill", emutest.EnvTestDynamoEndpoint)
	}
	notice := regexp.MustCompile(`emutest: dynalite \(pid \d+\) exited unexpectedly at \d{4}-\d\d-\d\dT[0-9:.]+Z[^\n]*: signal: killed`)
	output := regexp.MustCompile(`(?s)last output of dynalite.*Dynalite listening at: http://127\.0\.0\.1:\d+`)
	summary := regexp.MustCompile(`emutest: FAIL: the shared dynalite stopped during the tests: dynalite \(pid \d+\) exited unexpectedly`)
	tests := []struct {
		name string
		run  string // the helper tests to run
		want []*regexp.Regexp
	}{
		{
			name: "fail/the next test names the exit",
			run:  "^TestSharedExitHelper",
			want: []*regexp.Regexp{
				notice, // at once, from the goroutine waiting on the process
				output,
				regexp.MustCompile(`(?s)=== RUN   TestSharedExitHelper2After\n.*exit_linux_test.go:\d+: [^\n]*dynalite \(pid \d+\) exited unexpectedly[^\n]*signal: killed.*--- FAIL: TestSharedExitHelper2After`),
				regexp.MustCompile(`(?s)--- FAIL: TestSharedExitHelper2After.*` + summary.String()),
			},
		},
		{
			name: "fail/the run fails though its tests pass",
			run:  "^TestSharedExitHelper1Kill$",
			want: []*regexp.Regexp{notice, output, regexp.MustCompile(`(?s)--- PASS: TestSharedExitHelper1Kill.*` + summary.String())},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run="+tc.run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), exitHelperEnv+"=1", emutest.EnvSkipMinIO+"=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("helper run: err = %v, want a failed run\n%s", err, out)
			}
			for _, want := range tc.want {
				if !want.Match(out) {
					t.Errorf("helper run output does not match %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "panic:") {
				t.Errorf("helper run panicked:\n%s", out)
			}
		})
	}
}

// TestSharedExitHelper1Kill kills the shared dynalite (helper mode only).
func TestSharedExitHelper1Kill(t *testing.T) {
	if os.Getenv(exitHelperEnv) != "1" {
		t.Skip("runs in TestSharedDynaliteExitIsReported's helper only")
	}
	db := emutest.DynamoForTest(t)
	killListener(t, emutest.DynamoEndpointForTest(t), syscall.SIGKILL)
	// A call fails once the harness has seen the exit (or after its grace).
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("ListTables() succeeded after dynalite was killed")
	}
}

// TestSharedExitHelper2After uses the shared dynalite after it died (helper
// mode only): it must fail, naming the exit.
func TestSharedExitHelper2After(t *testing.T) {
	if os.Getenv(exitHelperEnv) != "1" {
		t.Skip("runs in TestSharedDynaliteExitIsReported's helper only")
	}
	db := emutest.DynamoForTest(t)
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
}

// TestDynaliteExit checks what a Dynalite says of its own exits: nothing
// after Stop, the exit status, time and output after any other.
func TestDynaliteExit(t *testing.T) {
	tests := []struct {
		name    string
		stop    func(t *testing.T, d *emu.Dynalite)
		wantErr string // "" wants Err() == nil
	}{
		{name: "ok/stopped", stop: func(t *testing.T, d *emu.Dynalite) {
			if err := d.Stop(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fail/killed", wantErr: "signal: killed", stop: func(t *testing.T, d *emu.Dynalite) {
			killListener(t, d.Endpoint(), syscall.SIGKILL)
		}},
		{name: "fail/terminated by someone else", wantErr: "signal: terminated", stop: func(t *testing.T, d *emu.Dynalite) {
			killListener(t, d.Endpoint(), syscall.SIGTERM)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := emu.StartDynalite(t.Context(), emu.DynaliteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Stop() })
			select {
			case <-d.Exited():
				t.Fatalf("Exited() closed while dynalite runs: %v", d.Err())
			default:
			}
			if err := d.Err(); err != nil {
				t.Fatalf("Err() while dynalite runs = %v", err)
			}
			tc.stop(t, d)
			waitExited(t, d)
			err = d.Err()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Err() after Stop = %v, want nil", err)
				}
				return
			}
			var exit *emu.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("Err() = %v, want an *emu.ExitError", err)
			}
			if exit.Name != "dynalite" || exit.Pid == 0 || exit.At.IsZero() ||
				!strings.Contains(exit.Status, strings.TrimPrefix(tc.wantErr, "signal: ")) ||
				!strings.Contains(exit.Output, "Dynalite listening at") {
				t.Errorf("Err() = %#v, want dynalite's pid, %q, the time and its output", exit, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Err() = %q, want it to contain %q", err, tc.wantErr)
			}

			// A client that asks for the cause gets it with its error.
			db, cerr := emu.DynamoClient(t.Context(), d.Endpoint(), emu.WithExitCause(d))
			if cerr != nil {
				t.Fatal(cerr)
			}
			attempts := 0
			_, lerr := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) {
				o.HTTPClient = countingClient{o.HTTPClient, &attempts}
			})
			if !errors.As(lerr, &exit) || !strings.Contains(lerr.Error(), tc.wantErr) {
				t.Errorf("ListTables() after the exit = %v, want the exit as its cause", lerr)
			}
			// A dead emulator does not come back by itself: no retries.
			if attempts != 1 {
				t.Errorf("ListTables() after the exit made %d attempts, want 1", attempts)
			}
		})
	}
}

// killListener sends sig to the process listening on endpoint's port.
func killListener(t *testing.T, endpoint string, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(listenerPID(t, endpoint), sig); err != nil {
		t.Fatal(err)
	}
}

// waitExited waits for e's process to exit, failing t if that takes absurdly long.
func waitExited(t *testing.T, e emu.Emulator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	select {
	case <-e.Exited():
	case <-ctx.Done():
		t.Fatal("emulator still running 30s after it was stopped")
	}
}

// TestLitewitnessExit: a witness killed by someone else says so, with its
// output; one stopped by Stop does not.
func TestLitewitnessExit(t *testing.T) {
	if os.Getenv(emutest.EnvSkipLitewitness) == "1" {
		t.Skip(emutest.EnvSkipLitewitness + "=1")
	}
	tests := []struct {
		name  string
		kill  bool // SIGKILL from someone else; false: Stop
		agent bool // kill the witness's ssh-agent, not the witness
	}{
		{name: "ok/stopped"},
		{name: "fail/killed", kill: true},
		{name: "fail/agent-killed", kill: true, agent: true},
	}
	for _, tc := range tests {
		kill, agent := tc.kill, tc.agent
		t.Run(tc.name, func(t *testing.T) {
			w, err := emu.StartLitewitness(t.Context(), emu.LitewitnessOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Stop() })
			if err := w.Err(); err != nil {
				t.Fatalf("Err() while the witness runs = %v", err)
			}
			if kill {
				pid := emutest.PIDWithArgs(t, "-listen", strings.TrimPrefix(w.URL(), "http://"))
				if agent {
					pid = emutest.PIDWithArgs(t, "-a", argAfter(t, pid, "-ssh-agent"))
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			} else if err := w.Stop(); err != nil {
				t.Fatal(err)
			}
			waitExited(t, w)
			err = w.Err()
			var exit *emu.ExitError
			switch {
			case !kill && err != nil:
				t.Errorf("Err() after Stop = %v, want nil", err)
			case kill && !agent && (!errors.As(err, &exit) || exit.Name != "litewitness" || exit.Status != "signal: killed"):
				t.Errorf("Err() after a SIGKILL = %v, want litewitness's *ExitError, signal: killed", err)
			case agent && (!errors.As(err, &exit) || exit.Name != "ssh-agent" || exit.Status != "signal: killed"):
				t.Errorf("Err() after the agent's SIGKILL = %v, want ssh-agent's *ExitError, signal: killed", err)
			}
		})
	}
}

// TestMinIOExit: a MinIO killed by someone else says so, and a client that
// asks for the cause gets it with its error.
func TestMinIOExit(t *testing.T) {
	skipWithoutMinIO(t)
	m, err := emu.StartMinIO(t.Context(), emu.MinIOOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	pid := emutest.PIDWithArgs(t, "--address", strings.TrimPrefix(m.Endpoint(), "http://"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExited(t, m)
	var exit *emu.ExitError
	if err := m.Err(); !errors.As(err, &exit) || exit.Name != "minio" || exit.Pid != pid || exit.Status != "signal: killed" {
		t.Fatalf("Err() after a SIGKILL = %v, want minio's *ExitError, pid %d, signal: killed", err, pid)
	}
	user, pass := m.Credentials()
	c, err := emu.S3Client(t.Context(), m.Endpoint(), user, pass, emu.WithExitCause(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(t.Context(), &s3.ListBucketsInput{}); !errors.As(err, &exit) {
		t.Errorf("ListBuckets() after the exit = %v, want the exit as its cause", err)
	}
}

// countingClient counts the requests sent through it.
type countingClient struct {
	next dynamodb.HTTPClient
	n    *int
}

func (c countingClient) Do(req *http.Request) (*http.Response, error) {
	*c.n++
	return c.next.Do(req)
}

// argAfter is the argument that follows flag on process pid's command line.
func argAfter(t *testing.T, pid int, flag string) string {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(raw), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	t.Fatalf("process %d has no %s: %q", pid, flag, args)
	return ""
}
