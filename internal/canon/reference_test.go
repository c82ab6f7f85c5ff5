package canon

// The canonicalizer as first written (a recursive parser that builds each
// value separately), kept as a reference for differential tests of the
// single-pass transformer.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// refTransform is the reference implementation of Transform.
func refTransform(in []byte) ([]byte, error) {
	if !utf8.Valid(in) {
		return nil, fmt.Errorf("%w: not valid utf-8", ErrInvalid)
	}
	p := refParser{in: in}
	p.skipSpace()
	out, err := p.value(make([]byte, 0, len(in)), 0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errorf("unexpected %q after the value", p.in[p.pos])
	}
	return out, nil
}

type refParser struct {
	in  []byte
	pos int
}

func (p *refParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalid, p.pos, fmt.Sprintf(format, args...))
}

func (p *refParser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value reads the value at p.pos, which depth arrays and objects enclose:
// an array or object there is at level depth+1.
func (p *refParser) value(out []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.in) {
		return nil, p.errorf("unexpected end of input")
	}
	if c := p.in[p.pos]; (c == '{' || c == '[') && depth+1 > MaxDepth {
		return nil, p.errorf("nesting deeper than %d", MaxDepth)
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return refAppendString(out, s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(out)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
				p.pos += len(lit)
				return append(out, lit...), nil
			}
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

type refMember struct {
	key   string
	value []byte
}

// refCompareKeys orders keys by their UTF-16 code units (RFC 8785 3.2.3). That
// is UTF-8 byte order unless a key holds a character above U+FFFF (a 4-byte
// UTF-8 sequence, lead byte 0xF0 or more), so only then convert.
func refCompareKeys(a, b string) int {
	if !refHasSupplementary(a) && !refHasSupplementary(b) {
		return strings.Compare(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func refHasSupplementary(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xf0 {
			return true
		}
	}
	return false
}

func (p *refParser) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // '{'
	var members []refMember
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return nil, p.errorf("expected an object key")
		}
		raw, err := p.str()
		if err != nil {
			return nil, err
		}
		key := string(raw)
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		members = append(members, refMember{key: key, value: v})
		p.skipSpace()
		if p.pos >= len(p.in) {
			return nil, p.errorf("unterminated object")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != '}' {
			return nil, p.errorf("expected ',' or '}' in object")
		}
		p.pos++
		break
	}
	// RFC 8785 section 3.2.3: sort by the UTF-16 code units of the raw keys.
	slices.SortFunc(members, func(a, b refMember) int { return refCompareKeys(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if members[i-1].key == m.key {
				return nil, fmt.Errorf("%w: %q", ErrDuplicateKey, m.key)
			}
			out = append(out, ',')
		}
		out = refAppendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (p *refParser) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // '['
	out = append(out, '[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		p.skipSpace()
		var err error
		if out, err = p.value(out, depth+1); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return nil, p.errorf("unterminated array")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != ']' {
			return nil, p.errorf("expected ',' or ']' in array")
		}
		p.pos++
		return append(out, ']'), nil
	}
}

// number validates the JSON number grammar, then re-serializes the double it
// denotes the way ECMAScript's Number.prototype.toString does (RFC 8785 3.2.2.3).
func (p *refParser) number(out []byte) ([]byte, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.in[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.in) && p.in[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.errorf("malformed number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("malformed number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("malformed number")
		}
	}
	lit := p.in[start:p.pos]
	if refIsSmallInt(lit) {
		// At most 15 digits: exact as a double, and ECMAScript prints it as is.
		if string(lit) == "-0" {
			return append(out, '0'), nil
		}
		return append(out, lit...), nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrNumber, lit)
	}
	s, err := jcs.NumberToJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrNumber, lit)
	}
	return append(out, s...), nil
}

func refIsSmallInt(lit []byte) bool {
	digits := lit
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// str decodes one JSON string starting at the opening quote. A string
// without escapes is returned as a slice of the input.
func (p *refParser) str() ([]byte, error) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			p.pos++
			return p.in[start : p.pos-1], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	b := append([]byte(nil), p.in[start:p.pos]...)
	for {
		if p.pos >= len(p.in) {
			return nil, p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b, nil
		case c < 0x20:
			return nil, p.errorf("control character %#02x in string", c)
		case c != '\\':
			b = append(b, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.in) {
			return nil, p.errorf("unterminated escape")
		}
		e := p.in[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || !bytes.HasPrefix(p.in[p.pos:], []byte(`\u`)) {
					return nil, p.errorf("lone surrogate \\u%04x", r)
				}
				p.pos += 2
				r2, err := p.hex4()
				if err != nil {
					return nil, err
				}
				if r2 < 0xdc00 || r2 > 0xdfff {
					return nil, p.errorf("lone surrogate \\u%04x", r)
				}
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			return nil, p.errorf("bad escape \\%c", e)
		}
	}
}

func (p *refParser) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, p.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.in[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("bad \\u escape %q", p.in[p.pos:p.pos+4])
	}
	p.pos += 4
	return rune(v), nil
}

// refAppendString writes s as RFC 8785 requires: only '"', '\\' and control
// characters are escaped, with the short forms where JSON has them.
func refAppendString[S string | []byte](out []byte, s S) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				out = append(out, c)
			}
		}
	}
	return append(out, '"')
}

// FuzzTransformReference checks that the single-pass transformer and the
// reference implementation agree on every input: same output, or both fail
// with the same class of error.
func FuzzTransformReference(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2.5,"x"]}`, `"\ud83d\ude00"`, `-0`, `[{"b":{},"a":null}]`,
		`{"\u0061":1,"a":2}`, `{"z":{"y":1,"x":[{"b":1,"a":2}]},"a":1e21}`, `1E-7`, `{"é":1,"\u00e9x":2,"😀":3,"\uffff":4}`,
		`{"a":"\n\u0001\/"}`, `123456789012345678`, `[1e400]`, `{"a" : 1 , "b" :2 }`,
		`{"abcdefghijé":"0123456789😀abcdefgh","abcdefghi":"\u00e9xxxxxxxxxxxxxxxx\"yy"}`,
		`{"type":"metric","ts":"2026-04-01T00:00:00Z","agent_id":"web-edge-07","cpu":142.71428571428572}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := refTransform(in)
		got, gerr := Transform(in)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Transform(%q) = %q, %v; reference %q, %v", in, got, gerr, want, werr)
		}
		if werr != nil {
			for _, e := range []error{ErrInvalid, ErrDuplicateKey, ErrNumber} {
				if errors.Is(werr, e) != errors.Is(gerr, e) {
					t.Fatalf("Transform(%q) error %v, reference %v", in, gerr, werr)
				}
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Transform(%q) = %q, reference %q", in, got, want)
		}
	})
}

// TestAppendNumberMatchesJCS compares the number formatter with
// gowebpki/jcs's on many doubles of every magnitude.
func TestAppendNumberMatchesJCS(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		want, werr := jcs.NumberToJSON(f)
		got, gerr := AppendNumber(nil, f)
		if (werr == nil) != (gerr == nil) || (werr == nil && string(got) != want) {
			t.Fatalf("AppendNumber(%v) = %q, %v; jcs %q, %v", f, got, gerr, want, werr)
		}
	}
	for _, f := range []float64{0, 1, -1, 1e21, 1e-7, 9.999999999999999e20, 1e-6, 123e-9, 5e-324, math.MaxFloat64, 0.1, 1.5, 100, 1e15, 1e16, 2e-7} {
		check(f)
		check(-f)
	}
	for range 200000 {
		check(math.Float64frombits(r.Uint64()))
		check(float64(r.Int64N(1<<62)) / math.Pow(10, float64(r.IntN(40))))
	}
}
