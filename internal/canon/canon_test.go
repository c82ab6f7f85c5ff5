package canon_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/canon"
)

func TestTransformVectors(t *testing.T) {
	inputs, err := filepath.Glob("testdata/input/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		t.Run("ok/"+name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata/output", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := canon.Transform(raw)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			again, err := canon.Transform(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("canonical form is not a fixed point: %s (%v)", again, err)
			}
		})
	}
}

func TestNumberVectors(t *testing.T) {
	f, err := os.Open("testdata/numbers.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		bits, err := hex.DecodeString(fields[0])
		if err != nil {
			t.Fatal(err)
		}
		v := math.Float64frombits(binary.BigEndian.Uint64(bits))
		want := fields[1]
		n++
		t.Run(fields[0], func(t *testing.T) {
			got, err := canon.Marshal(v)
			if want == "error" {
				if err == nil {
					t.Fatalf("Marshal(%v) = %s, want an error", v, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Marshal(%v): %v", v, err)
			}
			if string(got) != want {
				t.Fatalf("Marshal(%v) = %s, want %s", v, got, want)
			}
			// The same double written in another JSON spelling canonicalizes the same.
			got, err = canon.Transform([]byte(strings.ToUpper(want)))
			if err != nil || string(got) != want {
				t.Fatalf("Transform(%s) = %s, %v", want, got, err)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d number vectors", n)
	}
}

func TestTransformRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"fail/duplicate-key", `{"a":1,"a":2}`, canon.ErrDuplicateKey},
		{"fail/duplicate-key-escaped", `{"a":1,"\u0061":2}`, canon.ErrDuplicateKey},
		{"fail/lone-high-surrogate", `"\ud800"`, canon.ErrInvalid},
		{"fail/lone-low-surrogate", `"\udc00x"`, canon.ErrInvalid},
		{"fail/bad-utf8", "\"\xff\"", canon.ErrInvalid},
		{"fail/bad-utf8-in-long-string", "\"abcdefghijklmnop\xc3(qrstuvwxyz\"", canon.ErrInvalid},
		{"fail/utf8-surrogate-in-long-string", "\"abcdefghijklmnop\xed\xa0\x80qrstuvwxyz\"", canon.ErrInvalid},
		{"fail/overlong-utf8-key", "{\"abcdefghij\xc0\xafk\":1}", canon.ErrInvalid},
		{"fail/bad-utf8-outside-strings", "[1,\xff]", canon.ErrInvalid},
		{"fail/bad-utf8-after-duplicate-key", "{\"a\":1,\"a\":2}\xff", canon.ErrInvalid},
		{"fail/bad-utf8-after-overflow", "[1e400,\"\xff\"]", canon.ErrInvalid},
		{"fail/control-char-in-long-string", "\"abcdefghijklmnop\x1fqrstuvwxyz\"", canon.ErrInvalid},
		{"fail/overflow", `1e400`, canon.ErrNumber},
		{"fail/trailing", `{} {}`, canon.ErrInvalid},
		{"fail/leading-zero", `01`, canon.ErrInvalid},
		{"fail/bare-word", `nul`, canon.ErrInvalid},
		{"fail/control-char", "\"a\x01\"", canon.ErrInvalid},
		{"fail/unterminated", `{"a":[1,2}`, canon.ErrInvalid},
		{"fail/empty", ``, canon.ErrInvalid},
		{"fail/deep", strings.Repeat("[", canon.MaxDepth+2) + strings.Repeat("]", canon.MaxDepth+2), canon.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canon.Transform([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Transform(%q) = %q, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// deep returns n levels of nesting: arrays and objects in turn, the
// innermost holding a number.
func deep(n int) string {
	if n == 0 {
		return "1"
	}
	if n%2 == 0 {
		return `{"k":` + deep(n-1) + `}`
	}
	return "[" + deep(n-1) + "]"
}

// TestTransformRules: every refusal is an *Error naming the rule broken,
// where, and (for names, escapes and numbers) what; SPEC 4.2 bounds the
// nesting at 64 levels.
func TestTransformRules(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		in     string
		rule   canon.Rule
		offset int
		reason string
	}{
		{"fail/duplicate", `{"a":{"v":1,"w":2,"v":3}}`, canon.RuleDuplicate, 5, `duplicate member name "v"`},
		{"fail/duplicate-escaped", `{"v":1,"\u0076":2}`, canon.RuleDuplicate, 0, `duplicate member name "v"`},
		{"fail/duplicate-long-name", `{"` + long + `":1,"` + long + `":2}`, canon.RuleDuplicate, 0, `duplicate member name "` + long[:40] + `"`},
		{"fail/duplicate-control-name", `{"\u0000":1,"\u0000":2}`, canon.RuleDuplicate, 0, `duplicate member name "\x00"`},
		{"fail/duplicate-many-members", `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"l":1,"m":1,` +
			`"n":1,"o":1,"p":1,"q":1,"r":1,"s":1,"t":1,"u":1,"v":1,"w":1,"x":1,"y":1,"z":1,"a":2}`, canon.RuleDuplicate, 0, `duplicate member name "a"`},
		{"fail/invalid-utf8", "[\"ok\",\"a\xff\"]", canon.RuleUTF8, 8, "invalid UTF-8"},
		{"fail/invalid-utf8-after-duplicate", "{\"a\":1,\"a\":2,\"b\":\"\xc3\"}", canon.RuleUTF8, 18, "invalid UTF-8"},
		{"fail/lone-high-surrogate", `["\ud800x"]`, canon.RuleSurrogate, 2, `lone surrogate \ud800`},
		{"fail/lone-low-surrogate", `{"k":"ab\udfff"}`, canon.RuleSurrogate, 8, `lone surrogate \udfff`},
		{"fail/high-surrogate-then-other-escape", `"\ud83d\u0041"`, canon.RuleSurrogate, 1, `lone surrogate \ud83d`},
		{"fail/number-overflow", `{"v":[1,-1e400]}`, canon.RuleNumber, 8, "number -1e400 is outside the IEEE 754 double range"},
		{"fail/number-long-overflow", `1` + strings.Repeat("0", 400), canon.RuleNumber, 0, "number 1" + strings.Repeat("0", 36) + "... is outside the IEEE 754 double range"},
		{"fail/depth-65-arrays", strings.Repeat("[", 65) + strings.Repeat("]", 65), canon.RuleDepth, 64, "nesting deeper than 64 levels"},
		{"fail/depth-65-mixed", deep(65), canon.RuleDepth, 192, "nesting deeper than 64 levels"},
		{"fail/depth-65-empty-object", strings.Repeat(`{"k":`, 64) + `{}` + strings.Repeat("}", 64), canon.RuleDepth, 320, "nesting deeper than 64 levels"},
		{"fail/syntax", `{"a" 1}`, canon.RuleSyntax, 5, `not JSON: expected ':' after key "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canon.Transform([]byte(tt.in))
			var ce *canon.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Transform(%.80q) = %.80q, %v; want a *canon.Error", tt.in, got, err)
			}
			if ce.Rule != tt.rule || ce.Offset != tt.offset || ce.Reason() != tt.reason {
				t.Fatalf("Transform(%.80q): rule %d at %d, %q; want rule %d at %d, %q", tt.in, ce.Rule, ce.Offset, ce.Reason(), tt.rule, tt.offset, tt.reason)
			}
		})
	}
	for _, in := range []string{deep(64), strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat(`{"k":`, 63) + `{}` + strings.Repeat("}", 63)} {
		if _, err := canon.Transform([]byte(in)); err != nil {
			t.Errorf("ok/depth-64: Transform(%.40q...): %v", in, err)
		}
	}
}

// TestIJSONVectors runs the vectors verify.py's tests share: each "ok"
// input canonicalizes, each "fail" one breaks the rule it names.
func TestIJSONVectors(t *testing.T) {
	rules := map[string]canon.Rule{"syntax": canon.RuleSyntax, "utf8": canon.RuleUTF8, "surrogate": canon.RuleSurrogate,
		"duplicate": canon.RuleDuplicate, "number": canon.RuleNumber, "depth": canon.RuleDepth}
	raw, err := os.ReadFile("testdata/ijson.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		in, err := hex.DecodeString(f[2])
		if err != nil || len(f) != 4 {
			t.Fatalf("bad vector %q", line)
		}
		n++
		t.Run(f[0]+"/"+f[3], func(t *testing.T) {
			out, err := canon.Transform(in)
			if f[0] == "ok" {
				if err != nil {
					t.Fatalf("Transform(%.60q): %v", in, err)
				}
				return
			}
			var ce *canon.Error
			if !errors.As(err, &ce) || ce.Rule != rules[f[1]] {
				t.Fatalf("Transform(%.60q) = %.60q, %v; want rule %s", in, out, err, f[1])
			}
		})
	}
	if n < 30 {
		t.Fatalf("only %d vectors", n)
	}
}

// TestAppendValue: the value at pos is canonicalized and delimited; what
// follows it is not read; errors give offsets in the whole input.
func TestAppendValue(t *testing.T) {
	var tr canon.Transformer
	in := []byte(`[ {"b":1,"a":[2.50]} ,"\u0041", 1e2]` + "\xff garbage")
	out, end, err := tr.AppendValue([]byte("x"), in, 1)
	if err != nil || string(out) != `x{"a":[2.5],"b":1}` || end != 20 {
		t.Fatalf("AppendValue(pos 1) = %q, %d, %v", out, end, err)
	}
	out, end, err = tr.AppendValue(nil, in, 22)
	if err != nil || string(out) != `"A"` || end != 30 {
		t.Fatalf("AppendValue(pos 22) = %q, %d, %v", out, end, err)
	}
	out, end, err = tr.AppendValue(nil, in, 31)
	if err != nil || string(out) != `100` || end != 35 {
		t.Fatalf("AppendValue(pos 31) = %q, %d, %v", out, end, err)
	}
	bad := []byte(`[1,{"a":1,"a":2}]`)
	var ce *canon.Error
	if _, _, err := tr.AppendValue(nil, bad, 3); !errors.As(err, &ce) || ce.Rule != canon.RuleDuplicate || ce.Offset != 3 {
		t.Fatalf("AppendValue(duplicate at 3) = %v", err)
	}
	if _, _, err := tr.AppendValue(nil, []byte("   "), 1); !errors.As(err, &ce) || ce.Rule != canon.RuleSyntax || ce.Offset != 3 {
		t.Fatalf("AppendValue(white space) = %v", err)
	}
}

// checkSeeds are values Check and AppendValue must agree on: accepted ones
// whose members need ordering, and one of each rule broken.
var checkSeeds = []string{
	`{"type":"metric","ts":"t","v":1.50,"tags":{"b":1,"a":2}}`, `{"ts":"t","type":"m"}`,
	`[{"b":1,"a":2},{"b":1,"a":2}]`, `  {"\u0062":"\u00e9","a":[1e2]} tail`, `"\ud83d\ude00"`, `-0`,
	`{"b":1,"a":2,"b":3}`, `{"b":1,"a":2,"\u0061":3}`, `{"a":1,"b":}`, "{\"a\":\"\xff\"}",
	`{"a":"\udc00"}`, `{"a":1e400}`, strings.Repeat("[", 65) + strings.Repeat("]", 65), `{"a":1`, ``,
}

// checkAgrees holds Check to AppendValue on in: the same end, the same
// error, the same members; tc and ta are reused, so that the shapes of
// the records before count.
func checkAgrees(t *testing.T, tc, ta *canon.Transformer, in []byte) {
	t.Helper()
	end, err := tc.Check(in, 0)
	_, wantEnd, wantErr := ta.AppendValue(nil, in, 0)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || err == nil && end != wantEnd {
		t.Fatalf("Check(%q) = %d, %v; AppendValue: %d, %v", in, end, err, wantEnd, wantErr)
	}
	var got, want []string
	for name, value := range tc.Members(in) {
		got = append(got, string(name)+"="+string(value))
	}
	for name, value := range ta.Members(in) {
		want = append(want, string(name)+"="+string(value))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Check(%q): members %q; after AppendValue %q", in, got, want)
	}
}

// TestCheck: Check accepts and refuses what AppendValue does, the same way.
func TestCheck(t *testing.T) {
	var tc, ta canon.Transformer
	for _, s := range checkSeeds {
		checkAgrees(t, &tc, &ta, []byte(s))
	}
	// Check leaves the transformer writing canonical forms.
	if out, err := tc.Append(nil, []byte(checkSeeds[0])); err != nil || string(out) != `{"tags":{"a":2,"b":1},"ts":"t","type":"metric","v":1.5}` {
		t.Fatalf("Append after Check = %s, %v", out, err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range checkSeeds {
		f.Add([]byte(s))
	}
	var tc, ta canon.Transformer
	f.Fuzz(func(t *testing.T, in []byte) { checkAgrees(t, &tc, &ta, in) })
}

func FuzzTransform(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x"]}`, `"\ud83d\ude00"`, `-0`, `[{"b":{},"a":null}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := canon.Transform(in)
		if err != nil {
			return
		}
		again, err := canon.Transform(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}

// TestEscapedKeyBeforeObject: the decoded bytes of an escaped key are kept
// while its value, an object with escaped keys of its own, is read (found
// by verify.py's cross-check, TestCanonicalJSONPython in internal/pack).
func TestEscapedKeyBeforeObject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"\u007f\ud83d\ude00":{"\u0001":1,"a":2},"\u000c":1,"\u001f":2}`, "{\"\\f\":1,\"\\u001f\":2,\"\x7f\U0001F600\":{\"\\u0001\":1,\"a\":2}}"},
		{`{"\u00e9":{"b":1,"a":2},"\u0041":1}`, `{"A":1,"é":{"a":2,"b":1}}`},
	} {
		got, err := canon.Transform([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Transform(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
