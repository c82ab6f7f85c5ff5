package ddb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// The decoders read the JSON body of a 200 answer into the operation's
// output, as the SDK's deserializer would: every member the SDK reads,
// unknown members skipped, the same values. ResultMetadata is left for
// the client. body is not retained by the output (strings and byte slices
// are copies).
//
// What "as the SDK's deserializer would" means here (smithy-go's JSON shape
// deserializer, read at the version in go.mod):
//   - an empty body is the zero output; a body of only whitespace, or a
//     top-level null, is an error; bytes after the top-level object are not
//     read;
//   - a struct member whose value is null is left unset; a map entry or list
//     element that is null is kept as the zero value (nil AttributeValue,
//     "" in SS/NS, nil in BS, 0 in SizeEstimateRangeGB, a zero Capacity);
//   - an AttributeValue object with no known, non-null member (e.g. {} or
//     {"X":1}) does not set the entry: it repeats the last AttributeValue
//     decoded earlier in the same map or list (nil if none) -- the SDK's
//     generated code reuses one variable per map/list; two known non-null
//     members are an error;
//   - strings without a backslash are taken byte for byte (invalid UTF-8
//     kept); strings with one are unescaped as encoding/json does (lone
//     surrogates and invalid UTF-8 become U+FFFD);
//   - Count/ScannedCount take only an integer token in int32 range; the
//     float members take any JSON number in float64 range (1e400 is an
//     error), or the strings NaN, Infinity, -Infinity (any case);
//   - B and BS are standard base64 with padding (\r and \n ignored).
//
// Where it differs: the SDK's list and map readers drop a syntax error met
// while looking for the next element or key and read on; the parser then
// usually fails on the same bytes, but not always, and on some bodies the
// SDK's client panics (e.g. {"Item":{"a":{"L":[,null]},"b":{"S":"x"}}}:
// it slices a one-byte token as a string). Invalid JSON is always an error
// here.

func decodeGetItem(body []byte) (*dynamodb.GetItemOutput, error) {
	out := &dynamodb.GetItemOutput{}
	d := newDecoder(body)
	err := d.top("GetItem", func(name []byte) error {
		switch string(name) {
		case "Item":
			return d.attrMap(&out.Item)
		case "ConsumedCapacity":
			return d.consumed(&out.ConsumedCapacity)
		}
		return errSkip
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The other five are not one generic over the outputs: through a generic's
// function value the decoder and its closures escape to the heap.

func decodePutItem(body []byte) (*dynamodb.PutItemOutput, error) {
	out := &dynamodb.PutItemOutput{}
	d := newDecoder(body)
	if err := d.top("PutItem", d.writeAnswer(&out.Attributes, &out.ConsumedCapacity, &out.ItemCollectionMetrics)); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeUpdateItem(body []byte) (*dynamodb.UpdateItemOutput, error) {
	out := &dynamodb.UpdateItemOutput{}
	d := newDecoder(body)
	if err := d.top("UpdateItem", d.writeAnswer(&out.Attributes, &out.ConsumedCapacity, &out.ItemCollectionMetrics)); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeDeleteItem(body []byte) (*dynamodb.DeleteItemOutput, error) {
	out := &dynamodb.DeleteItemOutput{}
	d := newDecoder(body)
	if err := d.top("DeleteItem", d.writeAnswer(&out.Attributes, &out.ConsumedCapacity, &out.ItemCollectionMetrics)); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeQuery(body []byte) (*dynamodb.QueryOutput, error) {
	out := &dynamodb.QueryOutput{}
	d := newDecoder(body)
	if err := d.top("Query", d.readAnswer(&out.Items, &out.Count, &out.ScannedCount, &out.LastEvaluatedKey, &out.ConsumedCapacity)); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeScan(body []byte) (*dynamodb.ScanOutput, error) {
	out := &dynamodb.ScanOutput{}
	d := newDecoder(body)
	if err := d.top("Scan", d.readAnswer(&out.Items, &out.Count, &out.ScannedCount, &out.LastEvaluatedKey, &out.ConsumedCapacity)); err != nil {
		return nil, err
	}
	return out, nil
}

// top reads the answer's top-level object with member, gives the scratch
// back, and makes an error name op ("GetItem", ...).
func (d *decoder) top(op string, member func(name []byte) error) error {
	err := d.object(member)
	d.release()
	if err != nil {
		return d.fail(op, err)
	}
	return nil
}

// writeAnswer reads the members of PutItem, UpdateItem and DeleteItem
// answers, which are the same three.
func (d *decoder) writeAnswer(attrs *map[string]types.AttributeValue, cc **types.ConsumedCapacity, icm **types.ItemCollectionMetrics) func([]byte) error {
	return func(name []byte) error {
		switch string(name) {
		case "Attributes":
			return d.attrMap(attrs)
		case "ConsumedCapacity":
			return d.consumed(cc)
		case "ItemCollectionMetrics":
			m := &types.ItemCollectionMetrics{}
			*icm = m
			return d.object(func(name []byte) error {
				switch string(name) {
				case "ItemCollectionKey":
					return d.attrMap(&m.ItemCollectionKey)
				case "SizeEstimateRangeGB":
					return d.floatList(&m.SizeEstimateRangeGB)
				}
				return errSkip
			})
		}
		return errSkip
	}
}

// readAnswer reads the members of Query and Scan answers.
func (d *decoder) readAnswer(items *[]map[string]types.AttributeValue, count, scanned *int32, last *map[string]types.AttributeValue, cc **types.ConsumedCapacity) func([]byte) error {
	return func(name []byte) error {
		switch string(name) {
		case "Items":
			return d.items(items)
		case "Count":
			return d.int32(count)
		case "ScannedCount":
			return d.int32(scanned)
		case "LastEvaluatedKey":
			return d.attrMap(last)
		case "ConsumedCapacity":
			return d.consumed(cc)
		}
		return errSkip
	}
}

// maxDepth is the SDK parser's nesting limit (that of encoding/json).
const maxDepth = 10_000

// errSkip, returned by an object's member function, skips the member's value.
var errSkip = errors.New("skip")

// decoder reads one answer body. Strings and binary values are copied into
// one arena (sized by the body, so one allocation for all of them), and the
// AttributeValue structs are carved from small slabs, which keeps the
// allocations of a GetItem answer to a handful.
type decoder struct {
	b      []byte
	i      int
	depth  int
	arena  []byte
	slab   slab
	floats [][3]float64
	sc     *scratch // from scratchPool once needed; given back by release
}

// scratch holds the elements of the maps and lists being read, innermost
// last, so that each is made at its size. It is pooled: its slices are
// cleared when given back, so it keeps no answer alive.
type scratch struct {
	kv   []kvEntry              // Item, Attributes, keys, M
	avs  []types.AttributeValue // L
	strs []string               // SS, NS
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		kv:   make([]kvEntry, 0, 32),
		avs:  make([]types.AttributeValue, 0, 16),
		strs: make([]string, 0, 16),
	}
}}

// scratch is the decoder's scratch, taken from the pool on first use.
func (d *decoder) scratch() *scratch {
	if d.sc == nil {
		d.sc = scratchPool.Get().(*scratch)
	}
	return d.sc
}

// release gives the scratch back (unless an answer grew it past reason).
func (d *decoder) release() {
	sc := d.sc
	if sc == nil {
		return
	}
	d.sc = nil
	clear(sc.kv[:cap(sc.kv)])
	clear(sc.avs[:cap(sc.avs)])
	clear(sc.strs[:cap(sc.strs)])
	sc.kv, sc.avs, sc.strs = sc.kv[:0], sc.avs[:0], sc.strs[:0]
	if cap(sc.kv) <= 1024 && cap(sc.avs) <= 1024 && cap(sc.strs) <= 1024 {
		scratchPool.Put(sc)
	}
}

type kvEntry struct {
	k string
	v types.AttributeValue
}

func newDecoder(body []byte) *decoder {
	return &decoder{b: body}
}

// pathError is an error at a member path (innermost segment first while
// it travels up; fail reverses it) and a byte offset in the body.
type pathError struct {
	path []string
	off  int
	err  error
}

func (e *pathError) Error() string { return e.err.Error() }

func (d *decoder) errf(format string, args ...any) error {
	return &pathError{off: d.i, err: fmt.Errorf(format, args...)}
}

// at adds a path segment to err.
func at(seg string, err error) error {
	var pe *pathError
	if errors.As(err, &pe) {
		pe.path = append(pe.path, seg)
		return pe
	}
	return &pathError{path: []string{seg}, err: err}
}

// fail is the error of a decoder: the operation, the member path and the
// byte offset.
func (d *decoder) fail(op string, err error) error {
	var pe *pathError
	if !errors.As(err, &pe) {
		return fmt.Errorf("ddb: decode %s answer: %w", op, err)
	}
	var sb strings.Builder
	for i := len(pe.path) - 1; i >= 0; i-- {
		if sb.Len() > 0 && !strings.HasPrefix(pe.path[i], "[") {
			sb.WriteByte('.')
		}
		sb.WriteString(pe.path[i])
	}
	if sb.Len() == 0 {
		return fmt.Errorf("ddb: decode %s answer (offset %d): %w", op, pe.off, pe.err)
	}
	return fmt.Errorf("ddb: decode %s answer at %s (offset %d): %w", op, sb.String(), pe.off, pe.err)
}

// ws skips JSON whitespace and reports whether a byte follows.
func (d *decoder) ws() bool {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return true
		}
	}
	return false
}

// peek is the first byte of the next token, or an error at the end.
func (d *decoder) peek() (byte, error) {
	if !d.ws() {
		return 0, d.errf("unexpected end of JSON input")
	}
	return d.b[d.i], nil
}

// isNull consumes a null literal if one comes next.
func (d *decoder) isNull() (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

func (d *decoder) literal(lit string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return d.errf("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// object reads a JSON object and calls member with each key (unescaped) whose value is not null; member
// reads the value, or returns errSkip to have it skipped. At the top level
// an empty body is an empty answer.
func (d *decoder) object(member func(name []byte) error) error {
	if d.depth == 0 && len(d.b) == 0 {
		return nil
	}
	if err := d.open('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := d.next(first, '}')
		if err != nil {
			return err
		}
		if !more {
			break
		}
		raw, esc, err := d.key()
		if err != nil {
			return err
		}
		name := raw
		if esc {
			name = unescape(nil, raw)
		}
		null, err := d.isNull()
		if err != nil {
			return at(string(name), err)
		}
		if null {
			continue
		}
		if err := member(name); err == errSkip {
			if err := d.skip(); err != nil {
				return at(string(name), err)
			}
		} else if err != nil {
			return at(string(name), err)
		}
	}
	return nil
}

// open consumes the opening bracket c.
func (d *decoder) open(c byte) error {
	got, err := d.peek()
	if err != nil {
		return err
	}
	if got != c {
		return d.errf("expected '%c', got %s", c, d.tokenName())
	}
	d.i++
	d.depth++
	if d.depth > maxDepth {
		return d.errf("exceeded max nesting depth")
	}
	return nil
}

// next moves to the next member or element of an object or array: it
// reports false (and consumes the closing bracket) at the end.
func (d *decoder) next(first bool, closing byte) (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c == closing {
		d.i++
		d.depth--
		return false, nil
	}
	if first {
		return true, nil
	}
	if c != ',' {
		return false, d.errf("unexpected token '%c'", c)
	}
	d.i++
	if closing == '}' {
		// a key must follow a comma
		if c, err := d.peek(); err != nil {
			return false, err
		} else if c != '"' {
			return false, d.errf("unexpected token '%c'", c)
		}
	} else if c, err := d.peek(); err != nil {
		return false, err
	} else if c == ']' || c == '}' || c == ',' || c == ':' {
		return false, d.errf("unexpected token '%c'", c)
	}
	return true, nil
}

// key reads an object key and its colon, returning the raw key bytes
// (between the quotes) and whether they hold an escape.
func (d *decoder) key() ([]byte, bool, error) {
	c, err := d.peek()
	if err != nil {
		return nil, false, err
	}
	if c != '"' {
		return nil, false, d.errf("unexpected token '%c'", c)
	}
	raw, esc, err := d.str()
	if err != nil {
		return nil, false, err
	}
	if c, err := d.peek(); err != nil {
		return nil, false, err
	} else if c != ':' {
		return nil, false, d.errf("unexpected token '%c'", c)
	}
	d.i++
	return raw, esc, nil
}

// str scans a string token at d.i (which is '"'), validating its escapes
// and rejecting control characters, and returns the bytes between the
// quotes and whether they hold an escape.
func (d *decoder) str() ([]byte, bool, error) {
	start := d.i + 1
	esc := false
	for i := start; i < len(d.b); {
		// eight bytes at a time while none is '"', '\\' or a control byte
		for i+8 <= len(d.b) {
			v := binary.LittleEndian.Uint64(d.b[i:])
			if hasLess(v, 0x20)|hasByte(v, '"')|hasByte(v, '\\') != 0 {
				break
			}
			i += 8
		}
		for i < len(d.b) && plain[d.b[i]] {
			i++
		}
		if i >= len(d.b) {
			break
		}
		c := d.b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return d.b[start:i], esc, nil
		case c < 0x20:
			d.i = i
			return nil, false, d.errf("invalid control character in string")
		case c == '\\':
			esc = true
			if i+1 >= len(d.b) {
				d.i = i
				return nil, false, d.errf("unterminated escape")
			}
			switch d.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d.b) {
					d.i = i
					return nil, false, d.errf("incomplete unicode escape")
				}
				for _, h := range d.b[i+2 : i+6] {
					if hexVal(h) < 0 {
						d.i = i
						return nil, false, d.errf("invalid character in unicode escape")
					}
				}
				i += 6
			default:
				d.i = i
				return nil, false, d.errf("invalid escape character")
			}
		default:
			i++
		}
	}
	d.i = len(d.b)
	return nil, false, d.errf("unterminated string")
}

const (
	lo8 = uint64(0x0101010101010101)
	hi8 = uint64(0x8080808080808080)
)

// hasByte is non-zero when a byte of v is c.
func hasByte(v uint64, c byte) uint64 {
	x := v ^ (lo8 * uint64(c))
	return (x - lo8) & ^x & hi8
}

// hasLess is non-zero when a byte of v is below n (n <= 128).
func hasLess(v uint64, n byte) uint64 {
	return (v - lo8*uint64(n)) & ^v & hi8
}

// plain marks the bytes a string holds as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

// unescape appends the unescaped form of a validated string's raw bytes to
// dst, as encoding/json does (which the SDK uses for strings with escapes):
// a lone or misordered surrogate and each invalid UTF-8 byte is U+FFFD.
func unescape(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		j := bytes.IndexByte(s[r:], '\\')
		if j < 0 {
			j = len(s) - r
		}
		if run := s[r : r+j]; utf8.Valid(run) {
			dst = append(dst, run...)
		} else {
			for len(run) > 0 {
				rr, size := utf8.DecodeRune(run)
				run = run[size:]
				dst = utf8.AppendRune(dst, rr)
			}
		}
		if r += j; r >= len(s) {
			break
		}
		switch s[r+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := getu4(s[r:])
			r += 6
			if utf16.IsSurrogate(rr) {
				if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
					r += 6
					dst = utf8.AppendRune(dst, dec)
					continue
				}
				rr = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, rr)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[r+1])
		}
		r += 2
	}
	return dst
}

// tokenName names the token at d.i for an error (never quoting the body:
// the error must not hold the client's buffer, and may be logged).
func (d *decoder) tokenName() string {
	if d.i >= len(d.b) {
		return "end of input"
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "number"
	default:
		return fmt.Sprintf("%q", c)
	}
}

// skip reads and discards one JSON value, validating it.
func (d *decoder) skip() error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		if err := d.open('{'); err != nil {
			return err
		}
		for first := true; ; first = false {
			more, err := d.next(first, '}')
			if err != nil || !more {
				return err
			}
			if _, _, err := d.key(); err != nil {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
		}
	case '[':
		if err := d.open('['); err != nil {
			return err
		}
		for first := true; ; first = false {
			more, err := d.next(first, ']')
			if err != nil || !more {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := d.str()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, err := d.number()
		return err
	}
}

// number scans a JSON number token.
func (d *decoder) number() ([]byte, error) {
	s := d.b
	i := d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	ds := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == ds {
		return nil, d.errf("unexpected token %s", d.tokenName())
	}
	if s[ds] == '0' && i-ds > 1 {
		return nil, d.errf("leading zeros not allowed")
	}
	if i < len(s) && s[i] == '.' {
		i++
		ds = i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == ds {
			return nil, d.errf("no digits after decimal point")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds = i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == ds {
			return nil, d.errf("no digits after exponent")
		}
	}
	tok := s[d.i:i]
	d.i = i
	return tok, nil
}

// parseInt is the SDK's: a plain decimal integer in int64 range.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64+1)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > math.MaxInt64 && !(neg && n == math.MaxInt64+1) {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseDecimal reads a number token of the form -?digits.digits (no
// exponent) of at most 15 digits, as ConsumedCapacity's units come
// ("1.0", "0.5"): the digits and the power of ten are exact in a float64,
// so one division is correctly rounded and gives strconv.ParseFloat's
// result (which takes the same path for these).
func parseDecimal(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

func (d *decoder) int32(v *int32) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' {
		return d.errf("expected number, got %s", d.tokenName())
	}
	tok, err := d.number()
	if err != nil {
		return err
	}
	n, ok := parseInt(tok)
	if !ok {
		return d.errf("invalid int: %s", tok)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return d.errf("int %d exceeds range [%d, %d]", n, math.MinInt32, math.MaxInt32)
	}
	*v = int32(n)
	return nil
}

func (d *decoder) float(v *float64) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		raw, esc, err := d.str()
		if err != nil {
			return err
		}
		s := raw
		if esc {
			s = unescape(nil, raw)
		}
		switch {
		case bytes.EqualFold(s, []byte("NaN")):
			*v = math.NaN()
		case bytes.EqualFold(s, []byte("Infinity")):
			*v = math.Inf(1)
		case bytes.EqualFold(s, []byte("-Infinity")):
			*v = math.Inf(-1)
		default:
			return d.errf("unexpected string value for float")
		}
		return nil
	case '{', '[', 't', 'f':
		return d.errf("expected number, got %s", d.tokenName())
	}
	tok, err := d.number()
	if err != nil {
		return err
	}
	if n, ok := parseInt(tok); ok {
		*v = float64(n)
		return nil
	}
	if f, ok := parseDecimal(tok); ok {
		*v = f
		return nil
	}
	f, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
	if err != nil {
		return d.errf("number %s out of range", string(tok))
	}
	*v = f
	return nil
}

func (d *decoder) floatList(v *[]float64) error {
	list := make([]float64, 0)
	err := d.array(func(null bool) error {
		var f float64
		if !null {
			if err := d.float(&f); err != nil {
				return err
			}
		}
		list = append(list, f)
		return nil
	})
	*v = list
	return err
}

// array reads a JSON array, calling elem for each element; null reports
// (and has consumed) a null element.
func (d *decoder) array(elem func(null bool) error) error {
	if err := d.open('['); err != nil {
		return err
	}
	for i, first := 0, true; ; i, first = i+1, false {
		more, err := d.next(first, ']')
		if err != nil {
			return at(index(i), err)
		}
		if !more {
			return nil
		}
		null, err := d.isNull()
		if err == nil {
			err = elem(null)
		}
		if err != nil {
			return at(index(i), err)
		}
	}
}

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }

// ccBlock holds a ConsumedCapacity and what its pointers point to, so that
// one allocation serves them all.
type ccBlock struct {
	cc     types.ConsumedCapacity
	name   string
	units  [3]float64
	table  types.Capacity
	tunits [3]float64
}

// consumed reads a ConsumedCapacity.
func (d *decoder) consumed(v **types.ConsumedCapacity) error {
	b := &ccBlock{}
	cc := &b.cc
	*v = cc
	return d.object(func(name []byte) error {
		switch string(name) {
		case "TableName":
			s, err := d.string()
			b.name = s
			cc.TableName = &b.name
			return err
		case "CapacityUnits":
			cc.CapacityUnits = &b.units[0]
			return d.float(cc.CapacityUnits)
		case "ReadCapacityUnits":
			cc.ReadCapacityUnits = &b.units[1]
			return d.float(cc.ReadCapacityUnits)
		case "WriteCapacityUnits":
			cc.WriteCapacityUnits = &b.units[2]
			return d.float(cc.WriteCapacityUnits)
		case "Table":
			b.table, b.tunits = types.Capacity{}, [3]float64{}
			cc.Table = &b.table
			return d.capacity(cc.Table, &b.tunits)
		case "GlobalSecondaryIndexes":
			return d.capacityMap(&cc.GlobalSecondaryIndexes)
		case "LocalSecondaryIndexes":
			return d.capacityMap(&cc.LocalSecondaryIndexes)
		case "VectorIndexes":
			return d.vectorMap(&cc.VectorIndexes)
		}
		return errSkip
	})
}

// capacity reads a Capacity, its units stored in f (or in the decoder's
// float slab when f is nil).
func (d *decoder) capacity(c *types.Capacity, f *[3]float64) error {
	if f == nil {
		f = d.floats3()
	}
	return d.object(func(name []byte) error {
		switch string(name) {
		case "CapacityUnits":
			c.CapacityUnits = &f[0]
			return d.float(c.CapacityUnits)
		case "ReadCapacityUnits":
			c.ReadCapacityUnits = &f[1]
			return d.float(c.ReadCapacityUnits)
		case "WriteCapacityUnits":
			c.WriteCapacityUnits = &f[2]
			return d.float(c.WriteCapacityUnits)
		}
		return errSkip
	})
}

// floats3 is room for three floats from the decoder's slab.
func (d *decoder) floats3() *[3]float64 {
	if len(d.floats) == cap(d.floats) {
		d.floats = make([][3]float64, 0, 4)
	}
	d.floats = d.floats[:len(d.floats)+1]
	return &d.floats[len(d.floats)-1]
}

// mapOf reads a JSON object as a map, calling entry with each key; a null
// value is passed as null=true (the entry is then the zero value).
func (d *decoder) mapOf(entry func(k string, null bool) error) error {
	if err := d.open('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := d.next(first, '}')
		if err != nil || !more {
			return err
		}
		raw, esc, err := d.key()
		if err != nil {
			return err
		}
		k := d.text(raw, esc)
		null, err := d.isNull()
		if err != nil {
			return at(k, err)
		}
		if err := entry(k, null); err != nil {
			return at(k, err)
		}
	}
}

func (d *decoder) capacityMap(v *map[string]types.Capacity) error {
	m := make(map[string]types.Capacity)
	*v = m
	return d.mapOf(func(k string, null bool) error {
		var c types.Capacity
		if !null {
			if err := d.capacity(&c, nil); err != nil {
				return err
			}
		}
		m[k] = c
		return nil
	})
}

func (d *decoder) vectorMap(v *map[string]types.VectorCapacity) error {
	m := make(map[string]types.VectorCapacity)
	*v = m
	return d.mapOf(func(k string, null bool) error {
		var c types.VectorCapacity
		if !null {
			err := d.object(func(name []byte) error {
				switch string(name) {
				case "VectorSearchRequestBytes":
					c.VectorSearchRequestBytes = new(float64)
					return d.float(c.VectorSearchRequestBytes)
				case "VectorWriteRequestBytes":
					c.VectorWriteRequestBytes = new(float64)
					return d.float(c.VectorWriteRequestBytes)
				}
				return errSkip
			})
			if err != nil {
				return err
			}
		}
		m[k] = c
		return nil
	})
}

// items reads Query's and Scan's Items.
func (d *decoder) items(v *[]map[string]types.AttributeValue) error {
	list := make([]map[string]types.AttributeValue, 0)
	err := d.array(func(null bool) error {
		var m map[string]types.AttributeValue
		if !null {
			if err := d.attrMap(&m); err != nil {
				return err
			}
		}
		list = append(list, m)
		return nil
	})
	*v = list
	return err
}

// attrMap reads a map of AttributeValues (Item, Attributes, keys, M). The
// entries are gathered first, so that the map is made at its size.
func (d *decoder) attrMap(v *map[string]types.AttributeValue) error {
	sc := d.scratch()
	start := len(sc.kv)
	var last types.AttributeValue // the SDK's reused variable (see the top)
	err := d.mapOf(func(k string, null bool) error {
		if null {
			sc.kv = append(sc.kv, kvEntry{k, nil})
			return nil
		}
		av, err := d.attr()
		if err != nil {
			return err
		}
		if av != nil {
			last = av
		}
		sc.kv = append(sc.kv, kvEntry{k, last})
		return nil
	})
	if err != nil {
		return err
	}
	m := make(map[string]types.AttributeValue, len(sc.kv)-start)
	for _, e := range sc.kv[start:] {
		m[e.k] = e.v
	}
	clear(sc.kv[start:])
	sc.kv = sc.kv[:start]
	*v = m
	return nil
}

// attrList reads L, gathering the elements first so that the list is
// made at its size.
func (d *decoder) attrList(v *[]types.AttributeValue) error {
	sc := d.scratch()
	start := len(sc.avs)
	var last types.AttributeValue // the SDK's reused variable (see the top)
	err := d.array(func(null bool) error {
		if null {
			sc.avs = append(sc.avs, nil)
			return nil
		}
		av, err := d.attr()
		if err != nil {
			return err
		}
		if av != nil {
			last = av
		}
		sc.avs = append(sc.avs, last)
		return nil
	})
	if err != nil {
		return err
	}
	list := make([]types.AttributeValue, len(sc.avs)-start)
	copy(list, sc.avs[start:])
	clear(sc.avs[start:])
	sc.avs = sc.avs[:start]
	*v = list
	return nil
}

// attr reads one AttributeValue object: nil if it has no known, non-null
// member.
func (d *decoder) attr() (types.AttributeValue, error) {
	var av types.AttributeValue
	err := d.object(func(name []byte) error {
		if av != nil {
			switch string(name) {
			case "B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS":
				return d.errf("union has more than one non-nil member: %s", name)
			}
			return errSkip
		}
		var err error
		switch string(name) {
		case "S":
			v := take(&d.slab.ss)
			v.Value, err = d.string()
			av = v
		case "N":
			v := take(&d.slab.ns)
			v.Value, err = d.string()
			av = v
		case "B":
			v := first(&d.slab, 0, func(f *firsts) *types.AttributeValueMemberB { return &f.b })
			v.Value, err = d.blob()
			av = v
		case "BOOL":
			v := take(&d.slab.bs)
			v.Value, err = d.bool()
			av = v
		case "NULL":
			v := first(&d.slab, 1, func(f *firsts) *types.AttributeValueMemberNULL { return &f.null })
			v.Value, err = d.bool()
			av = v
		case "M":
			v := first(&d.slab, 2, func(f *firsts) *types.AttributeValueMemberM { return &f.m })
			err = d.attrMap(&v.Value)
			av = v
		case "L":
			v := first(&d.slab, 3, func(f *firsts) *types.AttributeValueMemberL { return &f.l })
			err = d.attrList(&v.Value)
			av = v
		case "SS":
			v := first(&d.slab, 4, func(f *firsts) *types.AttributeValueMemberSS { return &f.ss })
			err = d.stringList(&v.Value)
			av = v
		case "NS":
			v := first(&d.slab, 5, func(f *firsts) *types.AttributeValueMemberNS { return &f.ns })
			err = d.stringList(&v.Value)
			av = v
		case "BS":
			v := first(&d.slab, 6, func(f *firsts) *types.AttributeValueMemberBS { return &f.bs })
			err = d.blobList(&v.Value)
			av = v
		default:
			return errSkip
		}
		return err
	})
	return av, err
}

// text is the string of a validated string token's raw bytes, copied into
// the arena. The arena may be reallocated by an append (an escaped string
// can grow: an invalid byte becomes U+FFFD); the strings already handed out
// keep the old block, whose bytes are never written again.
func (d *decoder) text(raw []byte, esc bool) string {
	if len(raw) == 0 {
		return ""
	}
	if d.arena == nil {
		d.arena = make([]byte, 0, len(d.b))
	}
	off := len(d.arena)
	if esc {
		d.arena = unescape(d.arena, raw)
	} else {
		d.arena = append(d.arena, raw...)
	}
	if len(d.arena) == off {
		return ""
	}
	return unsafe.String(&d.arena[off], len(d.arena)-off)
}

func (d *decoder) string() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c != '"' {
		return "", d.errf("expected string, got %s", d.tokenName())
	}
	raw, esc, err := d.str()
	if err != nil {
		return "", err
	}
	return d.text(raw, esc), nil
}

func (d *decoder) bool() (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	switch c {
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	}
	return false, d.errf("expected bool, got %s", d.tokenName())
}

var empty = []byte{}

// blob reads a base64 string as the SDK does (encoding/base64's standard
// encoding of the unescaped string); an empty string is an empty, non-nil
// slice.
func (d *decoder) blob() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, d.errf("expected string, got %s", d.tokenName())
	}
	raw, esc, err := d.str()
	if err != nil {
		return nil, err
	}
	src := raw
	if esc || !isASCII(raw) {
		src = unescape(nil, raw)
	}
	n := base64.StdEncoding.DecodedLen(len(src))
	if d.arena == nil {
		d.arena = make([]byte, 0, len(d.b))
	}
	var dst []byte
	off := len(d.arena)
	if n <= cap(d.arena)-off {
		dst = d.arena[off : off+n]
	} else {
		dst = make([]byte, n)
	}
	w, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return nil, d.errf("decode base64 blob: %w", err)
	}
	if w == 0 {
		return empty, nil
	}
	if n <= cap(d.arena)-off {
		d.arena = d.arena[:off+w]
		return d.arena[off : off+w : off+w], nil
	}
	return dst[:w:w], nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (d *decoder) stringList(v *[]string) error {
	sc := d.scratch()
	start := len(sc.strs)
	err := d.array(func(null bool) error {
		var s string
		if !null {
			var err error
			if s, err = d.string(); err != nil {
				return err
			}
		}
		sc.strs = append(sc.strs, s)
		return nil
	})
	if err != nil {
		return err
	}
	list := make([]string, len(sc.strs)-start)
	copy(list, sc.strs[start:])
	clear(sc.strs[start:])
	sc.strs = sc.strs[:start]
	*v = list
	return nil
}

func (d *decoder) blobList(v *[][]byte) error {
	list := make([][]byte, 0)
	err := d.array(func(null bool) error {
		var b []byte
		if !null {
			var err error
			if b, err = d.blob(); err != nil {
				return err
			}
		}
		list = append(list, b)
		return nil
	})
	*v = list
	return err
}

// slab hands out the AttributeValue structs: the common kinds (S, N, BOOL)
// from blocks of eight, and the first of each other kind from one shared
// block, so an item of many attributes costs a few allocations, not one
// per attribute.
type slab struct {
	ss  []types.AttributeValueMemberS
	ns  []types.AttributeValueMemberN
	bs  []types.AttributeValueMemberBOOL
	one *firsts
}

const slabSize = 8

// take is the next struct of a block, a new block when it is full.
func take[T any](block *[]T) *T {
	if len(*block) == cap(*block) {
		*block = make([]T, 0, slabSize)
	}
	*block = (*block)[:len(*block)+1]
	return &(*block)[len(*block)-1]
}

// firsts holds the first B, NULL, M, L, SS, NS and BS of an answer.
type firsts struct {
	used [7]bool
	b    types.AttributeValueMemberB
	null types.AttributeValueMemberNULL
	m    types.AttributeValueMemberM
	l    types.AttributeValueMemberL
	ss   types.AttributeValueMemberSS
	ns   types.AttributeValueMemberNS
	bs   types.AttributeValueMemberBS
}

// first is the kind's struct in the shared block if still free, else a new
// one.
func first[T any](s *slab, kind int, slot func(*firsts) *T) *T {
	if s.one == nil {
		s.one = &firsts{}
	}
	if s.one.used[kind] {
		return new(T)
	}
	s.one.used[kind] = true
	return slot(s.one)
}

// errorProtocol is the SDK's own awsJson1_0 error decoding, the one the
// SDK's client uses (see decodeError).
var errorProtocol = awsjson.New10(schemas.DynamoDB_20120810)

var opSchemas = map[string]*smithy.OperationSchema{
	"GetItem":    smithy.NewOperationSchema(schemas.GetItem, schemas.GetItemInput, schemas.GetItemOutput),
	"PutItem":    smithy.NewOperationSchema(schemas.PutItem, schemas.PutItemInput, schemas.PutItemOutput),
	"UpdateItem": smithy.NewOperationSchema(schemas.UpdateItem, schemas.UpdateItemInput, schemas.UpdateItemOutput),
	"DeleteItem": smithy.NewOperationSchema(schemas.DeleteItem, schemas.DeleteItemInput, schemas.DeleteItemOutput),
	"Query":      smithy.NewOperationSchema(schemas.Query, schemas.QueryInput, schemas.QueryOutput),
	"Scan":       smithy.NewOperationSchema(schemas.Scan, schemas.ScanInput, schemas.ScanOutput),
}

// decodeError is the API error of an answer that is not a 2xx, as the
// SDK's deserializer of operation op ("GetItem", ...) makes it: the error
// code from the body's __type (or the X-Amzn-ErrorType header) with the
// SDK's sanitizing, the message from message or Message, and, for the codes
// the operation models, the SDK's typed error (e.g.
// *types.ConditionalCheckFailedException with its Item); any other code is
// a *smithy.GenericAPIError. The client wraps it in the same
// *smithy.OperationError / *awshttp.ResponseError chain the SDK does.
//
// It is the SDK's own code: since the SDK moved to schema-serde (dynamodb
// v1.7x, smithy-go v1.2x) its awsJson protocol decodes every error answer
// with one function, whatever the operation: the header's code first, then
// __type, then code, matched case-insensitively by encoding/json; every
// code in dynamodb.TypeRegistry gives its typed error (for any operation),
// decoded with the shape deserializer; an unparsable body is a
// *smithy.DeserializationError. A second reading of that would be a copy to
// keep in step with each SDK upgrade, for answers that are not the hot path.
func decodeError(op string, status int, header http.Header, body []byte) error {
	schema, ok := opSchemas[op]
	if !ok {
		return fmt.Errorf("ddb: decode error answer: unknown operation %q", op)
	}
	if status >= 200 && status < 300 {
		return fmt.Errorf("ddb: decode %s error answer: status %d is not an error", op, status)
	}
	if header == nil {
		header = http.Header{}
	}
	resp := &smithyhttp.Response{Response: &http.Response{
		StatusCode: status,
		Header:     header,
		Body:       io.NopCloser(bytes.NewReader(body)),
	}}
	return errorProtocol.DeserializeResponse(context.Background(), schema, dynamodb.TypeRegistry, resp, nil)
}
