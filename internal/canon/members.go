package canon

import (
	"bytes"
	"encoding/json"
)

// Members calls fn with each member of obj, in order: its name (escapes
// undone; the bytes are obj's own unless the name holds an escape) and its
// value's bytes exactly as obj holds them, without the surrounding white
// space. obj must be one VALID JSON object, e.g. input that Transform (or
// Parse's walk) has accepted: Members does not validate, and on other input
// its result is undefined. It stops at, and returns, fn's first error.
// Walking members this way costs a fraction of encoding/json's
// Unmarshal, which validates the whole input again first.
func Members(obj []byte, fn func(name, value []byte) error) error {
	j := SkipSpace(obj, SkipSpace(obj, 0)+1) // past the '{'
	for obj[j] != '}' {
		kend := SkipValue(obj, j)
		name := obj[j+1 : kend-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var k string
			if err := json.Unmarshal(obj[j:kend], &k); err != nil {
				return err
			}
			name = []byte(k)
		}
		v := SkipSpace(obj, SkipSpace(obj, kend)+1) // past the colon
		vend := SkipValue(obj, v)
		if err := fn(name, obj[v:vend]); err != nil {
			return err
		}
		j = SkipSpace(obj, vend)
		if obj[j] == ',' {
			j = SkipSpace(obj, j+1)
		}
	}
	return nil
}

// SkipValue returns the index just after the JSON value that starts at d[i].
// d must be valid JSON there (see Members).
func SkipValue(d []byte, i int) int {
	switch d[i] {
	case '"':
		return skipStr(d, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch d[i] {
			case '"':
				i = skipStr(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for ; i < len(d); i++ { // a number or a literal
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// skipStr returns the index just after the string that starts at d[i]:
// the first quote after it not escaped, i.e. not preceded by an odd run of
// backslashes (found with IndexByte, which is fast on long strings).
func skipStr(d []byte, i int) int {
	for j := i + 1; ; {
		q := j + bytes.IndexByte(d[j:], '"')
		b := q
		for b > i+1 && d[b-1] == '\\' {
			b--
		}
		if (q-b)%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}
