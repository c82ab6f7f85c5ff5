package rie

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/monsys/hub/internal/deploy"
)

// stack resolves template values as CloudFormation would for one stack made
// from template.yaml with every parameter at its default (except overrides)
// and resources standing for emulator ones: a table's Ref is its name, a
// bucket's its name, a function's its name, a KMS key's Ref and Arn come from
// key. Names the template leaves to CloudFormation are generated the way
// CloudFormation does (stack name, logical id, random suffix).
type stack struct {
	tpl    *deploy.Template
	name   string            // AWS::StackName
	params map[string]string // every parameter: its default or override
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

func newStack(tpl *deploy.Template, name string, overrides map[string]string,
	key func(string, map[string]any) (string, string, error)) (*stack, error) {
	s := &stack{tpl: tpl, name: name, params: map[string]string{}, key: key, names: map[string]string{}}
	for p, def := range tpl.Parameters {
		v, ok := def["Default"].(string)
		if !ok {
			return nil, fmt.Errorf("parameter %s has no default: a first deploy could not leave it out", p)
		}
		s.params[p] = v
	}
	for p, v := range overrides {
		if _, ok := s.params[p]; ok {
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
	case deploy.Fn:
		switch x.Name {
		case "Ref":
			name, _ := x.Arg.(string)
			return s.ref(name)
		case "Fn::GetAtt":
			p := deploy.List(x.Arg)
			if len(p) != 2 {
				return "", fmt.Errorf("!GetAtt %v: want Resource.Attribute", x.Arg)
			}
			res, _ := p[0].(string)
			attr, _ := p[1].(string)
			return s.getAtt(res, attr)
		case "Fn::Sub":
			return s.sub(x.Arg)
		case "Fn::If":
			p := deploy.List(x.Arg)
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
			p := deploy.List(x.Arg)
			if len(p) != 2 {
				return "", fmt.Errorf("!Join %v: want [delimiter, list]", x.Arg)
			}
			sep, _ := p[0].(string)
			var parts []string
			for _, e := range deploy.List(p[1]) {
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
	}
	return "", fmt.Errorf("!GetAtt %s.%s: a %s attribute is not resolved by this check", res, attr, r.Type)
}

// physical is a resource's name: the template's, or one CloudFormation would
// generate (stack-LogicalId-SUFFIX, cut to max; lowercase for buckets).
func (s *stack) physical(logicalID string, named any, max int, lower bool) (string, error) {
	if named != nil {
		return s.value(named)
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
		vars = deploy.Map(x[1])
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
	f, ok := v.(deploy.Fn)
	if !ok {
		return false, fmt.Errorf("condition %v is not an intrinsic function", v)
	}
	args := deploy.List(f.Arg)
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
