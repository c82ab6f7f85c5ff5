package emutest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// PIDWithArgs is the pid of the one process whose command line holds flag
// and value in a row (such as "--port", "8000"), found via /proc: how a
// fault test finds an emulator to kill it as someone else would. It fails t
// if there is no such process, or more than one.
func PIDWithArgs(t testing.TB, flag, value string) int {
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
			if args[i] == flag && args[i+1] == value {
				if found != 0 {
					t.Fatalf("two processes with %s %s", flag, value)
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
		t.Fatalf("no process with %s %s", flag, value)
	}
	return found
}
