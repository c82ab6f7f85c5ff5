package local

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHubStopsWhenItsDynaliteDies: a local hub whose own dynalite is killed
// by someone else stops, and Wait says which emulator ended and how.
func TestHubStopsWhenItsDynaliteDies(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a whole local hub")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	h, err := Start(ctx, Config{Dir: t.TempDir(), Addr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler), NoWitness: true})
	if err != nil {
		t.Fatalf("start local hub: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	u, err := url.Parse(h.dynalite.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	pid := processWithArgs(t, "--port", u.Port())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.Wait() }()
	select {
	case err := <-stopped:
		if err == nil || !strings.Contains(err.Error(), "dynalite stopped") || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("Wait: %v, want dynalite's exit named", err)
		}
	case <-ctx.Done():
		t.Fatal("the hub still serves after its dynalite died")
	}
}

// processWithArgs is the pid of the one process of this user whose command
// line holds the two arguments in a row.
func processWithArgs(t *testing.T, a, b string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	found := 0
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == a && args[i+1] == b {
				if found != 0 {
					t.Fatalf("two processes with %s %s", a, b)
				}
				pid, err := strconv.Atoi(filepath.Base(d))
				if err != nil {
					t.Fatal(err)
				}
				found = pid
			}
		}
	}
	if found == 0 {
		t.Fatalf("no process with %s %s", a, b)
	}
	return found
}
