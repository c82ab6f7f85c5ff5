package rie

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/monsys/hub/internal/samtemplate"
)

// function is one AWS::Serverless::Function of template.yaml.
type function struct {
	id     string // logical id, e.g. RegisterFunction
	dir    string // its code: functions/<dir>
	def    samtemplate.Function
	routes []route // its Api events
	// scheduled: it has a Schedule event that sends EventBridge's own
	// event; inputs: the constant Input of each Schedule event that sets one.
	scheduled bool
	inputs    []string
}

// route is an Api event: API Gateway sends method and path (a template such
// as /api/v1/agents/{id}) to the function.
type route struct{ method, path string }

// functions lists the template's functions, sorted by logical id.
func functions(tpl *samtemplate.Template) ([]function, error) {
	var out []function
	for id, f := range tpl.Functions() {
		uri, _ := f.Prop(tpl, "CodeUri").(string)
		dir, ok := strings.CutPrefix(path.Clean(uri), "functions/")
		if !ok || strings.Contains(dir, "/") {
			return nil, fmt.Errorf("%s: CodeUri %q is not functions/<name>", id, uri)
		}
		fn := function{id: id, dir: dir, def: f}
		for name, ev := range samtemplate.Map(f.Properties["Events"]) {
			switch typ, _ := samtemplate.Path(ev, "Type").(string); typ {
			case "Api":
				m, _ := samtemplate.Path(ev, "Properties", "Method").(string)
				p, _ := samtemplate.Path(ev, "Properties", "Path").(string)
				if m == "" || p == "" {
					return nil, fmt.Errorf("%s: Api event %s has no Method or Path", id, name)
				}
				fn.routes = append(fn.routes, route{method: strings.ToUpper(m), path: p})
			case "Schedule", "ScheduleV2":
				if in, _ := samtemplate.Path(ev, "Properties", "Input").(string); in != "" {
					fn.inputs = append(fn.inputs, in)
				} else {
					fn.scheduled = true
				}
			default:
				return nil, fmt.Errorf("%s: event %s of type %q is not covered by this check", id, name, typ)
			}
		}
		out = append(out, fn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// serves reports whether API Gateway sends method and p to f.
func (f function) serves(method, p string) bool {
	for _, r := range f.routes {
		if r.method == method && matchPath(r.path, p) {
			return true
		}
	}
	return false
}

// matchPath matches a request path against an API Gateway resource path,
// where {name} is one segment and {name+} the rest.
func matchPath(tmpl, p string) bool {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	ps := strings.Split(strings.Trim(p, "/"), "/")
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "+}") {
			return i < len(ps)
		}
		if i >= len(ps) {
			return false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if t != ps[i] {
			return false
		}
	}
	return len(ts) == len(ps)
}

// lambdaEnv is the environment Lambda gives f in stack s: the template's
// variables, resolved, and the reserved variables the function reads.
func lambdaEnv(s *stack, f function) (map[string]string, error) {
	env := map[string]string{}
	for k, v := range f.def.Env {
		r, err := s.value(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", f.id, k, err)
		}
		env[k] = r
	}
	name, err := s.ref(f.id)
	if err != nil {
		return nil, fmt.Errorf("%s: function name: %w", f.id, err)
	}
	prop := func(p, def string) (string, error) {
		v := f.def.Prop(s.tpl, p)
		if v == nil {
			return def, nil
		}
		return s.value(v)
	}
	timeout, err := prop("Timeout", "3")
	if err != nil {
		return nil, fmt.Errorf("%s: Timeout: %w", f.id, err)
	}
	memory, err := prop("MemorySize", "128")
	if err != nil {
		return nil, fmt.Errorf("%s: MemorySize: %w", f.id, err)
	}
	// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
	for k, v := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     timeout, // read by the emulator
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "2026/04/01/[$LATEST]0123456789abcdef",
		"AWS_REGION":                      stackRegion,
		"AWS_DEFAULT_REGION":              stackRegion,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	} {
		if _, set := env[k]; set {
			return nil, fmt.Errorf("%s: the template sets %s, which Lambda reserves", f.id, k)
		}
		env[k] = v
	}
	return env, nil
}
