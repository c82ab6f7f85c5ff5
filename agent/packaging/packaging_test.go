package packaging

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

func TestInstallScript(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell")
	}
	src := t.TempDir()
	files := map[string]string{}
	for _, n := range []string{"ca.pem", "enroll.pem", "enroll.key", "monsys-agent"} {
		p := filepath.Join(src, n)
		if err := os.WriteFile(p, []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
		files[n] = p
	}
	tokenFile := filepath.Join(src, "token")
	_ = os.WriteFile(tokenFile, []byte("ms_abcdefghijklmnopqrstuvwxyz0123456789\n"), 0o600)
	base := func(root string) []string {
		return []string{"install.sh", "--root", root, "--hub-url", "https://hub.example.com:8443", "--token-file", tokenFile,
			"--ca", files["ca.pem"], "--enroll-cert", files["enroll.pem"], "--enroll-key", files["enroll.key"], "--binary", files["monsys-agent"]}
	}
	tests := []struct {
		name    string
		args    func(root string) []string
		wantErr string
	}{
		{name: "ok/install", args: base},
		{name: "fail/http hub", args: func(r string) []string { a := base(r); a[4] = "http://hub"; return a }, wantErr: "https://"},
		{name: "fail/admin key as token", args: func(r string) []string {
			a := base(r)
			_ = os.WriteFile(filepath.Join(src, "bad"), []byte("msa_x"), 0o600)
			a[6] = filepath.Join(src, "bad")
			return a
		}, wantErr: "ms_"},
		{name: "fail/missing enrollment key", args: func(r string) []string { a := base(r); a[12] = filepath.Join(src, "nope"); return a }, wantErr: "missing or unreadable"},
		{name: "fail/unknown option", args: func(r string) []string { return append(base(r), "--frobnicate") }, wantErr: "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			out, err := exec.Command("sh", tt.args(root)...).CombinedOutput()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(string(out), tt.wantErr) {
					t.Fatalf("err %v, output %s; want failure mentioning %q", err, out, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("install.sh: %v\n%s", err, out)
			}
			for p, mode := range map[string]os.FileMode{
				"usr/bin/monsys-agent":                    0o755,
				"etc/monsys/token":                        0o640,
				"etc/monsys/enroll.key":                   0o640,
				"etc/monsys/agent.json":                   0o640,
				"etc/monsys/ca.pem":                       0o644,
				"etc/systemd/system/monsys-agent.service": 0o644,
			} {
				fi, err := os.Stat(filepath.Join(root, p))
				if err != nil || fi.Mode().Perm() != mode {
					t.Errorf("%s: %v, mode %v want %v", p, err, fi.Mode().Perm(), mode)
				}
			}
			var cfg map[string]string
			raw, _ := os.ReadFile(filepath.Join(root, "etc/monsys/agent.json"))
			if err := json.Unmarshal(raw, &cfg); err != nil || cfg["hub_url"] != "https://hub.example.com:8443" || cfg["state_dir"] != "/var/lib/monsys" {
				t.Errorf("agent.json = %s (%v)", raw, err)
			}
		})
	}
}
