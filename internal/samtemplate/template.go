// Package samtemplate reads the AWS SAM template (template.yaml) into plain Go
// values, CloudFormation short tags included, so that tests can hold the
// template and the code to the same facts: functions, environment variables,
// IAM and key policies, tables.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrTemplate wraps every error about the template's shape.
var ErrTemplate = errors.New("template")

// Fn is a CloudFormation intrinsic function: Name is its long form ("Ref",
// "Fn::GetAtt", "Fn::Sub", ...), Arg its argument as parsed. Short tags
// (!Ref, !GetAtt A.B, !Sub, ...) and long forms ({"Ref": ...}) give the same Fn.
type Fn struct {
	Name string
	Arg  any
}

// Resource is one entry of Resources.
type Resource struct {
	Type                string
	Condition           string
	DeletionPolicy      string
	UpdateReplacePolicy string
	Properties          map[string]any
	Metadata            map[string]any
}

// Template is a parsed SAM template.
type Template struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Rules      map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
}

// Load reads and parses a template file.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	return Parse(b)
}

// Parse parses a template.
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	v, err := convert(&doc)
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: top level is not a mapping", ErrTemplate)
	}
	t := &Template{Parameters: map[string]map[string]any{}, Resources: map[string]Resource{}}
	for name, p := range mapOf(root["Parameters"]) {
		t.Parameters[name] = mapOf(p)
	}
	t.Conditions = mapOf(root["Conditions"])
	t.Rules = mapOf(root["Rules"])
	t.Globals = mapOf(root["Globals"])
	t.Outputs = mapOf(root["Outputs"])
	for name, r := range mapOf(root["Resources"]) {
		m := mapOf(r)
		typ, _ := m["Type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("%w: resource %q has no Type", ErrTemplate, name)
		}
		r := Resource{Type: typ, Properties: mapOf(m["Properties"]), Metadata: mapOf(m["Metadata"])}
		r.Condition, _ = m["Condition"].(string)
		r.DeletionPolicy, _ = m["DeletionPolicy"].(string)
		r.UpdateReplacePolicy, _ = m["UpdateReplacePolicy"].(string)
		t.Resources[name] = r
	}
	return t, nil
}

// shortTags maps CloudFormation's YAML short tags to their long names.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap", "!GetAtt": "Fn::GetAtt",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!Sub": "Fn::Sub", "!Transform": "Fn::Transform", "!And": "Fn::And",
	"!Equals": "Fn::Equals", "!If": "Fn::If", "!Not": "Fn::Not", "!Or": "Fn::Or", "!ToJsonString": "Fn::ToJsonString",
	"!Length": "Fn::Length",
}

func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, fmt.Errorf("%w: empty document", ErrTemplate)
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			v = nil
		} else {
			v = n.Value // every scalar as written: "true", "30", "rate(10 minutes)"
		}
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, x)
		}
		v = s
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("%w: line %d: duplicate key %q", ErrTemplate, n.Content[i].Line, k)
			}
			x, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		if len(m) == 1 {
			for k, x := range m {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return longForm(k, x), nil
				}
			}
		}
		v = m
	default:
		return nil, fmt.Errorf("%w: line %d: unexpected YAML node", ErrTemplate, n.Line)
	}
	if name, ok := shortTags[n.Tag]; ok {
		return longForm(name, v), nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("%w: line %d: unknown tag %s", ErrTemplate, n.Line, n.Tag)
	}
	return v, nil
}

func longForm(name string, arg any) Fn {
	if s, ok := arg.(string); ok && name == "Fn::GetAtt" {
		res, attr, _ := strings.Cut(s, ".")
		return Fn{Name: name, Arg: []any{res, attr}}
	}
	return Fn{Name: name, Arg: arg}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Map returns v as a mapping, or an empty one.
func Map(v any) map[string]any { return mapOf(v) }

// List returns v as a list; a single value is a list of one.
func List(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// Path walks nested mappings: Path(m, "A", "B") is m["A"]["B"].
func Path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// RefTarget returns X for !Ref X.
func RefTarget(v any) (string, bool) {
	f, ok := v.(Fn)
	if !ok || f.Name != "Ref" {
		return "", false
	}
	s, ok := f.Arg.(string)
	return s, ok
}

// Token renders a resource reference in a comparable form: !GetAtt X.Arn and
// !Ref X give "X.Arn" and "X"; !Sub "${X.Arn}/index/live" gives
// "X.Arn/index/live"; a plain string is itself. Other forms give "".
func Token(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case Fn:
		switch x.Name {
		case "Ref":
			s, _ := x.Arg.(string)
			return s
		case "Fn::GetAtt":
			p := List(x.Arg)
			if len(p) == 2 {
				a, _ := p[0].(string)
				b, _ := p[1].(string)
				return a + "." + b
			}
		case "Fn::Sub":
			s, _ := x.Arg.(string)
			if s == "" {
				return ""
			}
			return strings.NewReplacer("${", "", "}", "").Replace(s)
		}
	}
	return ""
}

// Function is an AWS::Serverless::Function with the template's Globals applied.
type Function struct {
	LogicalID string
	Resource
	Env map[string]any
}

// Prop returns a function property, falling back to Globals.Function.
func (f Function) Prop(t *Template, name string) any {
	if v, ok := f.Properties[name]; ok {
		return v
	}
	return Path(t.Globals, "Function", name)
}

// Functions returns every serverless function, by logical id.
func (t *Template) Functions() map[string]Function {
	out := map[string]Function{}
	for id, r := range t.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		env := map[string]any{}
		for k, v := range Map(Path(t.Globals, "Function", "Environment", "Variables")) {
			env[k] = v
		}
		for k, v := range Map(Path(r.Properties, "Environment", "Variables")) {
			env[k] = v
		}
		out[id] = Function{LogicalID: id, Resource: r, Env: env}
	}
	return out
}

// Statement is one IAM policy statement, normalised.
type Statement struct {
	Sid        string
	Effect     string
	Actions    []string
	Resources  []string // tokens, see Token
	Principals []string // tokens of Principal.AWS
	Condition  map[string]any
}

// Statements normalises a policy document's statements. !If branches are
// both kept (a conditional statement counts as present).
func Statements(doc any) []Statement {
	var out []Statement
	for _, s := range List(Path(doc, "Statement")) {
		if f, ok := s.(Fn); ok && f.Name == "Fn::If" {
			for _, branch := range List(f.Arg)[1:] {
				if m, ok := branch.(map[string]any); ok {
					out = append(out, statement(m))
				}
			}
			continue
		}
		if m, ok := s.(map[string]any); ok {
			out = append(out, statement(m))
		}
	}
	return out
}

func statement(m map[string]any) Statement {
	st := Statement{Condition: Map(m["Condition"])}
	st.Sid, _ = m["Sid"].(string)
	st.Effect, _ = m["Effect"].(string)
	for _, a := range List(m["Action"]) {
		if s, ok := a.(string); ok {
			st.Actions = append(st.Actions, s)
		}
	}
	for _, r := range List(m["Resource"]) {
		st.Resources = append(st.Resources, Token(r))
	}
	switch p := m["Principal"].(type) {
	case string:
		st.Principals = []string{p}
	case map[string]any:
		for _, x := range List(p["AWS"]) {
			st.Principals = append(st.Principals, Token(x))
		}
	}
	return st
}

// RoleStatements returns the statements of an AWS::IAM::Role's inline
// policies and of the AWS::IAM::RolePolicy and AWS::IAM::Policy resources
// attached to it.
func (t *Template) RoleStatements(role string) []Statement {
	var out []Statement
	for _, p := range List(t.Resources[role].Properties["Policies"]) {
		out = append(out, Statements(Path(p, "PolicyDocument"))...)
	}
	for _, id := range t.ResourcesOfType("AWS::IAM::RolePolicy") {
		p := t.Resources[id].Properties
		if Token(p["RoleName"]) == role {
			out = append(out, Statements(p["PolicyDocument"])...)
		}
	}
	for _, id := range t.ResourcesOfType("AWS::IAM::Policy") {
		p := t.Resources[id].Properties
		for _, r := range List(p["Roles"]) {
			if Token(r) == role {
				out = append(out, Statements(p["PolicyDocument"])...)
			}
		}
	}
	return out
}

// ResourcesOfType returns the logical ids of every resource of a type, sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
