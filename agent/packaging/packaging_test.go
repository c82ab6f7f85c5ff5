package packaging

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestUnitHardening checks the systemd unit keeps the directives the agent
// relies on.
func TestUnitHardening(t *testing.T) {
	raw, err := os.ReadFile("monsys-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = v
		}
	}
	for k, want := range map[string]string{
		"User":               "monsys",
		"StateDirectory":     "monsys",
		"StateDirectoryMode": "0700",
		"ProtectSystem":      "strict",
		"NoNewPrivileges":    "yes",
		"UMask":              "0077",
		"Restart":            "always",
	} {
		if set[k] != want {
			t.Errorf("%s=%q, want %q", k, set[k], want)
		}
	}
	if !strings.Contains(set["ExecStart"], "/usr/bin/monsys-agent run") {
		t.Errorf("ExecStart=%q", set["ExecStart"])
	}
}
