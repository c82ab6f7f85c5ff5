package local

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsys/hub/internal/local/emu/emutest"
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
	pid := emutest.PIDWithArgs(t, "--port", u.Port())
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
