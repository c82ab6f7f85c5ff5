package emu_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// helperEnv makes the test binary act as a parent that starts dynalite,
// prints its pid and waits to be killed.
const helperEnv = "EMU_TEST_PDEATHSIG_HELPER"

func TestDynaliteDiesWithParent(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		d, err := emu.StartDynalite(t.Context(), emu.DynaliteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("READY %s\n", d.Endpoint())
		time.Sleep(time.Minute)
		return
	}

	parent := exec.Command(os.Args[0], "-test.run=^TestDynaliteDiesWithParent$", "-test.v")
	// The helper needs no shared emulators of its own.
	parent.Env = append(os.Environ(), helperEnv+"=1",
		emutest.EnvTestDynamoEndpoint+"=http://127.0.0.1:1", emutest.EnvSkipMinIO+"=1")
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = parent.Process.Kill(); _ = parent.Wait() }()

	var endpoint string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
			endpoint = rest
			break
		}
	}
	if endpoint == "" {
		t.Fatal("helper exited without starting dynalite")
	}
	pid := listenerPID(t, endpoint)

	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("dynalite (pid %d) still alive 10s after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listenerPID finds the child of this test's helper that listens on
// endpoint's port, via /proc.
func listenerPID(t *testing.T, endpoint string) int {
	t.Helper()
	return emutest.PIDWithArgs(t, "--port", endpoint[strings.LastIndex(endpoint, ":")+1:])
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestDynaliteOutlivesTheThreadThatStartedIt: Linux sends the parent-death
// signal when the thread that started the child ends, not the process, and Go
// ends a thread when a goroutine locked to it exits. Whichever goroutine calls
// StartDynalite, dynalite must live until Stop.
func TestDynaliteOutlivesTheThreadThatStartedIt(t *testing.T) {
	type started struct {
		d   *emu.Dynalite
		err error
		tid int
	}
	ch := make(chan started, 1)
	go func() {
		// Locked and never unlocked: the thread ends with this goroutine.
		// The main thread is never ended: keep off it.
		for runtime.LockOSThread(); syscall.Gettid() == os.Getpid(); runtime.LockOSThread() {
			runtime.UnlockOSThread()
			runtime.Gosched()
		}
		d, err := emu.StartDynalite(context.Background(), emu.DynaliteOptions{})
		ch <- started{d, err, syscall.Gettid()}
	}()
	s := <-ch
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Cleanup(func() { _ = s.d.Stop() })

	task := "/proc/self/task/" + strconv.Itoa(s.tid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still there 30s after its goroutine exited", s.tid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The thread is gone: had its end sent dynalite a SIGKILL, dynalite could
	// no longer answer.
	db, err := emu.DynamoClient(t.Context(), s.d.Endpoint(), emu.WithExitCause(s.d))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables() once the starting thread ended: %v", err)
	}
}
