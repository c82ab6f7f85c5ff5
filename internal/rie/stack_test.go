package rie

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/samtemplate"
)

// stack resolves template values as CloudFormation would for one stack made
// from template.yaml with every parameter at its default (except overrides)
// and resources standing for emulator ones: a table's Ref is its name, a
// bucket's its name, a function's its name, a KMS key's Ref and Arn come from
// key. Names the template leaves to CloudFormation are generated the way
// CloudFormation does (stack name, logical id, random suffix).
type stack struct {
	tpl    *samtemplate.Template
	name   string            // AWS::StackName
	params map[string]string // every parameter with a default or an override
	// key gives a KMS key resource's key id and ARN.
	key func(logicalID string, props map[string]any) (id, arn string, err error)
	// names are the generated physical names, so each is drawn once.
	names map[string]string
}

// Pseudo parameters of a local stack.
const (
	stackRegion  = "us-east-1"
	stackAccount = "000000000000"
)

func newStack(tpl *samtemplate.Template, name string, overrides map[string]string,
	key func(string, map[string]any) (string, string, error)) (*stack, error) {
	s := &stack{tpl: tpl, name: name, params: map[string]string{}, key: key, names: map[string]string{}}
	for p, def := range tpl.Parameters {
		if v, ok := def["Default"].(string); ok {
			s.params[p] = v
		}
	}
	for p, v := range overrides {
		if _, ok := tpl.Parameters[p]; ok {
			s.params[p] = v
		}
	}
	return s, nil
}

// value resolves v to a string.
func (s *stack) value(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case samtemplate.Fn:
		switch x.Name {
		case "Ref":
			name, _ := x.Arg.(string)
			return s.ref(name)
		case "Fn::GetAtt":
			p := samtemplate.List(x.Arg)
			if len(p) != 2 {
				return "", fmt.Errorf("!GetAtt %v: want Resource.Attribute", x.Arg)
			}
			res, _ := p[0].(string)
			attr, _ := p[1].(string)
			return s.getAtt(res, attr)
		case "Fn::Sub":
			return s.sub(x.Arg)
		case "Fn::If":
			p := samtemplate.List(x.Arg)
			if len(p) != 3 {
				return "", fmt.Errorf("!If %v: want [condition, then, else]", x.Arg)
			}
			name, _ := p[0].(string)
			ok, err := s.condition(name)
			if err != nil {
				return "", err
			}
			if ok {
				return s.value(p[1])
			}
			return s.value(p[2])
		case "Fn::Join":
			p := samtemplate.List(x.Arg)
			if len(p) != 2 {
				return "", fmt.Errorf("!Join %v: want [delimiter, list]", x.Arg)
			}
			sep, _ := p[0].(string)
			var parts []string
			for _, e := range samtemplate.List(p[1]) {
				v, err := s.value(e)
				if err != nil {
					return "", err
				}
				parts = append(parts, v)
			}
			return strings.Join(parts, sep), nil
		}
		return "", fmt.Errorf("%s is not resolved by this check", x.Name)
	}
	return "", fmt.Errorf("value %v (%T) is not a string", v, v)
}

// ref is !Ref name: a pseudo parameter, a parameter or a resource.
func (s *stack) ref(name string) (string, error) {
	switch name {
	case "AWS::StackName":
		return s.name, nil
	case "AWS::Region":
		return stackRegion, nil
	case "AWS::AccountId":
		return stackAccount, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return "", nil
	}
	if v, ok := s.params[name]; ok {
		return v, nil
	}
	if _, ok := s.tpl.Parameters[name]; ok {
		return "", fmt.Errorf("!Ref %s: the parameter has no default, and this check gives it no value", name)
	}
	r, ok := s.tpl.Resources[name]
	if !ok {
		return "", fmt.Errorf("!Ref %s: no such parameter or resource", name)
	}
	switch r.Type {
	case "AWS::DynamoDB::Table":
		return s.physical(name, r.Properties["TableName"], 255, false)
	case "AWS::S3::Bucket":
		return s.physical(name, r.Properties["BucketName"], 63, true)
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return s.physical(name, r.Properties["FunctionName"], 64, false)
	case "AWS::KMS::Key":
		id, _, err := s.key(name, r.Properties)
		return id, err
	}
	return "", fmt.Errorf("!Ref %s: a %s is not resolved by this check", name, r.Type)
}

func (s *stack) getAtt(res, attr string) (string, error) {
	r, ok := s.tpl.Resources[res]
	if !ok {
		return "", fmt.Errorf("!GetAtt %s.%s: no such resource", res, attr)
	}
	switch {
	case r.Type == "AWS::KMS::Key" && attr == "Arn":
		_, arn, err := s.key(res, r.Properties)
		return arn, err
	case r.Type == "AWS::KMS::Key" && attr == "KeyId":
		id, _, err := s.key(res, r.Properties)
		return id, err
	case r.Type == "AWS::DynamoDB::Table" && attr == "Arn":
		n, err := s.ref(res)
		return "arn:aws:dynamodb:" + stackRegion + ":" + stackAccount + ":table/" + n, err
	case r.Type == "AWS::S3::Bucket" && attr == "Arn":
		n, err := s.ref(res)
		return "arn:aws:s3:::" + n, err
	case r.Type == "AWS::IAM::Role" && attr == "Arn":
		return "arn:aws:iam::" + stackAccount + ":role/" + s.name + "-" + res, nil
	}
	return "", fmt.Errorf("!GetAtt %s.%s: a %s attribute is not resolved by this check", res, attr, r.Type)
}

// physical is a resource's name: the template's, or one CloudFormation would
// generate (stack-LogicalId-SUFFIX, cut to max; lowercase for buckets).
func (s *stack) physical(logicalID string, named any, max int, lower bool) (string, error) {
	if named != nil {
		n, err := s.value(named)
		if err != nil || n != "" { // "": AWS::NoValue, the property is left out
			return n, err
		}
	}
	if n, ok := s.names[logicalID]; ok {
		return n, nil
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	suffix := fmt.Sprintf("%X", b)
	base := s.name + "-" + logicalID
	if len(base) > max-len(suffix)-1 {
		base = base[:max-len(suffix)-1]
	}
	n := base + "-" + suffix
	if lower {
		n = strings.ToLower(n)
	}
	s.names[logicalID] = n
	return n, nil
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// sub is !Sub "text" or !Sub ["text", {Var: value}].
func (s *stack) sub(arg any) (string, error) {
	text, vars := "", map[string]any{}
	switch x := arg.(type) {
	case string:
		text = x
	case []any:
		if len(x) != 2 {
			return "", fmt.Errorf("!Sub %v: want text or [text, variables]", arg)
		}
		text, _ = x[0].(string)
		vars = samtemplate.Map(x[1])
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		var v string
		var err error
		if val, ok := vars[name]; ok {
			v, err = s.value(val)
		} else if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = s.getAtt(res, attr)
		} else {
			v, err = s.ref(name)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

// condition evaluates a named condition of the template.
func (s *stack) condition(name string) (bool, error) {
	c, ok := s.tpl.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	return s.truth(c)
}

func (s *stack) truth(v any) (bool, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Condition"].(string); ok {
			return s.condition(name)
		}
	}
	f, ok := v.(samtemplate.Fn)
	if !ok {
		return false, fmt.Errorf("condition %v is not an intrinsic function", v)
	}
	args := samtemplate.List(f.Arg)
	switch f.Name {
	case "Condition":
		name, _ := f.Arg.(string)
		return s.condition(name)
	case "Fn::Equals":
		if len(args) != 2 {
			return false, fmt.Errorf("!Equals %v: want two values", f.Arg)
		}
		a, err := s.value(args[0])
		if err != nil {
			return false, err
		}
		b, err := s.value(args[1])
		return a == b, err
	case "Fn::Not":
		if len(args) != 1 {
			return false, fmt.Errorf("!Not %v: want one condition", f.Arg)
		}
		ok, err := s.truth(args[0])
		return !ok, err
	case "Fn::And", "Fn::Or":
		var got []bool
		for _, a := range args {
			ok, err := s.truth(a)
			if err != nil {
				return false, err
			}
			got = append(got, ok)
		}
		if f.Name == "Fn::And" {
			return !slices.Contains(got, false), nil
		}
		return slices.Contains(got, true), nil
	}
	return false, fmt.Errorf("condition function %s is not resolved by this check", f.Name)
}

func TestStack(t *testing.T) {
	tpl, err := samtemplate.Parse([]byte(`
Parameters:
  Prefix: {Type: String, Default: "monsys-"}
  Mode: {Type: String, Default: kms}
Conditions:
  Envelope: !Equals [!Ref Mode, kms-envelope]
  NotEnvelope: !Not [!Condition Envelope]
  Both: !And [!Condition NotEnvelope, !Equals [!Ref Prefix, "monsys-"]]
Resources:
  Table: {Type: AWS::DynamoDB::Table, Properties: {TableName: !Sub "${Prefix}agents"}}
  Bucket: {Type: AWS::S3::Bucket}
  Key: {Type: AWS::KMS::Key, Properties: {KeySpec: ECC_NIST_P256}}
  Fn: {Type: AWS::Serverless::Function, Properties: {FunctionName: !Sub "${AWS::StackName}-fn"}}
  Other: {Type: AWS::DynamoDB::Table, Properties: {TableName: !If [Envelope, "named", !Ref AWS::NoValue]}}
  Topic: {Type: AWS::SNS::Topic}
`))
	if err != nil {
		t.Fatal(err)
	}
	key := func(id string, props map[string]any) (string, string, error) {
		return "k-" + id, "arn:aws:kms:us-east-1:000000000000:key/k-" + id + "-" + props["KeySpec"].(string), nil
	}
	tests := []struct {
		name      string
		overrides map[string]string
		value     any
		want      string // "" with wantErr
		wantErr   string
	}{
		{name: "ok/parameter-default", value: samtemplate.Fn{Name: "Ref", Arg: "Mode"}, want: "kms"},
		{name: "ok/override", overrides: map[string]string{"Prefix": "t1-", "Nope": "x"}, value: samtemplate.Fn{Name: "Ref", Arg: "Table"}, want: "t1-agents"},
		{name: "ok/table-name", value: samtemplate.Fn{Name: "Ref", Arg: "Table"}, want: "monsys-agents"},
		{name: "ok/name-left-out", value: samtemplate.Fn{Name: "Fn::Sub", Arg: "${Other}"}, want: "Stack-One-Other-"},
		{name: "ok/function-name", value: samtemplate.Fn{Name: "Ref", Arg: "Fn"}, want: "Stack-One-fn"},
		{name: "ok/key-arn", value: samtemplate.Fn{Name: "Fn::GetAtt", Arg: []any{"Key", "Arn"}}, want: "arn:aws:kms:us-east-1:000000000000:key/k-Key-ECC_NIST_P256"},
		{name: "ok/sub-attribute-and-literal", value: samtemplate.Fn{Name: "Fn::Sub", Arg: "${Table.Arn}/index/${!x}"},
			want: "arn:aws:dynamodb:us-east-1:000000000000:table/monsys-agents/index/${x}"},
		{name: "ok/sub-with-variables", value: samtemplate.Fn{Name: "Fn::Sub", Arg: []any{"${A}-${AWS::Region}", map[string]any{"A": samtemplate.Fn{Name: "Ref", Arg: "Mode"}}}},
			want: "kms-us-east-1"},
		{name: "ok/if-false", value: samtemplate.Fn{Name: "Fn::If", Arg: []any{"Envelope", samtemplate.Fn{Name: "Fn::GetAtt", Arg: []any{"Key", "Arn"}}, ""}}, want: ""},
		{name: "ok/if-true", overrides: map[string]string{"Mode": "kms-envelope"},
			value: samtemplate.Fn{Name: "Fn::If", Arg: []any{"Envelope", "yes", "no"}}, want: "yes"},
		{name: "ok/nested-conditions", value: samtemplate.Fn{Name: "Fn::If", Arg: []any{"Both", "yes", "no"}}, want: "yes"},
		{name: "ok/join", value: samtemplate.Fn{Name: "Fn::Join", Arg: []any{",", []any{"a", samtemplate.Fn{Name: "Ref", Arg: "Mode"}}}}, want: "a,kms"},
		{name: "fail/unknown-ref", value: samtemplate.Fn{Name: "Ref", Arg: "Nothing"}, wantErr: "no such parameter or resource"},
		{name: "fail/unresolved-type", value: samtemplate.Fn{Name: "Ref", Arg: "Topic"}, wantErr: "AWS::SNS::Topic"},
		{name: "fail/unresolved-function", value: samtemplate.Fn{Name: "Fn::ImportValue", Arg: "x"}, wantErr: "Fn::ImportValue"},
		{name: "fail/unknown-condition", value: samtemplate.Fn{Name: "Fn::If", Arg: []any{"Nope", "a", "b"}}, wantErr: "no condition Nope"},
		{name: "fail/not-a-string", value: []any{"a"}, wantErr: "not a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newStack(tpl, "Stack-One", tc.overrides, key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.value(tc.value)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("value = %q, %v; want an error saying %q", got, err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case strings.HasSuffix(tc.want, "-") && strings.HasPrefix(got, tc.want) && len(got) == len(tc.want)+12:
				// a generated name: the prefix and a 12-character suffix
			case got != tc.want:
				t.Errorf("value = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("ok/generated-bucket-name", func(t *testing.T) {
		s, err := newStack(tpl, "Stack-"+strings.Repeat("x", 70), nil, key)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.value(samtemplate.Fn{Name: "Ref", Arg: "Bucket"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.value(samtemplate.Fn{Name: "Fn::Sub", Arg: "${Bucket}"})
		if a != b || len(a) > 63 || a != strings.ToLower(a) || !strings.HasPrefix(a, "stack-xxx") {
			t.Errorf("bucket %q then %q: want one lowercase name of at most 63 characters", a, b)
		}
	})
	t.Run("fail/parameter-without-default", func(t *testing.T) {
		bad, err := samtemplate.Parse([]byte("Parameters:\n  Domain: {Type: String}\nResources:\n  B: {Type: AWS::S3::Bucket}\n"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := newStack(bad, "s", nil, key)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := s.value(samtemplate.Fn{Name: "Ref", Arg: "Domain"}); err == nil || !strings.Contains(err.Error(), "no default") {
			t.Fatalf("value = %q, %v; want a missing-default error", v, err)
		}
		s, _ = newStack(bad, "s", map[string]string{"Domain": "hub.example.com"}, key)
		if v, err := s.value(samtemplate.Fn{Name: "Ref", Arg: "Domain"}); err != nil || v != "hub.example.com" {
			t.Fatalf("value = %q, %v; want the override", v, err)
		}
	})
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		tmpl, path string
		want       bool
	}{
		{"/api/v1/agents", "/api/v1/agents", true},
		{"/api/v1/agents/{id}", "/api/v1/agents/ag_1", true},
		{"/api/v1/agents/{id}/rotate-token", "/api/v1/agents/ag_1/rotate-token", true},
		{"/{proxy+}", "/api/v1/anything/at/all", true},
		{"/api/v1/agents/{id}", "/api/v1/agents", false},
		{"/api/v1/agents/{id}", "/api/v1/agents/", false},
		{"/api/v1/agents/{id}", "/api/v1/agents/ag_1/rotate-token", false},
		{"/api/v1/agents", "/api/v1/agent", false},
	}
	for _, tc := range tests {
		name := "ok/"
		if !tc.want {
			name = "fail/"
		}
		t.Run(name+tc.tmpl+"~"+tc.path, func(t *testing.T) {
			if got := matchPath(tc.tmpl, tc.path); got != tc.want {
				t.Errorf("matchPath(%q, %q) = %v, want %v", tc.tmpl, tc.path, got, tc.want)
			}
		})
	}
}
