package canon_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
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
