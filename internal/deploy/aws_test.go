package deploy_test

// Checks that come from AWS's side rather than from the project's reading of
// AWS: the real SAM transform (samtranslator, installed with cfn-lint), the
// resource types' registry schemas cfn-lint ships, and the permissions
// CloudFormation's resource handlers call (testdata/cfn-handlers.json).

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/deploy"
)

// cfnPython returns the Python interpreter that runs cfn-lint: it has
// samtranslator and cfn-lint's schemas. It skips the test, saying why, only
// where cfn-lint is not installed.
func cfnPython(t *testing.T) string {
	t.Helper()
	py, err := findCfnPython()
	if err != nil {
		t.Skipf("AWS-side check skipped: %v", err)
	}
	return py
}

var cfnPy struct {
	once sync.Once
	py   string
	err  error
}

func findCfnPython() (string, error) {
	cfnPy.once.Do(func() { cfnPy.py, cfnPy.err = locateCfnPython() })
	return cfnPy.py, cfnPy.err
}

func locateCfnPython() (string, error) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		return "", errors.New("cfn-lint is not installed (it brings samtranslator and the CloudFormation schemas)")
	}
	var candidates []string
	script := lint
	if !isPythonScript(script) {
		// A version-manager shim (pyenv): ask it for the real script.
		if out, err := exec.Command("pyenv", "which", "cfn-lint").Output(); err == nil {
			script = strings.TrimSpace(string(out))
		}
	}
	if py := shebang(script); py != "" {
		candidates = append(candidates, py)
	}
	candidates = append(candidates, "python3")
	for _, py := range candidates {
		if exec.Command(py, "-c", "import cfnlint, samtranslator").Run() == nil {
			return py, nil
		}
	}
	return "", errors.New("cfn-lint is installed, but no Python that imports cfnlint and samtranslator was found (tried " +
		strings.Join(candidates, ", ") + ")")
}

func shebang(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return ""
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return fields[1]
	}
	return fields[0]
}

func isPythonScript(path string) bool {
	return strings.Contains(filepath.Base(shebang(path)), "python")
}

// cfnData runs scripts/cfnlint-data.py with cfn-lint's Python.
func cfnData(t *testing.T, args ...string) []byte {
	t.Helper()
	py := cfnPython(t)
	cmd := exec.Command(py, append([]string{filepath.Join("scripts", "cfnlint-data.py")}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("cfnlint-data.py %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("cfnlint-data.py %v: %v", args, err)
	}
	return out
}

// transformed is template.yaml after the real SAM transform.
func transformed(t *testing.T) *deploy.Template {
	t.Helper()
	tpl, err := deploy.Parse(cfnData(t, "transform", "template.yaml"))
	if err != nil {
		t.Fatalf("parse the transformed template: %v", err)
	}
	return tpl
}

// handlerPerms is testdata/cfn-handlers.json.
type handlerPerms struct {
	Types map[string]struct {
		Source     string
		Properties []string
		Handlers   map[string][]string
	}
}

func loadHandlers(t *testing.T) handlerPerms {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cfn-handlers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h handlerPerms
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// actions returns the union of the named handlers' permissions of a type.
func (h handlerPerms) actions(t *testing.T, typ string, handlers ...string) []string {
	t.Helper()
	ty, ok := h.Types[typ]
	if !ok {
		t.Fatalf("testdata/cfn-handlers.json has no %s", typ)
	}
	var out []string
	for _, n := range handlers {
		acts, ok := ty.Handlers[n]
		if !ok {
			t.Fatalf("testdata/cfn-handlers.json: %s has no %s handler", typ, n)
		}
		for _, a := range acts {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// kmsActionsWithoutKey are the KMS actions of the handlers that name no key
// (they are authorized by IAM alone, never by a key policy).
var kmsActionsWithoutKey = []string{"kms:CreateKey", "kms:ListKeys", "kms:ListAliases"}

// resourcePolicyTypes are the resource types whose resources carry a
// resource-based policy in template.yaml, and so may refuse a handler.
var resourcePolicyTypes = []string{"AWS::KMS::Key", "AWS::KMS::Alias", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"}

// The handler permissions kept in testdata are of types cfn-lint knows, and
// of schema versions that know every property the template sets.
func TestHandlerSchemas(t *testing.T) {
	h := loadHandlers(t)
	var lint map[string][]string
	if err := json.Unmarshal(cfnData(t, append([]string{"schemas"}, resourcePolicyTypes...)...), &lint); err != nil {
		t.Fatal(err)
	}
	tpl := transformed(t)
	for _, typ := range resourcePolicyTypes {
		t.Run("ok/"+typ, func(t *testing.T) {
			ty, ok := h.Types[typ]
			if !ok || ty.Source == "" || len(ty.Handlers) == 0 {
				t.Fatalf("testdata/cfn-handlers.json: no handlers (with their source) for %s", typ)
			}
			for _, id := range tpl.ResourcesOfType(typ) {
				for p := range tpl.Resources[id].Properties {
					if !slices.Contains(ty.Properties, p) {
						t.Errorf("%s sets %s, which the kept %s schema does not know: keep a newer copy of its handlers", id, p, typ)
					}
					if !slices.Contains(lint[typ], p) {
						t.Errorf("%s sets %s, which cfn-lint's %s schema does not know", id, p, typ)
					}
				}
			}
		})
	}
}

// Every KMS key policy lets the deploying identity (the account's IAM
// principals: CloudFormation calls with the deployer's credentials or its
// service role) make every call of the AWS::KMS::Key handlers (create,
// read, update, delete) and of the AWS::KMS::Alias handlers on the key.
// Without kms:EnableKeyRotation, for one, creating a key with
// EnableKeyRotation: true fails with AccessDenied and the stack rolls back.
func TestKeyPoliciesAllowHandlers(t *testing.T) {
	h := loadHandlers(t)
	need := append(h.actions(t, "AWS::KMS::Key", "create", "read", "update", "delete"),
		h.actions(t, "AWS::KMS::Alias", "create", "read", "update", "delete")...)
	need = slices.DeleteFunc(need, func(a string) bool { return slices.Contains(kmsActionsWithoutKey, a) })
	tpl := transformed(t)
	keys := tpl.ResourcesOfType("AWS::KMS::Key")
	if len(keys) == 0 {
		t.Fatal("no KMS keys in the transformed template")
	}
	for _, key := range keys {
		t.Run("ok/"+key, func(t *testing.T) {
			sts := deploy.Statements(tpl.Resources[key].Properties["KeyPolicy"])
			for _, a := range need {
				if !accountAllowed(sts, a) {
					t.Errorf("%s's key policy does not allow the account %s (CloudFormation's handlers call it with the deployer's credentials)", key, a)
				}
			}
		})
	}
}

// accountAllowed reports whether a key policy lets the account's IAM
// principals call action: an Allow of the account root with no condition,
// and no Deny of it.
func accountAllowed(sts []deploy.Statement, action string) bool {
	allowed := false
	for _, st := range sts {
		if !slices.ContainsFunc(st.Actions, func(a string) bool { return actionMatches(a, action) }) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		if len(st.Condition) == 0 && slices.ContainsFunc(st.Principals, isAccountRoot) {
			allowed = true
		}
	}
	return allowed
}

func isAccountRoot(p string) bool { return strings.HasSuffix(p, ":root") }

// actionMatches compares an IAM action pattern ("s3:*", "kms:Get*") with an
// action, case-insensitively as IAM does.
func actionMatches(pattern, action string) bool {
	pattern, action = strings.ToLower(pattern), strings.ToLower(action)
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(action, p)
	}
	return pattern == action
}

// No bucket policy denies the deploying identity a call of the
// AWS::S3::Bucket or AWS::S3::BucketPolicy handlers. CloudFormation calls
// over TLS, so a Deny that holds only without TLS is fine.
func TestBucketPoliciesAllowHandlers(t *testing.T) {
	h := loadHandlers(t)
	need := append(h.actions(t, "AWS::S3::Bucket", "create", "read", "update", "delete"),
		h.actions(t, "AWS::S3::BucketPolicy", "create", "read", "update", "delete")...)
	tpl := transformed(t)
	for _, id := range tpl.ResourcesOfType("AWS::S3::BucketPolicy") {
		t.Run("ok/"+id, func(t *testing.T) {
			for _, st := range deploy.Statements(tpl.Resources[id].Properties["PolicyDocument"]) {
				if st.Effect != "Deny" || onlyWithoutTLS(st) {
					continue
				}
				for _, a := range need {
					if slices.ContainsFunc(st.Actions, func(p string) bool { return actionMatches(p, a) }) {
						t.Errorf("%s %s denies %s, which CloudFormation's S3 handlers call", id, st.Sid, a)
					}
				}
			}
		})
	}
}

// onlyWithoutTLS reports whether a statement applies only to requests
// without TLS.
func onlyWithoutTLS(st deploy.Statement) bool {
	if len(st.Condition) != 1 {
		return false
	}
	b := deploy.Map(st.Condition["Bool"])
	return len(b) == 1 && b["aws:SecureTransport"] == "false"
}
