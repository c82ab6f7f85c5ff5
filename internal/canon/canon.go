// Package canon produces RFC 8785 (JSON Canonicalization Scheme) bytes and
// canonical NDJSON lines, so that equal data always hashes to equal bytes.
package canon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Sentinel errors. Every error returned by this package wraps one of them;
// those about input are an *Error that also names the rule broken.
var (
	// ErrInvalid reports input that is not a single well-formed I-JSON value
	// for any reason but the two below: not JSON, invalid UTF-8, a lone
	// surrogate escape, nesting deeper than MaxDepth.
	ErrInvalid = errors.New("canon: invalid json")
	// ErrDuplicateKey reports an object that names the same member twice.
	ErrDuplicateKey = errors.New("canon: duplicate object key")
	// ErrNumber reports a number that has no IEEE 754 double form (NaN, ±Inf, overflow).
	ErrNumber = errors.New("canon: number out of range")
)

// MaxDepth bounds the nesting of arrays and objects the canonicalizer
// accepts: a value nests at most MaxDepth levels, the outermost array or
// object being the first (SPEC 4.2: a record nests at most 64 levels).
const MaxDepth = 64

// Rule is what a value that Transform refuses breaks: JSON's grammar
// (RFC 8259) or one of I-JSON's rules (RFC 7493), with nesting bounded.
type Rule int

// The rules. Every input Transform refuses breaks exactly one of them (the
// first one found).
const (
	RuleSyntax    Rule = iota // not JSON
	RuleUTF8                  // invalid UTF-8
	RuleSurrogate             // an escape of a lone surrogate (\ud800)
	RuleDuplicate             // a member name twice in one object, compared after unescaping
	RuleNumber                // a number beyond the IEEE 754 double range
	RuleDepth                 // nesting deeper than MaxDepth
)

// Error is how the transformer refuses input: the rule broken, where, and
// what. Its text never holds more than a short, quoted excerpt of the input.
type Error struct {
	Rule   Rule
	Offset int    // byte offset in the input where the problem was found
	Detail string // RuleSyntax: what is wrong; RuleSurrogate, RuleDuplicate, RuleNumber: the escape, name or literal
}

// Reason says what is wrong in words, without the offset: for example
// `duplicate member name "v"`.
func (e *Error) Reason() string {
	switch e.Rule {
	case RuleUTF8:
		return "invalid UTF-8"
	case RuleSurrogate:
		return "lone surrogate " + e.Detail
	case RuleDuplicate:
		return "duplicate member name " + e.Detail
	case RuleNumber:
		return "number " + e.Detail + " is outside the IEEE 754 double range"
	case RuleDepth:
		return fmt.Sprintf("nesting deeper than %d levels", MaxDepth)
	}
	return "not JSON: " + e.Detail
}

func (e *Error) Error() string {
	return fmt.Sprintf("canon: at offset %d: %s", e.Offset, e.Reason())
}

// Unwrap returns the sentinel of e's rule.
func (e *Error) Unwrap() error {
	switch e.Rule {
	case RuleDuplicate:
		return ErrDuplicateKey
	case RuleNumber:
		return ErrNumber
	}
	return ErrInvalid
}

// excerpt is how an error quotes input: at most 40 characters of it.
func excerpt(b []byte) string { return fmt.Sprintf("%.40q", b) }

// Transform returns the RFC 8785 canonical form of one JSON value. It rejects
// what I-JSON (RFC 7493) rejects: invalid UTF-8, lone surrogates, duplicate
// keys and numbers outside the double range; and nesting deeper than
// MaxDepth. Whitespace around the value is allowed; anything else after it
// is not.
func Transform(in []byte) ([]byte, error) {
	t := pool.Get().(*Transformer)
	defer pool.Put(t)
	return t.Append(make([]byte, 0, len(in)), in)
}

var pool = sync.Pool{New: func() any { return new(Transformer) }}

// Marshal encodes v with encoding/json and returns its canonical form.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canon: marshal %T: %w", v, err)
	}
	return Transform(buf.Bytes())
}

// Transformer canonicalizes JSON in one pass over the input, writing the
// output as it reads. Only object members are reordered, in place, through a
// scratch buffer; the transformer keeps its buffers between calls, so that
// canonicalizing many records allocates nothing once it is warm. The zero
// value is ready to use; a Transformer is not safe for concurrent use.
type Transformer struct {
	in      []byte
	pos     int
	members []span // members of the objects being read, innermost last
	keys    []byte // decoded keys that held escapes
	scratch []byte // reordering, decoded strings
	order   []ord
	supp    bool // the last string scanned holds a character above U+FFFF
	// shapes are the key orders of the last records (top-level objects)
	// that needed sorting, next the one to replace. A body holds records
	// of a few kinds, each repeating its keys, so most records reuse an
	// order instead of sorting again.
	shapes [shapeCount]shape
	next   int
	// check is set while Check runs: members are left in input order.
	check bool
	out   []byte // Check's output, thrown away
}

// shapeCount is how many key orders a Transformer keeps: more than the
// kinds of record a body usually mixes (the ingest benchmarks' body: four).
const shapeCount = 8

// shape is the key order of a record: its decoded keys back to back, where
// each ends, and the order they sort in; sum is shapeSum of its members.
type shape struct {
	keys []byte
	ends []int
	ord  []ord
	sum  uint64
}

// shapeSum folds the prefixes and lengths of the keys of ms, in order, into
// one number: shapes with other sums have other keys, and need no comparing.
func (t *Transformer) shapeSum(ms []span) uint64 {
	sum := uint64(len(ms))
	for _, m := range ms {
		sum = (sum^m.prefix)*0x100000001b3 + uint64(m.kTo-m.kFrom)
	}
	return sum
}

// span is one object member in the output: out[start:end] is `"key":value`
// (no comma). The decoded key is in.in[kFrom:kTo], or keys[kFrom:kTo] when
// esc is set; the value as the input holds it is in[vFrom:vTo].
type span struct {
	start, end int
	kFrom, kTo int
	vFrom, vTo int
	esc        bool
	supp       bool   // the key holds a character above U+FFFF
	prefix     uint64 // the key's first 8 bytes, big-endian, zero-padded
}

// ord is a member in the sort: its key prefix and its index in members.
type ord struct {
	prefix uint64
	i      int32
	supp   bool
}

func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// Append appends the canonical form of the JSON value in to dst. It returns
// dst unchanged with an error when in is not acceptable (see Transform).
func (t *Transformer) Append(dst, in []byte) ([]byte, error) {
	out, end, err := t.AppendValue(dst, in, 0)
	switch {
	case err != nil && !errors.Is(err, ErrInvalid) && !utf8.Valid(in):
		// Input that is not UTF-8 is invalid whatever else is wrong with
		// it (a duplicate key seen before the bad byte).
		return dst, &Error{Rule: RuleUTF8, Offset: firstInvalidUTF8(in)}
	case err != nil:
		return dst, err
	}
	if end = SkipSpace(in, end); end != len(in) {
		t.members = t.members[:0]
		return dst, &Error{Rule: RuleSyntax, Offset: end, Detail: fmt.Sprintf("unexpected %q after the value", in[end])}
	}
	return out, nil
}

// AppendValue appends the canonical form of the one JSON value that starts
// at in[pos], after any white space, to dst, and returns the index in in
// just past the value; what follows it is not read. It refuses what
// Transform refuses, and its errors give offsets in in. Parsers of a larger
// document (an ingest body) use it to validate and delimit each value in
// the one walk that canonicalizes it.
func (t *Transformer) AppendValue(dst, in []byte, pos int) ([]byte, int, error) {
	// UTF-8 is checked as strings are scanned: outside them only ASCII is
	// valid JSON.
	t.in, t.pos = in, pos
	t.members, t.keys = t.members[:0], t.keys[:0]
	defer func() { t.in = nil }()
	n := len(dst)
	t.skipSpace()
	out, err := t.value(dst, 0)
	if err != nil {
		t.members = t.members[:0]
		return dst[:n], t.pos, err
	}
	return out, t.pos, nil
}

// Check validates the one JSON value that starts at in[pos], after any
// white space, and returns the index in in just past it: the walk of
// AppendValue, refusing what it refuses with the same errors, without the
// canonical form (object members are not put in order). A reader that
// only needs to know that a value is acceptable, and where it ends, uses it
// (ingest, which stores the value as sent). Members gives the members as
// after AppendValue.
func (t *Transformer) Check(in []byte, pos int) (int, error) {
	t.check = true
	var end int
	var err error
	t.out, end, err = t.AppendValue(t.out[:0], in, pos)
	t.check = false
	return end, err
}

// Members yields the members of the object that the last call of
// AppendValue (or Append) read, when that call succeeded and the value is an object
// (nothing otherwise), in the order in holds them: each member's name,
// escapes undone, and its value's bytes exactly as in holds them, without
// the white space around. in must be that call's input; the bytes are in's
// own or the transformer's, valid until its next call. A parser that needs
// a few top-level members of each value it validates (an ingest body's
// records) so reads them without a second walk (package-level Members).
func (t *Transformer) Members(in []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for _, m := range t.members {
			name := in[m.kFrom:m.kTo]
			if m.esc {
				name = t.keys[m.kFrom:m.kTo]
			}
			if !yield(name, in[m.vFrom:m.vTo]) {
				return
			}
		}
	}
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func (t *Transformer) errorf(format string, args ...any) error {
	return &Error{Rule: RuleSyntax, Offset: t.pos, Detail: fmt.Sprintf(format, args...)}
}

func (t *Transformer) skipSpace() { t.pos = SkipSpace(t.in, t.pos) }

// SkipSpace returns the index of the first byte of d at or after i that is
// not JSON white space (space, tab, LF, CR), or len(d). The project's JSON
// walks (this package's, batch.Parse's, the API's event decoder) share it;
// it is small enough to be inlined at each call.
func SkipSpace(d []byte, i int) int {
	for ; i < len(d); i++ {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// value reads the value at t.pos, inside depth arrays and objects.
func (t *Transformer) value(out []byte, depth int) ([]byte, error) {
	if t.pos >= len(t.in) {
		return nil, t.errorf("unexpected end of input")
	}
	switch c := t.in[t.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return nil, &Error{Rule: RuleDepth, Offset: t.pos}
		}
		return t.object(out, depth)
	case c == '[':
		if depth >= MaxDepth {
			return nil, &Error{Rule: RuleDepth, Offset: t.pos}
		}
		return t.array(out, depth)
	case c == '"':
		return t.stringValue(out)
	case c == '-' || (c >= '0' && c <= '9'):
		return t.number(out)
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(t.in)-t.pos >= len(lit) && string(t.in[t.pos:t.pos+len(lit)]) == lit {
				t.pos += len(lit)
				return append(out, lit...), nil
			}
		}
		return nil, t.errorf("unexpected %q", c)
	}
}

func (t *Transformer) key(s span) []byte {
	if s.esc {
		return t.keys[s.kFrom:s.kTo]
	}
	return t.in[s.kFrom:s.kTo]
}

func (t *Transformer) object(out []byte, depth int) ([]byte, error) {
	at := t.pos
	t.pos++ // '{'
	out = append(out, '{')
	t.skipSpace()
	if t.pos < len(t.in) && t.in[t.pos] == '}' {
		t.pos++
		return append(out, '}'), nil
	}
	base := len(t.members)
	sorted := true
	for {
		t.skipSpace()
		if t.pos >= len(t.in) || t.in[t.pos] != '"' {
			return nil, t.errorf("expected an object key")
		}
		if len(t.members) > base {
			out = append(out, ',')
		}
		s := span{start: len(out)}
		from, to, esc, err := t.rawString()
		if err != nil {
			return nil, err
		}
		s.supp = t.supp
		if esc {
			kf := len(t.keys)
			if t.keys, err = t.decode(t.keys, from, to); err != nil {
				return nil, err
			}
			s.kFrom, s.kTo, s.esc = kf, len(t.keys), true
			s.supp = hasSupplementary(t.keys[kf:]) // escapes may spell such characters
			out = appendString(out, t.keys[kf:])
		} else {
			s.kFrom, s.kTo = from, to
			out = append(out, t.in[from-1:to+1]...) // no escapes: canonical as it is
		}
		t.skipSpace()
		if t.pos >= len(t.in) || t.in[t.pos] != ':' {
			return nil, t.errorf("expected ':' after key %q", t.key(s))
		}
		t.pos++
		out = append(out, ':')
		t.skipSpace()
		s.vFrom = t.pos
		if out, err = t.value(out, depth+1); err != nil {
			return nil, err
		}
		s.end, s.vTo = len(out), t.pos
		if !s.esc && s.kFrom+8 <= len(t.in) {
			// The key's first 8 bytes straight from the input, with the bytes
			// past its end masked off.
			s.prefix = binary.BigEndian.Uint64(t.in[s.kFrom:])
			if k := s.kTo - s.kFrom; k < 8 {
				s.prefix &= ^uint64(0) << (8 * (8 - k))
			}
		} else {
			s.prefix = keyPrefix(t.key(s))
		}
		if len(t.members) > base && sorted && t.compare(t.members[len(t.members)-1], s) >= 0 {
			sorted = false
		}
		t.members = append(t.members, s)
		t.skipSpace()
		if t.pos >= len(t.in) {
			return nil, t.errorf("unterminated object")
		}
		if t.in[t.pos] == ',' {
			t.pos++
			continue
		}
		if t.in[t.pos] != '}' {
			return nil, t.errorf("expected ',' or '}' in object")
		}
		t.pos++
		break
	}
	ms := t.members[base:]
	if !sorted {
		var order []ord
		if depth == 0 {
			order = t.knownOrder(ms) // the keys of a record before: no duplicates, same order
		}
		if order == nil {
			// RFC 8785 section 3.2.3: sort by the UTF-16 code units of the raw keys.
			t.order = t.order[:0]
			for i, m := range ms {
				t.order = append(t.order, ord{prefix: m.prefix, i: int32(i), supp: m.supp})
			}
			t.sortOrder(ms)
			for i := 1; i < len(t.order); i++ {
				if t.order[i-1].prefix != t.order[i].prefix {
					continue // different first bytes: different keys
				}
				if a, b := t.key(ms[t.order[i-1].i]), t.key(ms[t.order[i].i]); bytes.Equal(a, b) {
					return nil, &Error{Rule: RuleDuplicate, Offset: at, Detail: excerpt(b)}
				}
			}
			order = t.order
			if depth == 0 {
				t.saveShape(ms)
			}
		}
		if !t.check {
			from := ms[0].start // members are in output order before the sort
			t.scratch = append(t.scratch[:0], out[from:]...)
			out = out[:from]
			for i, o := range order {
				if i > 0 {
					out = append(out, ',')
				}
				m := ms[o.i]
				out = append(out, t.scratch[m.start-from:m.end-from]...)
			}
		}
	}
	if depth > 0 {
		// The top object's members (and their decoded keys) stay until
		// the next call, for Members; an enclosing object's key being
		// read (appended to t.members after its value) may still hold
		// decoded bytes in t.keys here.
		t.members = t.members[:base]
	}
	return append(out, '}'), nil
}

// knownOrder is the sorted order of the members ms when a shape saved has
// exactly their keys, in the same input order; nil otherwise.
func (t *Transformer) knownOrder(ms []span) []ord {
	sum := t.shapeSum(ms)
	for i := range t.shapes {
		if sh := &t.shapes[i]; sh.sum == sum && t.sameShape(sh, ms) {
			return sh.ord
		}
	}
	return nil
}

// sameShape reports whether the members ms have exactly the keys of sh, in
// the same input order.
func (t *Transformer) sameShape(sh *shape, ms []span) bool {
	if len(ms) != len(sh.ends) {
		return false
	}
	from := 0
	for i, m := range ms {
		if !bytes.Equal(t.key(m), sh.keys[from:sh.ends[i]]) {
			return false
		}
		from = sh.ends[i]
	}
	return true
}

// saveShape remembers the keys of ms and t.order, their sorted order, in
// place of the oldest shape.
func (t *Transformer) saveShape(ms []span) {
	sh := &t.shapes[t.next]
	t.next = (t.next + 1) % shapeCount
	sh.keys, sh.ends = sh.keys[:0], sh.ends[:0]
	for _, m := range ms {
		sh.keys = append(sh.keys, t.key(m)...)
		sh.ends = append(sh.ends, len(sh.keys))
	}
	sh.ord = append(sh.ord[:0], t.order...)
	sh.sum = t.shapeSum(ms)
}

func (t *Transformer) array(out []byte, depth int) ([]byte, error) {
	t.pos++ // '['
	out = append(out, '[')
	t.skipSpace()
	if t.pos < len(t.in) && t.in[t.pos] == ']' {
		t.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		t.skipSpace()
		var err error
		if out, err = t.value(out, depth+1); err != nil {
			return nil, err
		}
		t.skipSpace()
		if t.pos >= len(t.in) {
			return nil, t.errorf("unterminated array")
		}
		if t.in[t.pos] == ',' {
			t.pos++
			continue
		}
		if t.in[t.pos] != ']' {
			return nil, t.errorf("expected ',' or ']' in array")
		}
		t.pos++
		return append(out, ']'), nil
	}
}

// compare orders two members by key (RFC 8785 section 3.2.3).
func (t *Transformer) compare(a, b span) int {
	if !a.supp && !b.supp {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return bytes.Compare(t.key(a), t.key(b))
	}
	return compareKeys(t.key(a), t.key(b))
}

// less orders two members of ms by key, by their prefixes when those differ.
func (t *Transformer) less(ms []span, a, b ord) bool {
	if a.prefix != b.prefix && !a.supp && !b.supp {
		return a.prefix < b.prefix
	}
	return t.compare(ms[a.i], ms[b.i]) < 0
}

// sortOrder sorts t.order, the members of ms, by key: insertion sort of
// small (prefix, index) pairs for the few members records have.
func (t *Transformer) sortOrder(ms []span) {
	o := t.order
	if len(o) > 24 {
		slices.SortFunc(o, func(a, b ord) int { return t.compare(ms[a.i], ms[b.i]) })
		return
	}
	for i := 1; i < len(o); i++ {
		x := o[i]
		j := i
		for ; j > 0; j-- {
			y := o[j-1]
			if y.prefix != x.prefix && !x.supp && !y.supp {
				if y.prefix < x.prefix {
					break
				}
			} else if !t.less(ms, x, y) {
				break
			}
			o[j] = y
		}
		o[j] = x
	}
}

// compareKeys orders keys by their UTF-16 code units (RFC 8785 3.2.3). That
// is UTF-8 byte order unless a key holds a character above U+FFFF (a 4-byte
// UTF-8 sequence, lead byte 0xF0 or more), so only then convert.
func compareKeys(a, b []byte) int {
	if !hasSupplementary(a) && !hasSupplementary(b) {
		return bytes.Compare(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(string(a))), utf16.Encode([]rune(string(b))))
}

func hasSupplementary(s []byte) bool {
	for _, c := range s {
		if c >= 0xf0 {
			return true
		}
	}
	return false
}

// rawString scans the string at t.pos (its opening quote) and returns the
// input offsets of its content and whether it holds escapes. It checks
// control characters and UTF-8; escapes are checked by decode.
func (t *Transformer) rawString() (from, to int, esc bool, err error) {
	in := t.in
	pos := t.pos + 1
	from = pos
	t.supp = false
	for {
		// Find the next byte the scan must look at, eight bytes at a time.
		if pos+8 <= len(in) {
			m := specialMask(binary.LittleEndian.Uint64(in[pos:]))
			if m == 0 {
				pos += 8
				continue
			}
			pos += bits.TrailingZeros64(m) >> 3
		} else {
			for pos < len(in) && !special[in[pos]] {
				pos++
			}
			if pos >= len(in) {
				t.pos = pos
				return 0, 0, false, t.errorf("unterminated string")
			}
		}
		switch c := in[pos]; {
		case c == '"':
			t.pos = pos + 1
			return from, pos, esc, nil
		case c == '\\':
			esc = true
			pos += 2
			if pos > len(in) {
				t.pos = len(in)
				return 0, 0, false, t.errorf("unterminated string")
			}
		case c < 0x20:
			t.pos = pos
			return 0, 0, false, t.errorf("control character %#02x in string", c)
		default:
			r, size := utf8.DecodeRune(in[pos:])
			if r == utf8.RuneError && size <= 1 {
				t.pos = pos
				return 0, 0, false, &Error{Rule: RuleUTF8, Offset: pos}
			}
			if size == 4 {
				t.supp = true // above U+FFFF: keys with such characters sort by UTF-16
			}
			pos += size
		}
	}
}

// specialMask has the top bit set of each of the 8 bytes of v (little
// endian: the first byte is the lowest) that a string scan must stop at —
// a control character, '"', '\\' or a non-ASCII byte — and possibly of
// bytes after such a byte, never before the first one. (The classic bit
// tricks: a byte below 0x20 borrows into its top bit when 0x20 is
// subtracted, and x^c has a zero byte where x has c; borrows only run
// upwards, so the lowest flagged byte is exact.)
func specialMask(v uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	ctl := (v - lo*0x20) & ^v
	quote := v ^ (lo * '"')
	bs := v ^ (lo * '\\')
	return (ctl | (quote-lo)&^quote | (bs-lo)&^bs | v) & hi
}

// special marks the bytes a string scan must stop at.
var special = func() (s [256]bool) {
	for c := range 0x20 {
		s[c] = true
	}
	s['"'], s['\\'] = true, true
	for c := 0x80; c < 0x100; c++ {
		s[c] = true // UTF-8 to check, and characters above U+FFFF for key order
	}
	return s
}()

// Plain reports whether c stands for itself in a JSON string, with nothing
// to check: printable ASCII but the quote and the backslash (the bytes
// special does not mark). The API's event decoder scans strings with it.
func Plain(c byte) bool { return !special[c] }

// stringValue copies a string without escapes as it is (it is canonical
// already) and decodes and re-escapes one with escapes.
func (t *Transformer) stringValue(out []byte) ([]byte, error) {
	from, to, esc, err := t.rawString()
	if err != nil {
		return nil, err
	}
	if !esc {
		return append(out, t.in[from-1:to+1]...), nil
	}
	if t.scratch, err = t.decode(t.scratch[:0], from, to); err != nil {
		return nil, err
	}
	return appendString(out, t.scratch), nil
}

// decode appends the unescaped content of in[from:to] to b.
func (t *Transformer) decode(b []byte, from, to int) ([]byte, error) {
	in := t.in
	for i := from; i < to; {
		c := in[i]
		if c != '\\' {
			j := i + 1
			for j < to && in[j] != '\\' {
				j++
			}
			b = append(b, in[i:j]...)
			i = j
			continue
		}
		if i+1 >= to {
			t.pos = i
			return nil, t.errorf("unterminated escape")
		}
		e := in[i+1]
		i += 2
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
			r, ok := Hex4(in[i:to])
			if !ok {
				t.pos = i
				return nil, t.errorf("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				lone := &Error{Rule: RuleSurrogate, Offset: i - 6, Detail: fmt.Sprintf("\\u%04x", r)}
				if r >= 0xdc00 || to-i < 6 || in[i] != '\\' || in[i+1] != 'u' {
					t.pos = i
					return nil, lone
				}
				r2, ok := Hex4(in[i+2 : to])
				if !ok || r2 < 0xdc00 || r2 > 0xdfff {
					t.pos = i
					return nil, lone
				}
				i += 6
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			t.pos = i - 1
			return nil, t.errorf("bad escape \\%c", e)
		}
	}
	return b, nil
}

// Hex4 is the value of the four hex digits that s starts with (those of a
// \u escape, either case); ok is false if s starts with anything else.
// The project's JSON walks (this package's, the API's event decoder) share
// it; it is small enough to be inlined at each call.
func Hex4(s []byte) (r rune, ok bool) {
	if len(s) < 4 {
		return 0, false
	}
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

// number validates the JSON number grammar, then re-serializes the double it
// denotes the way ECMAScript's Number.prototype.toString does (RFC 8785 3.2.2.3).
func (t *Transformer) number(out []byte) ([]byte, error) {
	in, i := t.in, t.pos
	start := i
	if in[i] == '-' {
		i++
	}
	// One pass checks the grammar and gathers what deciding whether the
	// literal is already canonical takes: its significant digits (the first
	// 19 as an integer), its fraction digits and the zeros leading them.
	var d uint64
	sig := 0
	intStart := i
	if i < len(in) && in[i] == '0' {
		i++
	} else {
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			if sig < 19 {
				d = d*10 + uint64(in[i]-'0')
			}
			sig++
			i++
		}
		if i == intStart {
			t.pos = i
			return nil, t.errorf("malformed number")
		}
	}
	intDigits := i - intStart
	frac, lead := 0, 0 // lead: zeros after "0." before the first significant digit
	if i < len(in) && in[i] == '.' {
		i++
		f := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			if sig == 0 && in[i] == '0' {
				lead++
			} else {
				if sig < 19 {
					d = d*10 + uint64(in[i]-'0')
				}
				sig++
			}
			i++
		}
		if i == f {
			t.pos = i
			return nil, t.errorf("malformed number")
		}
		frac = i - f
	}
	exp := false
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		exp = true
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		f := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == f {
			t.pos = i
			return nil, t.errorf("malformed number")
		}
	}
	t.pos = i
	lit := in[start:i]
	switch {
	case exp:
	case frac == 0:
		if intDigits <= 15 {
			// At most 15 digits: exact as a double, and ECMAScript prints it as is.
			if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
				return append(out, '0'), nil
			}
			return append(out, lit...), nil
		}
	case in[i-1] != '0' && lead <= 5:
		// Plain decimal notation, no redundant zero, at least 1e-6 (below
		// that ECMAScript uses exponential notation). Two decimals of 15
		// significant digits or fewer are farther apart than two doubles,
		// so such a literal is the shortest form of its double; longer ones
		// need proving (shortestLong).
		if sig <= 15 || (sig <= 17 && frac <= 19 && shortestLong(lit, d, frac)) {
			return append(out, lit...), nil
		}
	}
	// The conversion does not allocate: the string does not escape
	// (strconv copies it into any error it returns), so the compiler keeps
	// it on the stack (BenchmarkTransformNumbers: one allocation per call,
	// the output).
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		d := string(lit) // ASCII: the grammar held
		if len(d) > 40 {
			d = d[:37] + "..."
		}
		return nil, &Error{Rule: RuleNumber, Offset: start, Detail: d}
	}
	return AppendNumber(out, f)
}

// AppendNumber appends f as ECMAScript's Number.prototype.toString writes it
// (RFC 8785 section 3.2.2.3): the shortest digits that round-trip, in fixed
// notation for 1e-7 <= |f| < 1e21 and exponential notation otherwise. NaN and
// infinities have no JSON form.
func AppendNumber(out []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return out, fmt.Errorf("%w: %v", ErrNumber, f)
	}
	if f == 0 {
		return append(out, '0'), nil // also -0
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		// Go's shortest fixed notation is ECMAScript's in this range.
		return strconv.AppendFloat(out, f, 'f', -1, 64), nil
	}
	if f < 0 {
		out = append(out, '-')
		f = -f
	}
	// Shortest round-trip digits d1…dk and exponent e of d1.d2…dk × 10^e.
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp := b, 0
	if i := bytes.IndexByte(b, 'e'); i >= 0 {
		mant = b[:i]
		e := b[i+1:]
		neg := e[0] == '-'
		for _, c := range e[1:] {
			exp = exp*10 + int(c-'0')
		}
		if neg {
			exp = -exp
		}
	}
	var digs [24]byte
	k := 0
	for _, c := range mant {
		if c != '.' {
			digs[k] = c
			k++
		}
	}
	d := digs[:k]
	n := exp + 1 // ECMAScript's n: the value is 0.d1…dk × 10^n
	switch {
	case k <= n && n <= 21:
		out = append(out, d...)
		for range n - k {
			out = append(out, '0')
		}
	case 0 < n && n <= 21:
		out = append(out, d[:n]...)
		out = append(out, '.')
		out = append(out, d[n:]...)
	case -6 < n && n <= 0:
		out = append(out, '0', '.')
		for range -n {
			out = append(out, '0')
		}
		out = append(out, d...)
	default:
		out = append(out, d[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, d[1:]...)
		}
		out = append(out, 'e')
		if n-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return out, nil
}

// appendString writes s as RFC 8785 requires: only '"', '\\' and control
// characters are escaped, with the short forms where JSON has them.
func appendString(out []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' {
			j++
		}
		out = append(out, s[i:j]...)
		if j == len(s) {
			break
		}
		c := s[j]
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
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i = j + 1
	}
	return append(out, '"')
}
