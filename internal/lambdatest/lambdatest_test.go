package lambdatest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/lambdatest"
)

// echoBin is testdata/echo built the way provided.al2023 functions are.
var echoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coldstart-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoBin, err = buildBootstrap(dir, "./testdata/echo")
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBootstrap builds pkg into dir/bootstrap with the flags used for
// provided.al2023 functions.
func buildBootstrap(dir, pkg string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command(gobin, "build", "-trimpath", "-tags=lambda.norpc", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

func TestMeasure(t *testing.T) {
	tests := []struct {
		name     string
		bin      string // "" means echoBin
		env      []string
		event    []byte
		want     []byte // FirstResponse
		wantErr  error
		wantText string // in the error
	}{
		{name: "ok/ready only"},
		{name: "ok/echo", event: []byte(`{"hello":"world","n":[1,2,3]}`), want: []byte(`{"hello":"world","n":[1,2,3]}`)},
		{name: "ok/echo string", event: []byte(`"ping"`), want: []byte(`"ping"`)},
		{name: "ok/caller env cannot redirect the runtime API", env: []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:1"}, event: []byte(`1`), want: []byte(`1`)},
		{name: "fail/handler error", event: []byte(`{"fail":"boom"}`), wantErr: lambdatest.ErrInvokeFailed, wantText: "boom"},
		{name: "fail/exits during init", env: []string{"ECHO_EXIT_IN_INIT=1"}, wantErr: lambdatest.ErrExited, wantText: "exiting during init as asked"},
		{name: "fail/missing binary", bin: filepath.Join(t.TempDir(), "bootstrap"), wantText: "lambdatest: start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin
			if bin == "" {
				bin = echoBin
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := lambdatest.Measure(ctx, bin, tc.env, tc.event)
			if tc.wantErr != nil || tc.wantText != "" {
				if err == nil {
					t.Fatalf("Measure() = %+v, want an error", res)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Measure() = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantText) {
					t.Errorf("Measure() = %v, want it to contain %q", err, tc.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Ready <= 0 {
				t.Errorf("Ready = %v, want > 0", res.Ready)
			}
			if string(res.FirstResponse) != string(tc.want) {
				t.Errorf("FirstResponse = %q, want %q", res.FirstResponse, tc.want)
			}
			if tc.event != nil && res.FirstInvoke < res.Ready {
				t.Errorf("FirstInvoke = %v, before Ready = %v", res.FirstInvoke, res.Ready)
			}
			t.Logf("ready after %v, first response after %v", res.Ready, res.FirstInvoke)
		})
	}
}

func TestMeasureContextCanceled(t *testing.T) {
	// sleep never calls the Runtime API, so only the context ends the wait.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	script := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+sleep+" 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := lambdatest.Measure(ctx, script, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Measure() = %v, want %v", err, context.DeadlineExceeded)
	}
}

func BenchmarkMeasure(b *testing.B) {
	event := []byte(`{"hello":"world"}`)
	var ready, invoke time.Duration
	for b.Loop() {
		res, err := lambdatest.Measure(b.Context(), echoBin, nil, event)
		if err != nil {
			b.Fatal(err)
		}
		ready += res.Ready
		invoke += res.FirstInvoke
	}
	b.ReportMetric(float64(ready.Microseconds())/float64(b.N), "µs-ready/op")
	b.ReportMetric(float64(invoke.Microseconds())/float64(b.N), "µs-first-invoke/op")
}
