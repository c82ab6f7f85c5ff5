package samtemplate

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrEval wraps every error of an evaluation.
var ErrEval = errors.New("evaluate")

// NoValue is what !Ref AWS::NoValue evaluates to.
type NoValue struct{}

// Eval evaluates the intrinsic functions, conditions and rules of a
// template for one set of parameter values, as CloudFormation would before
// it creates anything. A resource reference (!Ref X, !GetAtt X.A, ${X.A})
// evaluates to the placeholder "{X}" or "{X.A}": its value exists only once
// the resource does.
type Eval struct {
	T      *Template
	Params map[string]string // values given; the others take their Default
	Pseudo map[string]string // AWS::StackName, AWS::StackId, AWS::Region, ...
}

// Param returns a parameter's value: the one given, or its Default.
func (e *Eval) Param(name string) (string, bool) {
	if v, ok := e.Params[name]; ok {
		return v, true
	}
	p, ok := e.T.Parameters[name]
	if !ok {
		return "", false
	}
	d, _ := p["Default"].(string)
	return d, true
}

func (e *Eval) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return NoValue{}, nil
	}
	if v, ok := e.Pseudo[name]; ok {
		return v, nil
	}
	if v, ok := e.Param(name); ok {
		return v, nil
	}
	if _, ok := e.T.Resources[name]; ok {
		return "{" + name + "}", nil
	}
	return nil, fmt.Errorf("%w: Ref %s: no such parameter, pseudo parameter or resource", ErrEval, name)
}

// Value evaluates v: intrinsic functions are replaced by their values,
// mappings and lists are evaluated member by member (NoValue members are
// dropped).
func (e *Eval) Value(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, m := range x {
			r, err := e.Value(m)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(NoValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, m := range x {
			r, err := e.Value(m)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(NoValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	case Fn:
		return e.fn(x)
	}
	return v, nil
}

// String evaluates v and requires a string.
func (e *Eval) String(v any) (string, error) {
	r, err := e.Value(v)
	if err != nil {
		return "", err
	}
	s, ok := r.(string)
	if !ok {
		return "", fmt.Errorf("%w: %v is not a string", ErrEval, r)
	}
	return s, nil
}

func (e *Eval) args(f Fn, n int) ([]any, error) {
	a := List(f.Arg)
	if len(a) != n {
		return nil, fmt.Errorf("%w: %s takes %d arguments, got %d", ErrEval, f.Name, n, len(a))
	}
	return a, nil
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

func (e *Eval) fn(f Fn) (any, error) {
	switch f.Name {
	case "Ref":
		s, _ := f.Arg.(string)
		return e.ref(s)
	case "Fn::GetAtt":
		p := List(f.Arg)
		if len(p) != 2 {
			return nil, fmt.Errorf("%w: GetAtt %v", ErrEval, f.Arg)
		}
		return fmt.Sprintf("{%v.%v}", p[0], p[1]), nil
	case "Fn::Sub":
		return e.sub(f)
	case "Fn::If":
		a, err := e.args(f, 3)
		if err != nil {
			return nil, err
		}
		name, _ := a[0].(string)
		ok, err := e.Condition(name)
		if err != nil {
			return nil, err
		}
		if ok {
			return e.Value(a[1])
		}
		return e.Value(a[2])
	case "Fn::Select":
		a, err := e.args(f, 2)
		if err != nil {
			return nil, err
		}
		is, err := e.String(a[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, fmt.Errorf("%w: Select index %q", ErrEval, is)
		}
		l, err := e.Value(a[1])
		if err != nil {
			return nil, err
		}
		list := List(l)
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("%w: Select %d of %d values", ErrEval, i, len(list))
		}
		return list[i], nil
	case "Fn::Split":
		a, err := e.args(f, 2)
		if err != nil {
			return nil, err
		}
		sep, _ := a[0].(string)
		s, err := e.String(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Join":
		a, err := e.args(f, 2)
		if err != nil {
			return nil, err
		}
		sep, _ := a[0].(string)
		l, err := e.Value(a[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, p := range List(l) {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("%w: Join of %v", ErrEval, p)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, sep), nil
	case "Condition", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains", "Fn::EachMemberEquals":
		b, err := e.Bool(f)
		return strconv.FormatBool(b), err
	}
	return nil, fmt.Errorf("%w: %s is not supported here", ErrEval, f.Name)
}

func (e *Eval) sub(f Fn) (any, error) {
	s, vars := "", map[string]any{}
	switch a := f.Arg.(type) {
	case string:
		s = a
	default:
		l := List(a)
		if len(l) != 2 {
			return nil, fmt.Errorf("%w: Sub %v", ErrEval, a)
		}
		s, _ = l[0].(string)
		vars = Map(l[1])
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := subVar.FindStringSubmatch(m)[1]
		var v any
		var err error
		if x, ok := vars[name]; ok {
			v, err = e.Value(x)
		} else if res, attr, ok := strings.Cut(name, "."); ok {
			v = "{" + res + "." + attr + "}"
		} else {
			v, err = e.ref(name)
		}
		str, ok := v.(string)
		if err == nil && !ok {
			err = fmt.Errorf("%w: Sub ${%s} is %v", ErrEval, name, v)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return str
	})
	return out, firstErr
}

// Condition evaluates a named condition of Conditions.
func (e *Eval) Condition(name string) (bool, error) {
	c, ok := e.T.Conditions[name]
	if !ok {
		return false, fmt.Errorf("%w: no condition %q", ErrEval, name)
	}
	return e.Bool(c)
}

// Bool evaluates a condition function (Equals, Not, And, Or, Condition, and
// the rule functions Contains and EachMemberEquals).
func (e *Eval) Bool(v any) (bool, error) {
	if s, ok := v.(string); ok {
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	f, ok := v.(Fn)
	if !ok {
		return false, fmt.Errorf("%w: %v is not a condition", ErrEval, v)
	}
	switch f.Name {
	case "Condition":
		name, _ := f.Arg.(string)
		return e.Condition(name)
	case "Fn::Equals":
		a, err := e.args(f, 2)
		if err != nil {
			return false, err
		}
		x, err := e.Value(a[0])
		if err != nil {
			return false, err
		}
		y, err := e.Value(a[1])
		if err != nil {
			return false, err
		}
		return fmt.Sprint(x) == fmt.Sprint(y), nil
	case "Fn::Not":
		a, err := e.args(f, 1)
		if err != nil {
			return false, err
		}
		b, err := e.Bool(a[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		all := f.Name == "Fn::And"
		for _, c := range List(f.Arg) {
			b, err := e.Bool(c)
			if err != nil {
				return false, err
			}
			if b != all {
				return !all, nil
			}
		}
		return all, nil
	case "Fn::Contains", "Fn::EachMemberEquals":
		a, err := e.args(f, 2)
		if err != nil {
			return false, err
		}
		l, err := e.Value(a[0])
		if err != nil {
			return false, err
		}
		x, err := e.Value(a[1])
		if err != nil {
			return false, err
		}
		list := List(l)
		if f.Name == "Fn::Contains" {
			for _, m := range list {
				if fmt.Sprint(m) == fmt.Sprint(x) {
					return true, nil
				}
			}
			return false, nil
		}
		for _, m := range list {
			if fmt.Sprint(m) != fmt.Sprint(x) {
				return false, nil
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("%w: %s is not a condition function", ErrEval, f.Name)
}

// RuleFailure is an assertion of the template's Rules that does not hold.
type RuleFailure struct {
	Rule, Description string
}

// Rules evaluates the template's Rules section: the assertions of every rule
// whose RuleCondition holds (or that has none), in rule-name order.
func (e *Eval) Rules() ([]RuleFailure, error) {
	names := make([]string, 0, len(e.T.Rules))
	for n := range e.T.Rules {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []RuleFailure
	for _, n := range names {
		r := Map(e.T.Rules[n])
		if c, ok := r["RuleCondition"]; ok {
			b, err := e.Bool(c)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", n, err)
			}
			if !b {
				continue
			}
		}
		for _, a := range List(r["Assertions"]) {
			b, err := e.Bool(Path(a, "Assert"))
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", n, err)
			}
			if !b {
				d, _ := Path(a, "AssertDescription").(string)
				out = append(out, RuleFailure{Rule: n, Description: d})
			}
		}
	}
	return out, nil
}
