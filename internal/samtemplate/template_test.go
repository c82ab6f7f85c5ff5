package samtemplate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/samtemplate"
)

const root = "../.."

func load(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// fnName is the functions/<name> of a template function: the last element of its CodeUri.
func fnName(t *testing.T, f samtemplate.Function) string {
	t.Helper()
	uri, _ := f.Properties["CodeUri"].(string)
	if uri == "" {
		t.Fatalf("%s: CodeUri is not a path", f.LogicalID)
	}
	return filepath.Base(filepath.Clean(uri))
}

// byName maps functions/<name> to the template function built from it.
func byName(t *testing.T, tpl *samtemplate.Template) map[string]samtemplate.Function {
	t.Helper()
	out := map[string]samtemplate.Function{}
	for _, f := range tpl.Functions() {
		out[fnName(t, f)] = f
	}
	return out
}

func TestParseShortTags(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // Token of Resources.R.Properties.P
		fail      bool
	}{
		{name: "ok/ref", src: "P: !Ref Bucket", want: "Bucket"},
		{name: "ok/getatt-short", src: "P: !GetAtt Table.Arn", want: "Table.Arn"},
		{name: "ok/getatt-list", src: "P: !GetAtt [Table, Arn]", want: "Table.Arn"},
		{name: "ok/getatt-long", src: "P: {Fn::GetAtt: [Table, Arn]}", want: "Table.Arn"},
		{name: "ok/sub", src: `P: !Sub "${Table.Arn}/index/live"`, want: "Table.Arn/index/live"},
		{name: "ok/ref-long", src: "P: {Ref: Bucket}", want: "Bucket"},
		{name: "fail/unknown-tag", src: "P: !Nope x", fail: true},
		{name: "fail/duplicate-key", src: "P: a\n      P: b", fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "Resources:\n  R:\n    Type: X\n    Properties:\n      " + tc.src + "\n"
			tpl, err := samtemplate.Parse([]byte(src))
			if tc.fail {
				if err == nil {
					t.Fatal("parsed, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := samtemplate.Token(tpl.Resources["R"].Properties["P"]); got != tc.want {
				t.Fatalf("token %q, want %q", got, tc.want)
			}
		})
	}
}

// Every function runs on provided.al2023/arm64 as bootstrap, is built by the
// makefile builder from its CodeUri, and every functions/<name> is deployed.
func TestFunctionsBuildFromCodeUri(t *testing.T) {
	tpl := load(t)
	fns := byName(t, tpl)
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range dirs {
		want = append(want, filepath.Base(filepath.Dir(d)))
	}
	var got []string
	for n := range fns {
		got = append(got, n)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("template functions %v, functions/ has %v", got, want)
	}
	mk, err := os.ReadFile(filepath.Join(root, "deploy", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for name, f := range fns {
		for prop, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
			if got, _ := f.Prop(tpl, prop).(string); got != want {
				t.Errorf("%s: %s %q, want %q", f.LogicalID, prop, got, want)
			}
		}
		if arch := samtemplate.List(f.Prop(tpl, "Architectures")); len(arch) != 1 || arch[0] != "arm64" {
			t.Errorf("%s: Architectures %v, want [arm64]", f.LogicalID, arch)
		}
		if f.Metadata["BuildMethod"] != "makefile" || f.Metadata["ContextPath"] != "deploy" || f.Metadata["ProjectRootDirectory"] != "." {
			t.Errorf("%s: Metadata %v, want the makefile builder with deploy/Makefile at the project root", f.LogicalID, f.Metadata)
		}
		// The makefile target builds exactly this CodeUri, static and stripped.
		re := regexp.MustCompile(`(?m)^build-` + f.LogicalID + `:\s*\n\t\$\(call lambda,` + regexp.QuoteMeta(name) + `\)\s*$`)
		if !re.Match(mk) {
			t.Errorf("deploy/Makefile: no build-%s target building functions/%s", f.LogicalID, name)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(filepath.Clean(f.Properties["CodeUri"].(string))))
	}
	for _, flag := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-trimpath", "-tags lambda.norpc", "-ldflags='-s -w'"} {
		if !strings.Contains(string(mk), flag) {
			t.Errorf("deploy/Makefile does not build with %s", flag)
		}
	}
	if testing.Short() {
		t.Skip("-short: not compiling the functions")
	}
	sort.Strings(pkgs)
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", t.TempDir() + "/"}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
}

// The environment each function is given is exactly what its code reads.
func TestEnvMatchesCode(t *testing.T) {
	tpl := load(t)
	sc := &samtemplate.EnvScanner{Root: root}
	appVars, err := sc.AppEnv()
	if err != nil {
		t.Fatal(err)
	}
	if len(appVars) < 8 {
		t.Fatalf("found only %v in internal/app: the scanner is broken", appVars)
	}
	everyRead := map[string]bool{}
	for name, f := range byName(t, tpl) {
		reads, err := sc.FunctionEnv(filepath.Join(root, "functions", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range reads {
			everyRead[v] = true
			if lambdaReserved(v) {
				continue
			}
			if _, ok := f.Env[v]; !ok {
				t.Errorf("functions/%s reads %s; %s does not set it", name, v, f.LogicalID)
			}
		}
		for v := range f.Env {
			if !slices.Contains(reads, v) {
				t.Errorf("%s sets %s; functions/%s never reads it", f.LogicalID, v, name)
			}
		}
	}
	for _, v := range appVars {
		if !everyRead[v] && !lambdaReserved(v) {
			t.Errorf("internal/app reads %s, but no function reaches that code; is it set anywhere?", v)
		}
	}
}

// lambdaReserved are variables the Lambda runtime sets itself.
func lambdaReserved(v string) bool {
	return strings.HasPrefix(v, "AWS_") || strings.HasPrefix(v, "LAMBDA_") || v == "_HANDLER" || v == "TZ" ||
		goRuntime(v)
}

// goRuntime: the Go runtime's own settings, which app.TuneGC reads only to
// leave them to an operator who sets them (docs/dynamodb.md, "The garbage
// collector"); the template need not set them.
func goRuntime(v string) bool { return v == "GOGC" || v == "GOMEMLIMIT" }

// Each function has its own role, and no role policy allows a wildcard action
// or a "*" resource.
func TestRolesLeastPrivilege(t *testing.T) {
	tpl := load(t)
	roles := map[string]string{}
	for _, f := range tpl.Functions() {
		role := samtemplate.Token(f.Properties["Role"])
		id, attr, _ := strings.Cut(role, ".")
		if attr != "Arn" || tpl.Resources[id].Type != "AWS::IAM::Role" {
			t.Errorf("%s: Role must be !GetAtt <its own AWS::IAM::Role>.Arn, got %q", f.LogicalID, role)
			continue
		}
		if other, dup := roles[id]; dup {
			t.Errorf("%s and %s share role %s", f.LogicalID, other, id)
		}
		roles[id] = f.LogicalID
		if len(samtemplate.List(f.Properties["Policies"])) > 0 {
			t.Errorf("%s: SAM Policies as well as an explicit Role", f.LogicalID)
		}
	}
	for _, id := range tpl.ResourcesOfType("AWS::IAM::Role") {
		for _, st := range tpl.RoleStatements(id) {
			for _, a := range st.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s %s: wildcard action %q", id, st.Sid, a)
				}
			}
			for _, r := range st.Resources {
				if r == "*" && slices.Equal(st.Actions, []string{"kms:CreateKey"}) {
					continue // CreateKey has no resource ARN; its conditions pin the key
				}
				if r == "*" || r == "" {
					t.Errorf("%s %s: resource %q (name the ARN)", id, st.Sid, r)
				}
			}
		}
		if len(tpl.ResourcesOfType("AWS::IAM::ManagedPolicy")) > 0 || len(samtemplate.List(tpl.Resources[id].Properties["ManagedPolicyArns"])) > 0 {
			t.Errorf("%s: managed policies are not allowed; inline least privilege only", id)
		}
	}
}

func TestSecurityControls(t *testing.T) {
	tpl := load(t)
	fns := byName(t, tpl)

	t.Run("ok/integrity-schedule", func(t *testing.T) {
		f, ok := fns["integrity"]
		if !ok {
			t.Fatal("no integrity function")
		}
		found := false
		for _, ev := range samtemplate.Map(f.Properties["Events"]) {
			if samtemplate.Path(ev, "Type") == "Schedule" || samtemplate.Path(ev, "Type") == "ScheduleV2" {
				found = found || samtemplate.Path(ev, "Properties", "Schedule") == "rate(10 minutes)" ||
					samtemplate.Path(ev, "Properties", "ScheduleExpression") == "rate(10 minutes)"
			}
		}
		if !found {
			t.Fatal("integrity has no rate(10 minutes) schedule")
		}
	})

	t.Run("ok/api", func(t *testing.T) {
		apis := tpl.ResourcesOfType("AWS::Serverless::Api")
		if len(apis) != 1 {
			t.Fatalf("want one AWS::Serverless::Api, got %v", apis)
		}
		p := tpl.Resources[apis[0]].Properties
		if p["DisableExecuteApiEndpoint"] != "true" {
			t.Error("DisableExecuteApiEndpoint is not true: clients could bypass mutual TLS")
		}
		if samtemplate.Path(p, "EndpointConfiguration", "Type") != "REGIONAL" {
			t.Error("the API is not REGIONAL (mutual TLS needs a Regional custom domain)")
		}
		throttled := false
		for _, ms := range samtemplate.List(p["MethodSettings"]) {
			m := samtemplate.Map(ms)
			throttled = throttled || (m["ThrottlingRateLimit"] != nil && m["ThrottlingBurstLimit"] != nil)
		}
		if !throttled {
			t.Error("no throttling in MethodSettings")
		}
		for _, f := range tpl.Functions() {
			for name, ev := range samtemplate.Map(f.Properties["Events"]) {
				if samtemplate.Path(ev, "Type") == "Api" && samtemplate.Token(samtemplate.Path(ev, "Properties", "RestApiId")) != apis[0] {
					t.Errorf("%s event %s is not on %s (SAM would make an implicit API with execute-api on)", f.LogicalID, name, apis[0])
				}
			}
		}
	})

	t.Run("ok/mtls-domain", func(t *testing.T) {
		doms := tpl.ResourcesOfType("AWS::ApiGateway::DomainName")
		if len(doms) != 1 {
			t.Fatalf("want one AWS::ApiGateway::DomainName, got %v", doms)
		}
		p := tpl.Resources[doms[0]].Properties
		if p["SecurityPolicy"] != "TLS_1_2" {
			t.Errorf("SecurityPolicy %v, want TLS_1_2", p["SecurityPolicy"])
		}
		if !slices.Contains(samtemplate.List(samtemplate.Path(p, "EndpointConfiguration", "Types")), any("REGIONAL")) {
			t.Error("custom domain is not REGIONAL")
		}
		uri := samtemplate.Token(samtemplate.Path(p, "MutualTlsAuthentication", "TruststoreUri"))
		m := regexp.MustCompile(`^s3://([A-Za-z0-9]+)/\S+\.pem$`).FindStringSubmatch(uri)
		if m == nil {
			t.Fatalf("TruststoreUri %q is not s3://<bucket resource>/<file>.pem", uri)
		}
		if samtemplate.Path(tpl.Resources[m[1]].Properties, "VersioningConfiguration", "Status") != "Enabled" {
			t.Errorf("truststore bucket %s is not versioned", m[1])
		}
		if samtemplate.Path(p, "MutualTlsAuthentication", "TruststoreVersion") == nil {
			t.Error("TruststoreVersion is not pinned")
		}
		// An imported or Private CA certificate needs an ownership
		// verification certificate for mutual TLS; an ACM-issued one must not
		// be given one.
		own, ok := p["OwnershipVerificationCertificateArn"].(samtemplate.Fn)
		if args := samtemplate.List(own.Arg); !ok || own.Name != "Fn::If" || len(args) != 3 ||
			samtemplate.Token(args[1]) != "OwnershipVerificationCertificateArn" || samtemplate.Token(args[2]) != "AWS::NoValue" {
			t.Errorf("OwnershipVerificationCertificateArn %v: want !If [<condition>, !Ref OwnershipVerificationCertificateArn, !Ref AWS::NoValue]", p["OwnershipVerificationCertificateArn"])
		}
		maps := tpl.ResourcesOfType("AWS::ApiGateway::BasePathMapping")
		if len(maps) != 1 || samtemplate.Token(tpl.Resources[maps[0]].Properties["DomainName"]) != doms[0] {
			t.Error("the API is not mapped on the mTLS domain")
		}
	})

	t.Run("ok/buckets", func(t *testing.T) {
		buckets := tpl.ResourcesOfType("AWS::S3::Bucket")
		if len(buckets) == 0 {
			t.Fatal("no buckets")
		}
		tlsOnly := map[string]bool{}
		for _, id := range tpl.ResourcesOfType("AWS::S3::BucketPolicy") {
			p := tpl.Resources[id].Properties
			for _, st := range samtemplate.Statements(p["PolicyDocument"]) {
				if st.Effect == "Deny" && samtemplate.Path(st.Condition, "Bool", "aws:SecureTransport") == "false" {
					tlsOnly[samtemplate.Token(p["Bucket"])] = true
				}
			}
		}
		locked := 0
		logBucket := envResource(t, tpl, app.EnvLogBucket)
		if tpl.Resources[logBucket].Properties["ObjectLockEnabled"] != "true" {
			t.Errorf("%s: the log's tiles are not under Object Lock", logBucket)
		}
		for _, id := range buckets {
			p := tpl.Resources[id].Properties
			for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
				if samtemplate.Path(p, "PublicAccessBlockConfiguration", k) != "true" {
					t.Errorf("%s: %s is not true", id, k)
				}
			}
			if !tlsOnly[id] {
				t.Errorf("%s: no bucket policy denying requests without TLS", id)
			}
			if p["ObjectLockEnabled"] != "true" {
				continue
			}
			if id == logBucket {
				// Tiles get per-object COMPLIANCE retention (s3store.Tiles);
				// a default retention would lock the replaceable checkpoint.
				if samtemplate.Path(p, "ObjectLockConfiguration", "Rule") != nil {
					t.Errorf("%s: a default retention would make the checkpoint unreplaceable", id)
				}
				if samtemplate.Path(p, "VersioningConfiguration", "Status") != "Enabled" {
					t.Errorf("%s: not versioned", id)
				}
				continue
			}
			locked++
			if samtemplate.Path(p, "ObjectLockConfiguration", "Rule", "DefaultRetention", "Mode") != "COMPLIANCE" {
				t.Errorf("%s: Object Lock default retention is not COMPLIANCE", id)
			}
			if _, ok := samtemplate.RefTarget(samtemplate.Path(p, "ObjectLockConfiguration", "Rule", "DefaultRetention", "Days")); !ok {
				t.Errorf("%s: retention days are not a parameter", id)
			}
			enc := samtemplate.List(samtemplate.Path(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))
			if len(enc) == 0 || samtemplate.Path(enc[0], "ServerSideEncryptionByDefault", "SSEAlgorithm") != "aws:kms" {
				t.Errorf("%s: packs are not encrypted with SSE-KMS", id)
			}
		}
		if locked != 1 {
			t.Errorf("want exactly one Object Lock (packs) bucket, got %d", locked)
		}
	})

	t.Run("ok/tables-params", func(t *testing.T) {
		for _, id := range tpl.ResourcesOfType("AWS::DynamoDB::Table") {
			p := tpl.Resources[id].Properties
			if _, ok := samtemplate.RefTarget(samtemplate.Path(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")); !ok {
				t.Errorf("%s: point-in-time recovery is not a parameter", id)
			}
			if _, ok := samtemplate.RefTarget(p["DeletionProtectionEnabled"]); !ok {
				t.Errorf("%s: deletion protection is not a parameter", id)
			}
		}
	})

	t.Run("ok/logs-and-alarms", func(t *testing.T) {
		errorsAlarm := map[string]bool{}
		critical := map[string]bool{}
		for _, id := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
			p := tpl.Resources[id].Properties
			if p["Namespace"] == "AWS/Lambda" && p["MetricName"] == "Errors" {
				for _, d := range samtemplate.List(p["Dimensions"]) {
					errorsAlarm[samtemplate.Token(samtemplate.Path(d, "Value"))] = true
				}
			}
			for _, m := range samtemplate.List(p["Metrics"]) {
				metric := samtemplate.Path(m, "MetricStat", "Metric")
				if samtemplate.Path(metric, "Namespace") != "monsys" || samtemplate.Path(metric, "MetricName") != "AnomalyOccurrences" {
					continue
				}
				dims := map[string]any{}
				for _, d := range samtemplate.List(samtemplate.Path(metric, "Dimensions")) {
					dims[samtemplate.Path(d, "Name").(string)] = samtemplate.Path(d, "Value")
				}
				if dims["Severity"] == "critical" {
					critical[dims["Kind"].(string)] = true
				}
			}
		}
		// SPEC 4.3: the critical kinds.
		for _, k := range []string{"signature_invalid", "cert_pin_mismatch"} {
			if !critical[k] {
				t.Errorf("no alarm on AnomalyOccurrences Kind=%s Severity=critical", k)
			}
		}
		for _, f := range tpl.Functions() {
			if !errorsAlarm[f.LogicalID] {
				t.Errorf("%s: no alarm on its Errors metric", f.LogicalID)
			}
			lg := samtemplate.Token(samtemplate.Path(f.Properties, "LoggingConfig", "LogGroup"))
			if tpl.Resources[lg].Type != "AWS::Logs::LogGroup" {
				t.Errorf("%s: LoggingConfig.LogGroup is not a log group of this template", f.LogicalID)
				continue
			}
			if tpl.Resources[lg].Properties["RetentionInDays"] == nil {
				t.Errorf("%s: log group %s keeps logs forever", f.LogicalID, lg)
			}
		}
	})
}

// cfn-lint (with the SAM translator) when it is installed; the Go machine
// image ships it. Nothing is downloaded.
func TestCfnLint(t *testing.T) {
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	cmd := exec.Command(path, "template.yaml")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
