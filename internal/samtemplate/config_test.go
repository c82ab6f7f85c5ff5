package samtemplate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// samconfig reads samconfig.toml through Python's tomllib (Python 3.11+;
// python3 is a project prerequisite for verify.py). No TOML module is added
// to go.mod for one test.
func samconfig(t *testing.T) map[string]map[string]map[string]map[string]any {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	cmd := exec.Command(py, "-c", `import json, sys
try:
    import tomllib
except ImportError:
    sys.exit(3)
d = tomllib.load(open("samconfig.toml", "rb"))
d.pop("version", None)
print(json.dumps(d))`)
	cmd.Dir = root
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		t.Skip("python3 has no tomllib (needs 3.11+)")
	}
	if err != nil {
		t.Fatalf("read samconfig.toml: %v", err)
	}
	var cfg map[string]map[string]map[string]map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func overrides(t *testing.T, env map[string]map[string]map[string]any) map[string]string {
	t.Helper()
	s, _ := env["deploy"]["parameters"]["parameter_overrides"].(string)
	out := map[string]string{}
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("parameter override %q is not Key=Value", kv)
		}
		out[k] = v
	}
	return out
}

func TestSamconfig(t *testing.T) {
	cfg := samconfig(t)
	tpl := load(t)
	want := map[string]map[string]string{
		"default":    {"InsecureNoClientCert": "false", "PackSigningMode": "kms"},
		"localstack": {"InsecureNoClientCert": "true", "PackSigningMode": "kms-envelope", "S3PathStyle": "true"},
	}
	for name, must := range want {
		t.Run("ok/"+name, func(t *testing.T) {
			env, ok := cfg[name]
			if !ok {
				t.Fatalf("samconfig.toml has no %s environment", name)
			}
			ov := overrides(t, env)
			for k, v := range ov {
				p, ok := tpl.Parameters[k]
				if !ok {
					t.Errorf("override %s: template.yaml has no such parameter", k)
					continue
				}
				if allowed := p["AllowedValues"]; allowed != nil {
					found := false
					for _, a := range allowed.([]any) {
						found = found || a == v
					}
					if !found {
						t.Errorf("override %s=%s: not one of %v", k, v, allowed)
					}
				}
			}
			for k, v := range must {
				if ov[k] != v {
					t.Errorf("%s: %s=%q, want %q", name, k, ov[k], v)
				}
			}
			// sam build's cache keys on CodeUri (functions/<name>) only:
			// with cached = true an edit under internal/ ships the old binary.
			if c, ok := env["build"]["parameters"]["cached"]; ok && c != false {
				t.Errorf("%s: build cached = %v: a change under internal/ would deploy a stale bootstrap", name, c)
			}
			if caps, _ := env["deploy"]["parameters"]["capabilities"].(string); !strings.Contains(caps, "CAPABILITY_IAM") {
				t.Errorf("%s: deploy capabilities %q lack CAPABILITY_IAM (the template creates roles)", name, caps)
			}
		})
	}
}

// The compose file pins a LocalStack tag that runs without an auth token
// and mounts the ready.d hooks, which are executable.
func TestLocalStackCompose(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "localstack", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string
			Volumes     []string
			Environment map[string]string
		}
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	ls, ok := c.Services["localstack"]
	if !ok {
		t.Fatal("no localstack service")
	}
	if ls.Image != "localstack/localstack:4.14.0" {
		t.Errorf("image %q, want localstack/localstack:4.14.0 (the last tag without an auth token; see localstack/README.md)", ls.Image)
	}
	if _, ok := ls.Environment["LOCALSTACK_AUTH_TOKEN"]; ok {
		t.Error("the compose file must not need an auth token")
	}
	mounted := false
	for _, v := range ls.Volumes {
		mounted = mounted || strings.HasPrefix(v, "./ready.d:/etc/localstack/init/ready.d")
	}
	if !mounted {
		t.Error("ready.d is not mounted at /etc/localstack/init/ready.d")
	}
	hooks, _ := filepath.Glob(filepath.Join(root, "localstack", "ready.d", "*.sh"))
	if len(hooks) == 0 {
		t.Fatal("no ready.d hooks")
	}
	for _, h := range hooks {
		if st, err := os.Stat(h); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", h)
		}
	}
}

// deploy/Makefile refuses to build without ARTIFACTS_DIR (sam build sets it)
// instead of writing /bootstrap.
func TestDeployMakefileNeedsArtifactsDir(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	tpl := load(t)
	for _, f := range tpl.Functions() {
		t.Run("fail/"+f.LogicalID, func(t *testing.T) {
			cmd := exec.Command(mk, "-n", "-f", filepath.Join("deploy", "Makefile"), "build-"+f.LogicalID)
			cmd.Dir = root
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
				return strings.HasPrefix(kv, "ARTIFACTS_DIR=") || strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=")
			})
			out, err := cmd.CombinedOutput()
			if err == nil || strings.Contains(string(out), "-o /bootstrap") {
				t.Fatalf("make build-%s without ARTIFACTS_DIR: err %v, output:\n%s", f.LogicalID, err, out)
			}
			if !strings.Contains(string(out), "ARTIFACTS_DIR") {
				t.Errorf("the refusal does not name ARTIFACTS_DIR:\n%s", out)
			}
		})
		t.Run("ok/"+f.LogicalID, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(mk, "-n", "-f", filepath.Join("deploy", "Makefile"), "build-"+f.LogicalID, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "-o "+dir+"/bootstrap") {
				t.Fatalf("make -n build-%s ARTIFACTS_DIR=%s: %v\n%s", f.LogicalID, dir, err, out)
			}
		})
	}
}
