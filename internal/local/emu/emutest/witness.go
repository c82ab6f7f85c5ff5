package emutest

import (
	"os"
	"testing"

	"github.com/monsys/hub/internal/local/emu"
)

// EnvSkipLitewitness=1 makes LitewitnessForTest skip its test instead of
// building and starting litewitness.
const EnvSkipLitewitness = "MONSYS_SKIP_LITEWITNESS"

// LitewitnessForTest starts a litewitness of its own for t, named name, that
// accepts the log origin signed by logVKey, and stops it when t ends. A
// witness is cheap to start (an ssh-agent and one process), so tests do
// not share them: each witness's memory of the log is part of a test.
func LitewitnessForTest(t testing.TB, name, origin, logVKey string) *emu.Litewitness {
	t.Helper()
	if os.Getenv(EnvSkipLitewitness) == "1" {
		t.Skip(EnvSkipLitewitness + "=1: litewitness-backed test skipped")
	}
	var o emu.LitewitnessOptions
	o.Name = name
	if os.Getenv(EnvTestEmuLog) == "1" {
		o.Log = os.Stderr
	}
	w, err := emu.StartLitewitness(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Asked before Stop, which would make any exit an asked one.
		if err := w.Err(); err != nil {
			t.Errorf("emutest: litewitness %q stopped during the test: %v", name, err)
		}
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := w.AddLog(t.Context(), origin, logVKey); err != nil {
		t.Fatal(err)
	}
	return w
}
