package hub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/monsys/hub/internal/canon"
)

// DecodeJSONObject decodes a request body that must be one JSON object into
// the struct v points to, strictly (SPEC 4.1, docs/decisions.md):
//
//   - the body is I-JSON (RFC 7493), as the canonicalizer reads it: valid
//     UTF-8, no lone surrogates, no member name twice (also when one is
//     written with escapes), numbers in the double range, nothing after it;
//   - member names are matched exactly against v's json tags; a member whose
//     name differs from one of them only in case (or Unicode case folding) is
//     refused, never taken for it, so that a misspelt key cannot turn a
//     registration into a legacy one; other members are ignored.
func DecodeJSONObject(body []byte, v any) error {
	if _, err := canon.Transform(body); err != nil {
		return &Error{Code: CodeInvalidRequest, Message: "body must be one well-formed JSON object: " + strings.TrimPrefix(err.Error(), "canon: "), Cause: err}
	}
	if t := bytes.TrimSpace(body); t[0] != '{' {
		return refuse(CodeInvalidRequest, "body must be a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return &Error{Code: CodeInvalidRequest, Message: "body must be a JSON object", Cause: err}
	}
	rv := reflect.ValueOf(v).Elem()
	fields := map[string]reflect.Value{}
	for i := range rv.NumField() {
		if name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			fields[name] = rv.Field(i)
		}
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names) // the first problem in a fixed order
	for _, name := range names {
		f, ok := fields[name]
		if !ok {
			for known := range fields {
				if strings.EqualFold(name, known) {
					return refuse(CodeInvalidRequest, "member %q is not %q: member names are case-sensitive", name, known)
				}
			}
			continue
		}
		if err := json.Unmarshal(members[name], f.Addr().Interface()); err != nil {
			return &Error{Code: CodeInvalidRequest, Message: "member " + name + " has the wrong type", Cause: err}
		}
	}
	return nil
}
