package packaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The tests below run install.sh the way the README and the seed show it:
// fetched with curl from the published base URL and piped into bash, as
// root would (`curl -fsSL <base>/install.sh | sudo bash -s -- ...`). Two
// overrides keep them off this machine's system: MONSYS_INSTALL_ROOT (a
// scratch root) and MONSYS_SYSTEMCTL (a shim that records its arguments).

const testToken = "ms_abcdefghijklmnopqrstuvwxyz0123456789"

// host is one scratch machine: its root, a systemctl shim and the operator's
// files (token, CA, enrollment certificate and key) in its home.
type host struct {
	root, home, log, shim string
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{root: filepath.Join(t.TempDir(), "root"), home: t.TempDir()}
	if err := os.MkdirAll(h.root, 0o755); err != nil {
		t.Fatal(err)
	}
	h.log = filepath.Join(h.home, "systemctl.log")
	h.shim = filepath.Join(h.home, "systemctl")
	shim := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + h.log + "'\n"
	for name, content := range map[string]string{
		"systemctl":  shim,
		"token.txt":  testToken + "\n",
		"ca.pem":     "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
		"enroll.pem": "-----BEGIN CERTIFICATE-----\nenroll\n-----END CERTIFICATE-----\n",
		"enroll.key": "-----BEGIN PRIVATE KEY-----\nenroll\n-----END PRIVATE KEY-----\n",
	} {
		if err := os.WriteFile(filepath.Join(h.home, name), []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *host) file(name string) string { return filepath.Join(h.home, name) }

// settings are the five first-install flags, with the operator's files.
func (h *host) settings() []string {
	return []string{"--hub-url", "https://hub.example.com:8443", "--token-file", h.file("token.txt"),
		"--ca", h.file("ca.pem"), "--enroll-cert", h.file("enroll.pem"), "--enroll-key", h.file("enroll.key")}
}

// calls returns what the systemctl shim was asked, one call a line.
func (h *host) calls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(h.log)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pipe runs `curl -fsSL <base>/install.sh | bash -s -- args...` as root
// would, with a clean environment plus env.
func (h *host) pipe(t *testing.T, r *release, env []string, args ...string) (string, error) {
	t.Helper()
	return h.shell(t, r, `curl -fsSL "$TEST_BASE/install.sh" | bash -s -- "$@"`, env, args...)
}

// shell runs script with bash -o pipefail in the operator's home, with a
// clean environment plus env.
func (h *host) shell(t *testing.T, r *release, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-o", "pipefail", "-c", script, "install"}, args...)...)
	cmd.Dir = h.home
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + h.home,
		"TEST_BASE=" + r.url,
		"CURL_CA_BUNDLE=" + r.caFile,
		"MONSYS_INSTALL_ROOT=" + h.root,
		"MONSYS_SYSTEMCTL=" + h.shim,
	}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// snapshot maps every path under root to its type, mode and content hash.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:])
		}
		m[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, v := range after {
		if before[p] != v {
			t.Errorf("%s: %s is %q, was %q", what, p, v, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s is gone", what, p)
		}
	}
}

// checkInstalled checks a complete install: the published binary (and it
// runs), the unit, the operator's settings with their modes.
func checkInstalled(t *testing.T, r *release, h *host, hubURL string) {
	t.Helper()
	for p, mode := range map[string]os.FileMode{
		"usr/bin/monsys-agent":                    0o755,
		"etc/monsys":                              0o750 | os.ModeDir,
		"etc/monsys/token":                        0o640,
		"etc/monsys/enroll.key":                   0o640,
		"etc/monsys/agent.json":                   0o640,
		"etc/monsys/ca.pem":                       0o644,
		"etc/monsys/enroll.pem":                   0o644,
		"etc/systemd/system/monsys-agent.service": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(h.root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	got, _ := os.ReadFile(filepath.Join(h.root, "usr/bin/monsys-agent"))
	if !bytes.Equal(got, r.binary(t)) {
		t.Errorf("usr/bin/monsys-agent is not the published binary")
	}
	unit, _ := os.ReadFile(filepath.Join(h.root, "etc/systemd/system/monsys-agent.service"))
	want, _ := os.ReadFile("monsys-agent.service")
	if !bytes.Equal(unit, want) {
		t.Errorf("the installed unit is not agent/packaging/monsys-agent.service")
	}
	if tok, _ := os.ReadFile(filepath.Join(h.root, "etc/monsys/token")); string(tok) != testToken+"\n" {
		t.Errorf("token = %q", tok)
	}
	var cfg map[string]string
	raw, _ := os.ReadFile(filepath.Join(h.root, "etc/monsys/agent.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["hub_url"] != hubURL || cfg["state_dir"] != "/var/lib/monsys" ||
		cfg["token_file"] != "/etc/monsys/token" || cfg["ca_cert"] != "/etc/monsys/ca.pem" {
		t.Errorf("agent.json = %s (%v)", raw, err)
	}
	if r.arch == runtime.GOARCH {
		out, err := exec.Command(filepath.Join(h.root, "usr/bin/monsys-agent"), "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "monsys-agent "+r.version+" linux/"+r.arch) {
			t.Errorf("installed monsys-agent version: %v %q", err, out)
		}
	}
}

const (
	installCalls = "daemon-reload\nenable --now monsys-agent.service\n"
	upgradeCalls = "daemon-reload\nrestart monsys-agent.service\n"
)

func TestPipedFirstInstall(t *testing.T) {
	r := built(t)
	needTools(t, "curl", "bash")
	tests := []struct {
		name string
		env  func(h *host) []string
		args func(h *host) []string
		hub  string
	}{
		{name: "ok/flags", args: (*host).settings, hub: "https://hub.example.com:8443"},
		{name: "ok/environment", env: func(h *host) []string {
			return []string{"MONSYS_HUB_URL=https://hub.example.org", "MONSYS_TOKEN_FILE=" + h.file("token.txt"),
				"MONSYS_CA_CERT=" + h.file("ca.pem"), "MONSYS_ENROLL_CERT=" + h.file("enroll.pem"), "MONSYS_ENROLL_KEY=" + h.file("enroll.key")}
		}, hub: "https://hub.example.org"},
		{name: "ok/token in the environment, version pinned by flag", env: func(h *host) []string {
			return []string{"MONSYS_TOKEN=" + testToken}
		}, args: func(h *host) []string {
			return []string{"--version", r.version, "--hub-url", "https://hub.example.net", "--ca", h.file("ca.pem"),
				"--enroll-cert", h.file("enroll.pem"), "--enroll-key", h.file("enroll.key")}
		}, hub: "https://hub.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			var env, args []string
			if tt.env != nil {
				env = tt.env(h)
			}
			if tt.args != nil {
				args = tt.args(h)
			}
			out, err := h.pipe(t, r, env, args...)
			if err != nil {
				t.Fatalf("install: %v\n%s", err, out)
			}
			checkInstalled(t, r, h, tt.hub)
			if got := h.calls(t); got != installCalls {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, installCalls)
			}
		})
	}
}

// TestPipedUpgrade: a second run without arguments replaces the binary
// and the unit, keeps every setting and restarts the service.
func TestPipedUpgrade(t *testing.T) {
	r := built(t)
	needTools(t, "curl", "bash")
	h := newHost(t)
	if out, err := h.pipe(t, r, nil, h.settings()...); err != nil {
		t.Fatalf("first install: %v\n%s", err, out)
	}
	bin := filepath.Join(h.root, "usr/bin/monsys-agent")
	unit := filepath.Join(h.root, "etc/systemd/system/monsys-agent.service")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho old agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The operator's own edits to the settings survive.
	cfg := filepath.Join(h.root, "etc/monsys/agent.json")
	if err := os.WriteFile(cfg, []byte(`{"hub_url":"https://edited.example.com","token_file":"/etc/monsys/token","ca_cert":"/etc/monsys/ca.pem","state_dir":"/var/lib/monsys"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	settings := snapshot(t, filepath.Join(h.root, "etc/monsys"))
	_ = os.Remove(h.log)

	out, err := h.pipe(t, r, nil)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	sameTree(t, "/etc/monsys after the upgrade", settings, snapshot(t, filepath.Join(h.root, "etc/monsys")))
	checkInstalled(t, r, h, "https://edited.example.com")
	if got := h.calls(t); got != upgradeCalls {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, upgradeCalls)
	}
	if !strings.Contains(out, "upgraded") {
		t.Errorf("output does not say upgraded:\n%s", out)
	}
}

// TestPipedRefusals: each refusal says why and changes nothing, on a clean
// host and on an installed one (whose agent keeps running: no systemctl).
func TestPipedRefusals(t *testing.T) {
	r := built(t)
	needTools(t, "curl", "bash")
	mirror := func(how string) []string { return []string{"MONSYS_RELEASE_URL=" + r.url + "/t/" + how} }
	tests := []struct {
		name      string
		installed bool // run on a host where the agent is already installed
		env       []string
		args      func(h *host) []string
		wantErr   string
	}{
		{name: "fail/tampered binary", env: mirror("binary"), args: (*host).settings, wantErr: "checksum mismatch for monsys-agent_linux_"},
		{name: "fail/tampered binary on upgrade", installed: true, env: mirror("binary"), wantErr: "checksum mismatch for monsys-agent_linux_"},
		{name: "fail/tampered unit", env: mirror("unit"), args: (*host).settings, wantErr: "checksum mismatch for monsys-agent.service"},
		{name: "fail/tampered unit on upgrade", installed: true, env: mirror("unit"), wantErr: "checksum mismatch for monsys-agent.service"},
		{name: "fail/binary not in SHA256SUMS", env: mirror("unlisted"), args: (*host).settings, wantErr: "not listed in"},
		{name: "fail/no SHA256SUMS", env: mirror("nosums"), args: (*host).settings, wantErr: "SHA256SUMS"},
		{name: "fail/no SHA256SUMS on upgrade", installed: true, env: mirror("nosums"), wantErr: "SHA256SUMS"},
		{name: "fail/path in the latest version", env: mirror("badversion"), args: (*host).settings, wantErr: "bad version"},
		{name: "fail/unknown version", args: func(h *host) []string { return append(h.settings(), "--version", "9.9.9") }, wantErr: "9.9.9"},
		{name: "fail/plain http release URL", env: []string{"MONSYS_RELEASE_URL=http://127.0.0.1:1"}, args: (*host).settings, wantErr: "https://"},
		{name: "fail/nothing installed and no settings", wantErr: "first install needs --hub-url"},
		{name: "fail/settings on an installed host", installed: true, args: (*host).settings, wantErr: "already installed"},
		{name: "fail/settings from the environment on an installed host", installed: true, env: []string{"MONSYS_HUB_URL=https://other.example.com"}, wantErr: "already installed"},
		{name: "fail/missing enrollment key", args: func(h *host) []string {
			a := h.settings()
			return a[:len(a)-2]
		}, wantErr: "--enroll-key"},
		{name: "fail/unreadable CA", args: func(h *host) []string {
			return append(h.settings(), "--ca", h.file("nope.pem"))
		}, wantErr: "nope.pem"},
		{name: "fail/http hub", args: func(h *host) []string {
			return append(h.settings(), "--hub-url", "http://hub.example.com")
		}, wantErr: "--hub-url must start with https://"},
		{name: "fail/quote in hub URL", args: func(h *host) []string {
			return append(h.settings(), "--hub-url", `https://hub.example.com/"x`)
		}, wantErr: "--hub-url"},
		{name: "fail/admin key as token", env: []string{"MONSYS_TOKEN=msa_abcdefghijklmnopqrstuvwxyz0123456789"}, args: func(h *host) []string {
			a := h.settings()
			return append(a[:2], a[4:]...)
		}, wantErr: "must start with ms_"},
		{name: "fail/token with a carriage return", env: []string{"MONSYS_TOKEN=" + testToken + "\r"}, args: func(h *host) []string {
			a := h.settings()
			return append(a[:2], a[4:]...)
		}, wantErr: "token"},
		{name: "fail/unknown option", args: func(h *host) []string { return append(h.settings(), "--frobnicate") }, wantErr: "unknown option --frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.installed {
				if out, err := h.pipe(t, r, nil, h.settings()...); err != nil {
					t.Fatalf("first install: %v\n%s", err, out)
				}
				_ = os.Remove(h.log)
			}
			before := snapshot(t, h.root)
			var args []string
			if tt.args != nil {
				args = tt.args(h)
			}
			out, err := h.pipe(t, r, tt.env, args...)
			if err == nil || !strings.Contains(out, tt.wantErr) {
				t.Fatalf("err %v, output:\n%s\nwant a failure mentioning %q", err, out, tt.wantErr)
			}
			sameTree(t, "after a refusal", before, snapshot(t, h.root))
			if got := h.calls(t); got != "" {
				t.Errorf("systemctl was called after a refusal:\n%s", got)
			}
		})
	}
}

// TestInstalledFromDeb: install.sh leaves a host whose agent came from the
// .deb to dpkg.
func TestInstalledFromDeb(t *testing.T) {
	r := built(t)
	needTools(t, "curl", "bash")
	h := newHost(t)
	info := filepath.Join(h.root, "var/lib/dpkg/info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(info, "monsys-agent.list"), []byte("/usr/bin/monsys-agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, h.root)
	out, err := h.pipe(t, r, nil)
	if err == nil || !strings.Contains(out, "installed from the .deb") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	sameTree(t, "after a refusal", before, snapshot(t, h.root))
}

// TestLocalBinary: from a checkout, with a binary built there, nothing is
// downloaded (--binary), and the unit beside the script is installed.
func TestLocalBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell")
	}
	needTools(t, "sh")
	h := newHost(t)
	bin := h.file("monsys-agent")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho local agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{"install.sh", "--root", h.root, "--binary", bin}, h.settings()...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MONSYS_SYSTEMCTL=" + h.shim}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(h.root, "usr/bin/monsys-agent"))
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(got, want) {
		t.Errorf("installed binary %q, want the local one", got)
	}
	unit, _ := os.ReadFile(filepath.Join(h.root, "etc/systemd/system/monsys-agent.service"))
	wantUnit, _ := os.ReadFile("monsys-agent.service")
	if !bytes.Equal(unit, wantUnit) {
		t.Errorf("the installed unit is not monsys-agent.service")
	}
	if got := h.calls(t); got != installCalls {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, installCalls)
	}
}

// TestReadmeInstall runs the commands of the README's "Installing the
// agent" as written, but for two substitutions: the test server for
// https://get.example.com, and no sudo (the scratch root and the systemctl
// shim stand in for root's system; MONSYS_* in the environment of bash
// reach the script as they do through sudo env).
func TestReadmeInstall(t *testing.T) {
	r := built(t)
	needTools(t, "curl", "bash")
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Installing the agent\n")
	if !ok {
		t.Fatal(`README.md has no "## Installing the agent" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for i, part := range strings.Split(section, "```") {
		if i%2 == 1 {
			blocks = append(blocks, strings.TrimSpace(strings.TrimPrefix(part, "sh\n")))
		}
	}
	if len(blocks) != 4 {
		t.Fatalf("the section has %d command blocks, want 4 (build, install with flags, with variables, upgrade):\n%q", len(blocks), blocks)
	}
	build, script, _ := strings.Cut(blocks[0], " ")
	if fi, err := os.Stat(filepath.Join(repoRoot(), build)); err != nil || fi.Mode()&0o111 == 0 || !strings.HasPrefix(script, "https://get.example.com ") {
		t.Errorf("build command %q: %v %v", blocks[0], err, fi)
	}
	ca := "/etc/ssl/certs/ca-certificates.crt"
	asWritten := func(h *host, block string) string {
		for _, f := range []string{"acme-enroll.pem", "acme-enroll.key"} {
			b, _ := os.ReadFile(h.file(strings.Replace(f, "acme-", "", 1)))
			if err := os.WriteFile(h.file(f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		block = strings.ReplaceAll(block, "https://get.example.com", r.url)
		block = strings.ReplaceAll(block, "| sudo ", "| ")
		if _, err := os.Stat(ca); err != nil {
			block = strings.ReplaceAll(block, ca, h.file("ca.pem")) // a host without the public roots
		}
		return block
	}

	h := newHost(t)
	if out, err := h.shell(t, r, asWritten(h, blocks[1]), nil); err != nil {
		t.Fatalf("README first install: %v\n%s", err, out)
	}
	checkInstalled(t, r, h, "https://hub.example.com")
	if got := h.calls(t); got != installCalls {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, installCalls)
	}
	_ = os.Remove(h.log)
	if out, err := h.shell(t, r, asWritten(h, blocks[3]), nil); err != nil || !strings.Contains(out, "upgraded") {
		t.Fatalf("README upgrade: %v\n%s", err, out)
	}
	if got := h.calls(t); got != upgradeCalls {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, upgradeCalls)
	}

	h = newHost(t)
	if out, err := h.shell(t, r, asWritten(h, blocks[2]), nil); err != nil {
		t.Fatalf("README first install from variables: %v\n%s", err, out)
	}
	checkInstalled(t, r, h, "https://hub.example.com")
}
