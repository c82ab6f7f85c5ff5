package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// DecodeEvent decodes an API Gateway proxy event exactly as encoding/json
// decodes it into events.APIGatewayProxyRequest, for less CPU: the body,
// most of an ingest event's bytes, is unquoted in one pass, and
// encoding/json decodes the rest of the event with an empty body in its
// place. Whenever the fast path cannot be sure of giving encoding/json's
// answer (no top-level body string, two members that could be the body, a
// key with escapes or non-ASCII bytes, a \u escape of a surrogate, a control
// byte or invalid UTF-8 in the body, a malformed top level), the whole event
// goes to encoding/json, whose answer, or error, is returned.
func DecodeEvent(data []byte) (events.APIGatewayProxyRequest, error) {
	var ev events.APIGatewayProxyRequest
	if body, start, end, ok := bodyMember(data); ok {
		rest := make([]byte, 0, len(data)-(end-start)+2)
		rest = append(append(append(rest, data[:start]...), `""`...), data[end:]...)
		if err := json.Unmarshal(rest, &ev); err != nil {
			return events.APIGatewayProxyRequest{}, err
		}
		ev.Body = body
		return ev, nil
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return events.APIGatewayProxyRequest{}, err
	}
	return ev, nil
}

// bodyMember finds the one top-level member of the object data whose key
// encoding/json would match to the Body field (case-insensitive), a string
// at data[start:end] (quotes included), and returns it decoded. ok is false
// if there is no such string, more than one candidate, a body unquote
// leaves to encoding/json, or data is not an object whose top level this
// scan understands.
func bodyMember(data []byte) (body string, start, end int, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", 0, 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return "", 0, 0, false
	}
	found := false
	for {
		if i >= len(data) || data[i] != '"' {
			return "", 0, 0, false
		}
		ke := stringEnd(data, i)
		if ke < 0 {
			return "", 0, 0, false
		}
		key := data[i+1 : ke-1]
		for _, c := range key {
			if c == '\\' || c >= utf8.RuneSelf {
				return "", 0, 0, false // encoding/json's folding of escapes and Unicode: let it decide
			}
		}
		i = skipSpace(data, ke)
		if i >= len(data) || data[i] != ':' {
			return "", 0, 0, false
		}
		i = skipSpace(data, i+1)
		var ve int
		if bytes.EqualFold(key, []byte("body")) {
			if found || i >= len(data) || data[i] != '"' {
				return "", 0, 0, false
			}
			if body, ve, ok = unquote(data, i); !ok {
				return "", 0, 0, false
			}
			found, start, end = true, i, ve
		} else if ve = skipValue(data, i); ve < 0 {
			return "", 0, 0, false
		}
		i = skipSpace(data, ve)
		if i >= len(data) {
			return "", 0, 0, false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return "", 0, 0, false
		}
		i = skipSpace(data, i+1)
	}
	return body, start, end, found
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string that
// opens at data[i], or -1.
func stringEnd(data []byte, i int) int {
	for i++; ; {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return -1
		}
		i += q
		bs := 0 // the backslashes before the quote: an odd count escapes it
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index after the value that starts at data[i], or -1.
// It only finds the value's end: encoding/json checks what it skips, since
// everything but the body goes to it as is.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				e := stringEnd(data, i)
				if e < 0 {
					return -1
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for ; i < len(data); i++ { // a literal: up to the next delimiter
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// plain are the bytes a JSON string holds as they are: printable ASCII but
// the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unquote decodes the JSON string that opens at data[i] as encoding/json
// decodes it, and returns the index after its closing quote. ok is false
// where its answer could differ from encoding/json's, or the string is not
// valid: the caller then leaves it to encoding/json.
func unquote(data []byte, i int) (s string, end int, ok bool) {
	var b strings.Builder
	b.Grow(len(data) - i)
	i++
	for i < len(data) {
		from := i
		for i < len(data) && plain[data[i]] {
			i++
		}
		b.Write(data[from:i])
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\':
			if i+1 >= len(data) {
				return "", 0, false
			}
			switch data[i+1] {
			case '"', '\\', '/':
				b.WriteByte(data[i+1])
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := hex4(data[i+2:])
				if !ok || (r >= 0xd800 && r < 0xe000) {
					return "", 0, false // surrogates: encoding/json's pairing rules decide
				}
				b.WriteRune(r)
				i += 4
			default:
				return "", 0, false
			}
			i += 2
		case c < ' ':
			return "", 0, false
		default:
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				return "", 0, false // encoding/json substitutes U+FFFD
			}
			b.Write(data[i : i+n])
			i += n
		}
	}
	return "", 0, false
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// EncodeResponse is the response as the Lambda runtime (aws-lambda-go)
// encodes a handler's result: encoding/json, HTML characters not escaped,
// without the encoder's final newline.
func EncodeResponse(res events.APIGatewayProxyResponse) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
