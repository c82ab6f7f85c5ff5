package rie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// What differs between two runs of the same events over two copies of the
// same state, and nothing else: the clock, random identifiers and secrets,
// keys made during the run, names of the two stacks' resources. Each is
// replaced by a placeholder naming its kind, so the rest (status codes,
// error codes and messages, headers, every other field and value) must be
// equal.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`-----BEGIN ([A-Z ]+)-----[A-Za-z0-9+/=\s]+-----END [A-Z ]+-----\n?`), "<pem $1>"},
	{regexp.MustCompile(`https?://[^\s"]+`), "<url>"},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), "<time>"},
	{regexp.MustCompile(`\b(ag|pk|ms|msa|psk|sk)_[A-Za-z0-9_-]{6,}`), "<$1_id>"},
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<sha256>"},
	{regexp.MustCompile(`\b[0-9a-f]{2}(:[0-9a-f]{2}){31}\b`), "<sha256>"},
	{regexp.MustCompile(`(^|[^A-Za-z0-9+/])[A-Za-z0-9+/]{43}=`), "$1<32 bytes>"},
	{regexp.MustCompile(`\barn:aws:[a-z0-9-]+:[a-z0-9-]*:\d*:[^\s"]+`), "<arn>"},
}

// volatileKeys are object members whose value is measured, or depends on
// random bytes: a cycle's duration, the compressed size of a pack that holds
// run-specific keys and ids.
var volatileKeys = map[string]bool{"duration": true, "size": true}

// normalize parses a function's response. An API Gateway proxy response has
// its JSON body parsed in place, so the body is compared member by member.
func normalize(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("response is not JSON: %w: %.300q", err, b)
	}
	if m, ok := v.(map[string]any); ok {
		if body, ok := m["body"].(string); ok && m["statusCode"] != nil && m["isBase64Encoded"] != true {
			d := json.NewDecoder(strings.NewReader(body))
			d.UseNumber()
			var parsed any
			if err := d.Decode(&parsed); err == nil {
				m["body"] = parsed
			}
		}
	}
	return scrub("", v), nil
}

func scrub(key string, v any) any {
	if volatileKeys[key] {
		return fmt.Sprintf("<%s>", key)
	}
	switch x := v.(type) {
	case string:
		for _, p := range volatile {
			x = p.re.ReplaceAllString(x, p.repl)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = scrub(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = scrub("", e)
		}
	}
	return v
}

// diff lists where a and b differ, as JSON paths, at most max of them.
func diff(path string, a, b any, max int) []string {
	if max <= 0 {
		return nil
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			xv, xok := x[k]
			yv, yok := y[k]
			switch {
			case !xok:
				out = append(out, fmt.Sprintf("%s.%s: missing, want %s", path, k, show(yv)))
			case !yok:
				out = append(out, fmt.Sprintf("%s.%s: %s, want it missing", path, k, show(xv)))
			default:
				out = append(out, diff(path+"."+k, xv, yv, max-len(out))...)
			}
			if len(out) >= max {
				return out[:max]
			}
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		var out []string
		for i := range x {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], max-len(out))...)
			if len(out) >= max {
				return out[:max]
			}
		}
		return out
	default:
		if fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: %s, want %s", path, show(a), show(b))}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func TestCompare(t *testing.T) {
	proxy := func(status int, body string) string {
		b, _ := json.Marshal(map[string]any{"statusCode": status, "headers": map[string]string{"Content-Type": "application/json"},
			"body": body, "isBase64Encoded": false})
		return string(b)
	}
	tests := []struct {
		name     string
		got      string
		want     string
		diffPath string // "" when the two must compare equal
	}{
		{name: "ok/ids-times-urls-differ",
			got:  proxy(201, `{"agent_id":"ag_Q2x9LmT4kP","token":"ms_abcdefghijklmnop","at":"2026-12-06T01:02:03.456Z","url":"https://127.0.0.1:9000/b1/x?X-Amz-Signature=1"}`),
			want: proxy(201, `{"agent_id":"ag_Zz81kPq0aa","token":"ms_qrstuvwxyzabcdef","at":"2026-12-06T01:02:04Z","url":"https://127.0.0.1:9000/b2/y?X-Amz-Signature=2"}`)},
		{name: "ok/pem-and-fingerprint",
			got:  `{"cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","fp":"` + strings.Repeat("ab", 32) + `"}`,
			want: `{"cert":"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n","fp":"` + strings.Repeat("cd", 32) + `"}`},
		{name: "ok/key-fingerprints",
			got:  `{"fingerprint":"45:2b:0e:45:b0:15:58:d8:53:51:ef:69:1b:8d:f3:13:ed:fc:8b:26:b0:6a:18:f5:3b:dd:d6:19:43:d4:fd:14","public_key":"RWDFjWvjXMEjzPQ1NxJyMyUmmAXR0Tu1IDIphV8P9ro="}`,
			want: `{"fingerprint":"34:ef:ed:5f:35:e9:8e:a9:e5:f2:38:15:ab:c8:e4:dd:94:1b:26:a1:02:fe:d9:c2:c4:d2:f4:a7:b9:c1:5f:52","public_key":"oIMeC1ZN93Ce4h2OZ5TyRFUWLZyrW2pD1bPESaekaAY="}`},
		{name: "ok/measured-duration", got: `{"checked":1,"duration":1200}`, want: `{"checked":1,"duration":98000}`},
		{name: "fail/status", got: proxy(500, `{}`), want: proxy(200, `{}`), diffPath: ".statusCode"},
		{name: "fail/error-code", got: proxy(403, `{"error":{"code":"forbidden"}}`), want: proxy(403, `{"error":{"code":"cert_mismatch"}}`), diffPath: ".body.error.code"},
		{name: "fail/extra-member", got: proxy(200, `{"a":1,"b":2}`), want: proxy(200, `{"a":1}`), diffPath: ".body.b"},
		{name: "fail/status-word", got: proxy(200, `{"status":"failed","size":1}`), want: proxy(200, `{"status":"ready","size":2}`), diffPath: ".body.status"},
		{name: "fail/number", got: `{"checked":2}`, want: `{"checked":1}`, diffPath: ".checked"},
		{name: "fail/number-or-string", got: `{"n":1}`, want: `{"n":"1"}`, diffPath: ".n"},
		{name: "fail/array-length", got: `{"l":[1,2]}`, want: `{"l":[1]}`, diffPath: ".l"},
		{name: "fail/error-document", got: `{"errorMessage":"boom","errorType":"errorString"}`, want: `{"statusCode":200}`, diffPath: ".errorMessage"},
		{name: "fail/header", got: `{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"x"}`,
			want: `{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"x"}`, diffPath: ".headers.Content-Type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := normalize([]byte(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			b, err := normalize([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			d := diff("", a, b, 5)
			switch {
			case tc.diffPath == "" && len(d) > 0:
				t.Errorf("differ: %v", d)
			case tc.diffPath != "" && (len(d) == 0 || !strings.HasPrefix(d[0], tc.diffPath+":") && !strings.HasPrefix(d[0], tc.diffPath+" ")):
				t.Errorf("diff = %v, want one at %s", d, tc.diffPath)
			}
		})
	}
}
