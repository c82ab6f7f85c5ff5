package witness_test

import (
	"os"
	"testing"

	"github.com/monsys/hub/internal/local/emu/emutest"
)

// The litewitnesses are per test; no shared emulator is needed.
func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, 0)) }
