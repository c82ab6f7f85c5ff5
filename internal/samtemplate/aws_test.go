package samtemplate_test

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
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/samtemplate"
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

// transformed is template.yaml after the real SAM transform (done once per
// test binary; each caller gets its own parse).
func transformed(t *testing.T) *samtemplate.Template {
	t.Helper()
	b := func() []byte {
		samOut.mu.Lock()
		defer samOut.mu.Unlock() // also when cfnData skips or fails the test
		if samOut.json == nil {
			samOut.json = cfnData(t, "transform", "template.yaml")
		}
		return samOut.json
	}()
	tpl, err := samtemplate.Parse(b)
	if err != nil {
		t.Fatalf("parse the transformed template: %v", err)
	}
	return tpl
}

var samOut struct {
	mu   sync.Mutex
	json []byte
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
			sts := samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"])
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
func accountAllowed(sts []samtemplate.Statement, action string) bool {
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
			for _, st := range samtemplate.Statements(tpl.Resources[id].Properties["PolicyDocument"]) {
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
func onlyWithoutTLS(st samtemplate.Statement) bool {
	if len(st.Condition) != 1 {
		return false
	}
	b := samtemplate.Map(st.Condition["Bool"])
	return len(b) == 1 && b["aws:SecureTransport"] == "false"
}

// The real SAM transform gives the resources the hub needs and no others:
// one stage, an invoke permission per route scoped to the hub's API, the
// functions' own roles, the mTLS domain on that stage, and the schedule.
func TestSAMTransform(t *testing.T) {
	src := load(t)
	tpl := transformed(t)
	apis := tpl.ResourcesOfType("AWS::ApiGateway::RestApi")
	if len(apis) != 1 {
		t.Fatalf("the transform made REST APIs %v, want one", apis)
	}
	api := apis[0]

	t.Run("ok/one-stage", func(t *testing.T) {
		stages := tpl.ResourcesOfType("AWS::ApiGateway::Stage")
		if len(stages) != 1 || tpl.Resources[stages[0]].Properties["StageName"] != "live" {
			t.Errorf("stages %v, want exactly one, named live", stages)
		}
		for _, id := range tpl.ResourcesOfType("AWS::ApiGateway::Deployment") {
			if sn, ok := tpl.Resources[id].Properties["StageName"]; ok {
				t.Errorf("deployment %s creates a second stage, %v (SAM's \"Stage\" stage: set OpenApiVersion)", id, sn)
			}
		}
	})

	t.Run("ok/execute-api-disabled", func(t *testing.T) {
		// SAM writes it into the OpenAPI body rather than as the property:
		// at the top level in Swagger 2.0, in the servers objects in OpenAPI 3.
		p := tpl.Resources[api].Properties
		ext := "x-amazon-apigateway-endpoint-configuration"
		body := samtemplate.Path(p, "Body", ext, "disableExecuteApiEndpoint")
		for _, srv := range samtemplate.List(samtemplate.Path(p, "Body", "servers")) {
			if body == nil {
				body = samtemplate.Path(srv, ext, "disableExecuteApiEndpoint")
			}
		}
		if p["DisableExecuteApiEndpoint"] != "true" && body != "true" {
			t.Errorf("%s: the execute-api endpoint is not disabled (property %v, OpenAPI body %v)", api, p["DisableExecuteApiEndpoint"], body)
		}
	})

	t.Run("ok/invoke-permissions", func(t *testing.T) {
		want := map[string]bool{} // "Fn METHOD /path", path parameters as * (as in the SourceArn)
		params := regexp.MustCompile(`\{[^}/]+\}`)
		for _, f := range src.Functions() {
			for _, ev := range samtemplate.Map(f.Properties["Events"]) {
				if samtemplate.Path(ev, "Type") == "Api" {
					want[f.LogicalID+" "+strings.ToUpper(samtemplate.Path(ev, "Properties", "Method").(string))+" "+
						params.ReplaceAllString(samtemplate.Path(ev, "Properties", "Path").(string), "*")] = true
				}
			}
		}
		got := map[string]bool{}
		for _, id := range tpl.ResourcesOfType("AWS::Lambda::Permission") {
			p := tpl.Resources[id].Properties
			if p["Principal"] != "apigateway.amazonaws.com" {
				continue
			}
			fn, _ := samtemplate.RefTarget(p["FunctionName"])
			var sub []any
			if f, ok := p["SourceArn"].(samtemplate.Fn); ok && f.Name == "Fn::Sub" {
				sub = samtemplate.List(f.Arg)
			}
			if p["Action"] != "lambda:InvokeFunction" || len(sub) != 2 {
				t.Errorf("%s: %v %v, want lambda:InvokeFunction with a SourceArn", id, p["Action"], p["SourceArn"])
				continue
			}
			arn, _ := sub[0].(string)
			vars := samtemplate.Map(sub[1])
			if samtemplate.Token(vars["__ApiId__"]) != api {
				t.Errorf("%s: SourceArn names API %v, not %s", id, vars["__ApiId__"], api)
			}
			_, route, ok := strings.Cut(arn, "${__Stage__}/")
			method, path, _ := strings.Cut(route, "/")
			if !ok || method == "*" {
				t.Errorf("%s: SourceArn %q does not name one method and path", id, arn)
				continue
			}
			got[fn+" "+method+" /"+path] = true
		}
		for r := range want {
			if !got[r] {
				t.Errorf("no invoke permission for %s", r)
			}
		}
		for r := range got {
			if !want[r] {
				t.Errorf("invoke permission for %s, which is no event of the template", r)
			}
		}
	})

	t.Run("ok/own-roles", func(t *testing.T) {
		if got, want := len(tpl.ResourcesOfType("AWS::IAM::Role")), len(src.ResourcesOfType("AWS::IAM::Role")); got != want {
			t.Errorf("the transform made %d roles, the template declares %d: SAM added roles", got, want)
		}
		for _, id := range tpl.ResourcesOfType("AWS::Lambda::Function") {
			role, _, _ := strings.Cut(samtemplate.Token(tpl.Resources[id].Properties["Role"]), ".")
			if src.Resources[role].Type != "AWS::IAM::Role" {
				t.Errorf("%s runs as %q, not a role of the template", id, role)
			}
		}
	})

	t.Run("ok/mtls-domain", func(t *testing.T) {
		doms := tpl.ResourcesOfType("AWS::ApiGateway::DomainName")
		maps := tpl.ResourcesOfType("AWS::ApiGateway::BasePathMapping")
		if len(doms) != 1 || len(maps) != 1 {
			t.Fatalf("domains %v, base path mappings %v: want one of each", doms, maps)
		}
		d := tpl.Resources[doms[0]].Properties
		if samtemplate.Path(d, "MutualTlsAuthentication", "TruststoreUri") == nil || samtemplate.Path(d, "MutualTlsAuthentication", "TruststoreVersion") == nil {
			t.Error("the domain has no mutual TLS truststore (URI and version)")
		}
		if d["SecurityPolicy"] != "TLS_1_2" {
			t.Errorf("SecurityPolicy %v", d["SecurityPolicy"])
		}
		m := tpl.Resources[maps[0]].Properties
		stages := tpl.ResourcesOfType("AWS::ApiGateway::Stage")
		if samtemplate.Token(m["RestApiId"]) != api || len(stages) == 0 || samtemplate.Token(m["Stage"]) != stages[0] ||
			samtemplate.Token(m["DomainName"]) != doms[0] {
			t.Errorf("base path mapping %v does not map %s's stage on the domain", m, api)
		}
	})

	t.Run("ok/schedule", func(t *testing.T) {
		var rules []string
		for _, id := range tpl.ResourcesOfType("AWS::Events::Rule") {
			p := tpl.Resources[id].Properties
			for _, tg := range samtemplate.List(p["Targets"]) {
				if samtemplate.Token(samtemplate.Path(tg, "Arn")) == "IntegrityFunction.Arn" && p["ScheduleExpression"] == "rate(10 minutes)" &&
					samtemplate.Path(tg, "RetryPolicy", "MaximumRetryAttempts") == "0" {
					rules = append(rules, id)
				}
			}
		}
		if len(rules) != 1 {
			t.Fatalf("rules running IntegrityFunction every 10 minutes without retries: %v, want one", rules)
		}
		allowed := false
		for _, id := range tpl.ResourcesOfType("AWS::Lambda::Permission") {
			p := tpl.Resources[id].Properties
			fn, _ := samtemplate.RefTarget(p["FunctionName"])
			allowed = allowed || fn == "IntegrityFunction" && p["Principal"] == "events.amazonaws.com" &&
				samtemplate.Token(p["SourceArn"]) == rules[0]+".Arn"
		}
		if !allowed {
			t.Error("EventBridge may not invoke IntegrityFunction from that rule")
		}
	})

	t.Run("ok/rules-kept", func(t *testing.T) {
		for name := range src.Rules {
			if _, ok := tpl.Rules[name]; !ok {
				t.Errorf("the transform dropped rule %s", name)
			}
		}
	})

	t.Run("ok/pack-no-retries", func(t *testing.T) {
		found := false
		for _, id := range tpl.ResourcesOfType("AWS::Lambda::EventInvokeConfig") {
			p := tpl.Resources[id].Properties
			fn, _ := samtemplate.RefTarget(p["FunctionName"])
			found = found || fn == "PackFunction" && p["MaximumRetryAttempts"] == "0"
		}
		if !found {
			t.Error("PackFunction's asynchronous builds are retried (a retry of a failed build does nothing but cost)")
		}
	})
}
