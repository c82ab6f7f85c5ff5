package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/agent/daemon"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/local/hubtest"
)

// binary is the monsys-agent built once for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "monsys-agent-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "monsys-agent")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build monsys-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type setup struct {
	hub    *hubtest.Hub
	id     string
	token  string
	state  string
	config string // agent.json
	env    []string
}

func newSetup(t testing.TB) *setup {
	t.Helper()
	hub := hubtest.Start(t)
	id, token := hub.NewAgent(t)
	cfg := filepath.Join(t.TempDir(), "agent.json")
	s := &setup{hub: hub, id: id, token: token, state: filepath.Join(t.TempDir(), "state"), config: cfg}
	if err := os.WriteFile(cfg, []byte(`{"collectors":["metric"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(),
		"MONSYS_CONFIG="+cfg,
		"MONSYS_HUB_URL="+hub.URL,
		"MONSYS_TOKEN="+s.token,
		"MONSYS_CA_CERT="+hub.Profile.CACert,
		"MONSYS_ENROLL_CERT="+hub.Profile.EnrollCert,
		"MONSYS_ENROLL_KEY="+hub.Profile.EnrollKey,
		"MONSYS_STATE_DIR="+s.state,
	)
	return s
}

func (s *setup) cmd(args ...string) *exec.Cmd {
	c := exec.Command(binary, args...)
	c.Env = s.env
	return c
}

func (s *setup) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	c := s.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestCLI(t *testing.T) {
	s := newSetup(t)
	tests := []struct {
		name     string
		args     []string
		prepare  func(t *testing.T)
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "ok/version", args: []string{"version"}, wantOut: "monsys-agent " + version},
		{name: "fail/no command", args: nil, wantCode: 2, wantErr: "usage"},
		{name: "fail/unknown command", args: []string{"explode"}, wantCode: 2, wantErr: `unknown command "explode"`},
		{name: "fail/bad flag", args: []string{"once", "--interval", "never"}, wantCode: 1, wantErr: "--interval"},
		{name: "ok/register", args: []string{"register"}, wantOut: "signing key pinned: true"},
		{name: "ok/once", args: []string{"once"}},
		{name: "ok/status", args: []string{"status"}, wantOut: "pinned since"},
		{name: "fail/rotate-key while pinned", args: []string{"rotate-key"}, wantCode: 1, wantErr: "rotate-signing-key"},
		{name: "ok/rotate-key after admin unset", args: []string{"rotate-key"}, prepare: func(t *testing.T) {
			if _, err := s.hub.Admin().RotateSigningKey(context.Background(), s.id); err != nil {
				t.Fatal(err)
			}
		}, wantOut: "signing key pinned: true"},
		{name: "ok/once with new key", args: []string{"once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare(t)
			}
			out, errOut, code := s.run(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
		})
	}
	a := s.hub.Agent(t, s.id)
	if a.Batches != 2 || a.Forged != 1 {
		t.Fatalf("hub: %d batches, %d refused keys; want 2 and 1 (the refused rotation)", a.Batches, a.Forged)
	}
}

func TestKeyFileRefusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes")
	}
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr string
	}{
		{name: "fail/group readable", content: make([]byte, 32), mode: 0o640, wantErr: "permissions are too open"},
		{name: "fail/world readable", content: make([]byte, 32), mode: 0o644, wantErr: "permissions are too open"},
		{name: "fail/too short", content: make([]byte, 16), mode: 0o600, wantErr: "exactly 32 bytes"},
		{name: "fail/too long", content: make([]byte, 64), mode: 0o600, wantErr: "exactly 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			if err := os.MkdirAll(s.state, 0o700); err != nil {
				t.Fatal(err)
			}
			p := keyfile.Path(s.state)
			if err := os.WriteFile(p, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"run", "once", "register"} {
				_, errOut, code := s.run(t, cmd)
				if code != 1 || !strings.Contains(errOut, tt.wantErr) || !strings.Contains(errOut, p) || !strings.Contains(errOut, "refusing to start") {
					t.Fatalf("%s: exit %d, stderr: %s", cmd, code, errOut)
				}
			}
			if a := s.hub.Agent(t, s.id); a.Registrations != 0 || a.Batches != 0 {
				t.Fatal("agent talked to the hub with a refused key")
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != tt.mode {
				t.Fatal("agent changed the refused key file")
			}
		})
	}
	t.Run("ok/created 0600 on first start", func(t *testing.T) {
		s := newSetup(t)
		if _, errOut, code := s.run(t, "once"); code != 0 {
			t.Fatalf("once: exit %d: %s", code, errOut)
		}
		fi, err := os.Stat(keyfile.Path(s.state))
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
			t.Fatalf("key file %v, %v", fi, err)
		}
	})
}

// spooledSeqs reads the seqs of the batches in the state dir's spool.
func spooledSeqs(t *testing.T, state string) []int64 {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(state, daemon.SpoolDir))
	var seqs []int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".batch") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(state, daemon.SpoolDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := batch.Parse(raw, true)
		if err != nil {
			t.Fatalf("spool file %s: %v", e.Name(), err)
		}
		seqs = append(seqs, b.Header.Seq)
	}
	return seqs
}

// TestSIGKILLMidSend kills the agent with SIGKILL while the hub holds a
// send open, before or after storing it, then restarts it: every batch
// that reached the spool arrives exactly once.
func TestSIGKILLMidSend(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL")
	}
	for _, afterStore := range []bool{false, true} {
		name := "ok/killed before the hub stored the batch"
		if afterStore {
			name = "ok/killed after the hub stored the batch"
		}
		t.Run(name, func(t *testing.T) {
			s := newSetup(t)
			stalled := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			var mu sync.Mutex
			ingests := 0
			stall := func() bool {
				mu.Lock()
				ingests++
				n := ingests
				mu.Unlock()
				if n == 3 { // two batches go through first
					once.Do(func() { close(stalled) })
					<-release
					return true
				}
				return false
			}
			if afterStore {
				s.hub.SetAfter(func(r *http.Request, status int) {
					if r.URL.Path == hubtest.IngestPath && status == http.StatusAccepted {
						stall()
					}
				})
			} else {
				s.hub.SetFault(func(r *http.Request) *hubtest.Failure {
					if r.URL.Path == hubtest.IngestPath && stall() {
						// The hub gives up on the request without storing it.
						return &hubtest.Failure{Status: 503, Code: "unavailable"}
					}
					return nil
				})
			}
			c := s.cmd("run", "--interval", "1s")
			var logs bytes.Buffer
			c.Stderr = &logs
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-stalled:
			case <-time.After(60 * time.Second):
				_ = c.Process.Kill()
				t.Fatalf("agent never reached the third send; log:\n%s", logs.String())
			}
			if err := c.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = c.Wait()
			close(release)

			before := s.hub.Agent(t, s.id)
			spooled := spooledSeqs(t, s.state)
			if len(spooled) == 0 {
				t.Fatal("spool empty after the kill; the stalled batch must still be there")
			}
			stalledSeq := spooled[0]
			if afterStore && before.Seqs[len(before.Seqs)-1] != stalledSeq {
				t.Fatalf("hub stored seq %d last, spool head is %d", before.Seqs[len(before.Seqs)-1], stalledSeq)
			}
			s.hub.SetAfter(nil)
			s.hub.SetFault(nil)

			if _, errOut, code := s.run(t, "once"); code != 0 {
				t.Fatalf("once after kill: exit %d: %s", code, errOut)
			}
			after := s.hub.Agent(t, s.id)
			if left := spooledSeqs(t, s.state); len(left) != 0 {
				t.Fatalf("spool still holds %v", left)
			}
			if !slices.IsSorted(after.Seqs) || len(slices.Compact(slices.Clone(after.Seqs))) != len(after.Seqs) {
				t.Fatalf("hub accepted a seq twice or out of order: %v", after.Seqs)
			}
			for _, seq := range spooled {
				if n := countOf(after.Seqs, seq); n != 1 {
					t.Fatalf("spooled batch %d accepted %d times", seq, n)
				}
			}
			wantDup := 0
			if afterStore {
				wantDup = 1
			}
			if after.Duplicates != wantDup || after.Replays != 0 {
				t.Fatalf("duplicates %d (want %d), replays %d", after.Duplicates, wantDup, after.Replays)
			}
			// Every cycle sent one metric and one agent_status record.
			var metrics, statuses int
			for _, r := range after.Records {
				switch {
				case bytes.Contains(r, []byte(`"type":"metric"`)):
					metrics++
				case bytes.Contains(r, []byte(`"type":"agent_status"`)):
					statuses++
				}
			}
			if metrics != after.Batches || statuses != after.Batches {
				t.Fatalf("%d batches but %d metric and %d agent_status records", after.Batches, metrics, statuses)
			}
		})
	}
}

func countOf(s []int64, v int64) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestRunStopsOnSIGTERM checks the daemon exits cleanly when asked to.
func TestRunStopsOnSIGTERM(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals")
	}
	s := newSetup(t)
	c := s.cmd("run", "--interval", "1s")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for s.hub.Agent(t, s.id).Batches == 0 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	_ = c.Process.Signal(os.Interrupt)
	if err := c.Wait(); err != nil {
		t.Fatalf("run after SIGINT: %v", err)
	}
}
