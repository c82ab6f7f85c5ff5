// Package batch reads and writes an ingest body: a JSON array of 1 to 1000
// records, each with a "type" and an RFC 3339 "ts", led by a batch header when
// signed (SPEC 4.2). The hub reads bodies with Parse; the agent writes them
// with Split and Encode, under the same limits and header shape.
//
// Parse is the one definition of a well-formed batch (SPEC 4.2 check 7):
// ingest refuses what it refuses, and the pack builder quarantines stored
// batches it refuses (SPEC 9). Every record must be I-JSON (RFC 7493) with
// at most canon.MaxDepth levels of nesting, and Parse checks that by running
// each record through the pack's own canonicalizer, so that whatever Parse
// accepts, a pack can hold.
package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monsys/hub/internal/canon"
)

// Limits of SPEC 4.2.
const (
	MaxBytes   = 256 << 10
	MaxRecords = 1000
	maxTypeLen = 64
	maxVersion = 64
)

// HeaderType is the type of the batch header record.
const HeaderType = "batch"

// ErrInvalid is the class of every parse failure: the caller answers 400.
var ErrInvalid = errors.New("invalid batch")

// Header is the first record of a signed batch.
type Header struct {
	TS           time.Time
	Seq          int64
	AgentVersion string
	// Prev is the lowercase hex SHA-256 of the last body the agent had
	// acknowledged (SPEC 4.2); "" when the header carries none.
	Prev string
}

// Record is one data record, kept as the exact bytes the agent sent and signed.
type Record struct {
	Type string
	TS   time.Time
	Raw  json.RawMessage
}

// Batch is a parsed body. Header is nil for a legacy batch that sent none.
type Batch struct {
	Header  *Header
	Records []Record
}

// fields are the members the hub reads; the rest of a record is kept
// verbatim. Type and TS are the strings' contents, escapes undone; nil when
// the member is absent or null.
type fields struct {
	Type         []byte
	TS           []byte
	Seq          json.RawMessage // the number exactly as sent; nil when absent
	AgentVersion json.RawMessage
	Prev         json.RawMessage
}

// readFields picks the members by their exact names, from the members of
// one valid JSON object (its name, escapes undone, and its value as sent).
// Decoding into a struct would match "TYPE" or "Ts" too (encoding/json folds
// case), accepting records that have no "type" or "ts" member at all.
func readFields(members iter.Seq2[[]byte, []byte]) (fields, error) {
	var f fields
	for key, val := range members {
		var err error
		switch string(key) {
		case "type":
			f.Type, err = stringValue("type", val)
		case "ts":
			f.TS, err = stringValue("ts", val)
		case "seq":
			f.Seq = json.RawMessage(val)
		case "agent_version":
			f.AgentVersion = json.RawMessage(val)
		case "prev":
			f.Prev = json.RawMessage(val)
		}
		if err != nil {
			return fields{}, err
		}
	}
	return f, nil
}

// stringValue reads a JSON string member's content, v's own bytes unless it
// holds an escape; null counts as absent (nil).
func stringValue(name string, v []byte) ([]byte, error) {
	if string(v) == "null" {
		return nil, nil
	}
	if v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1 : len(v)-1], nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	return []byte(s), nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Reason is why Parse refused a body, without the class ("invalid batch:
// "): what a 400 answer and a quarantined batch say.
func Reason(err error) string {
	msg := err.Error()
	if r, ok := strings.CutPrefix(msg, ErrInvalid.Error()+": "); ok && r != "" {
		return r
	}
	return msg
}

// scanner is the canonicalizer, its output buffer, the records being read
// and the record types seen, reused across parses so that a warm Parse
// allocates none of them.
type scanner struct {
	t     canon.Transformer
	out   []byte
	recs  []Record
	types map[string]string
}

// maxTypes bounds the record types a scanner keeps: agents send a few
// dozen; a body of many made-up types only costs their strings.
const maxTypes = 256

// typeName is typ as a string, the one kept for the same type before when
// there is one: the types of a body repeat, and a string per record would
// be most of what parsing allocates.
func (s *scanner) typeName(typ []byte) string {
	if name, ok := s.types[string(typ)]; ok {
		return name
	}
	name := string(typ)
	if s.types == nil {
		s.types = make(map[string]string)
	}
	if len(s.types) < maxTypes {
		s.types[name] = name
	}
	return name
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// Parse reads body. With requireHeader (the agent has a signing pin) the first
// record must be a batch header; without it a leading header is still read.
//
// One walk over the body reads the array; each record is validated and
// delimited by the canonicalizer (canon.Transformer.Check), which checks
// JSON's grammar and I-JSON's rules in the same pass and keeps the record's
// top-level members, from which the fields the hub needs are read. An
// error names the record (its index in the array), the rule broken and
// the byte of the body where it was found.
func Parse(body []byte, requireHeader bool) (Batch, error) {
	return ParseCanonical(body, requireHeader, nil)
}

// ParseCanonical is Parse, and hands fn, when not nil, the RFC 8785
// canonical form of each element of the array as the walk validates it
// (canon.Transformer.AppendValue, the same walk writing its output):
// its index in the array (the header, when there is one, is 0) and bytes
// that are only valid during the call. A reader that needs the records'
// canonical form (the deep checks of a pack, SPEC 9) so gets it from the
// one pass that validates them. When it returns an error, what fn was
// handed before is not a batch's.
func ParseCanonical(body []byte, requireHeader bool, fn func(i int, canonical []byte)) (Batch, error) {
	if len(body) > MaxBytes {
		return Batch{}, invalid("body is %d bytes, limit %d", len(body), MaxBytes)
	}
	s := scanners.Get().(*scanner)
	defer scanners.Put(s)
	var b Batch
	n, err := b.walk(s, body, fn)
	if len(s.recs) > 0 {
		// One slice of the size wanted; the scanner keeps no record (they
		// hold the body) once it is back in the pool.
		if err == nil {
			b.Records = slices.Clone(s.recs)
		}
		clear(s.recs)
		s.recs = s.recs[:0]
	}
	if err != nil {
		return Batch{}, err
	}
	if n == 0 {
		return Batch{}, invalid("empty array: want 1 to %d records", MaxRecords)
	}
	if requireHeader && b.Header == nil {
		return Batch{}, invalid("first record must be the batch header {\"type\":\"batch\",...}")
	}
	return b, nil
}

// walk reads the array of records and returns how many it holds. Records
// are sliced from one private copy of the body, so they do not change with
// the caller's buffer.
func (b *Batch) walk(s *scanner, body []byte, fn func(int, []byte)) (int, error) {
	body = bytes.Clone(body)
	i := canon.SkipSpace(body, 0)
	switch {
	case i == len(body):
		return 0, invalid("not JSON: the body is empty")
	case body[i] == '[':
	case bytes.IndexByte([]byte(`{"-0123456789tfn`), body[i]) >= 0:
		return 0, invalid("body must be a JSON array")
	default:
		return 0, invalid("not JSON: unexpected %q at byte %d", body[i], i)
	}
	i = canon.SkipSpace(body, i+1)
	n := 0
	if i < len(body) && body[i] == ']' {
		return n, atEnd(body, i+1)
	}
	for {
		if n == MaxRecords {
			return 0, invalid("more than %d records", MaxRecords)
		}
		start := i
		var end int
		var err error
		if fn != nil {
			s.out, end, err = s.t.AppendValue(s.out[:0], body, i)
		} else {
			end, err = s.t.Check(body, i) // the same walk, without the canonical form nobody reads
		}
		if err != nil {
			return 0, recordError(n, err)
		}
		if body[start] != '{' {
			return 0, invalid("record %d is not an object", n)
		}
		if fn != nil {
			fn(n, s.out)
		}
		f, err := readFields(s.t.Members(body))
		if err != nil {
			return 0, invalid("record %d: %v", n, err)
		}
		if err := b.add(s, n, body[start:end:end], f); err != nil {
			return 0, err
		}
		n++
		i = canon.SkipSpace(body, end)
		switch {
		case i == len(body):
			return 0, invalid("not JSON: unterminated array")
		case body[i] == ']':
			return n, atEnd(body, i+1)
		case body[i] != ',':
			return 0, invalid("record %d: not JSON: expected ',' or ']' before it at byte %d", n, i)
		}
		i = canon.SkipSpace(body, i+1)
	}
}

// atEnd checks that nothing but white space follows the array.
func atEnd(body []byte, i int) error {
	if canon.SkipSpace(body, i) != len(body) {
		return invalid("data after the array")
	}
	return nil
}

// recordError names record i and the rule its error says it breaks.
func recordError(i int, err error) error {
	var ce *canon.Error
	if errors.As(err, &ce) {
		return invalid("record %d: %s at byte %d", i, ce.Reason(), ce.Offset)
	}
	return invalid("record %d: %v", i, err)
}

// add reads record i, the object raw whose members the hub reads are f,
// into s.recs, or into b.Header when it is the header.
func (b *Batch) add(s *scanner, i int, raw json.RawMessage, f fields) error {
	if f.Type == nil {
		return invalid("record %d has no \"type\"", i)
	}
	if !validType(f.Type) {
		return invalid("record %d: type %.70q must match [a-z0-9_]{1,64}", i, string(f.Type))
	}
	if f.TS == nil {
		return invalid("record %d has no \"ts\"", i)
	}
	ts, err := parseTS(f.TS)
	if err != nil {
		return invalid("record %d: ts %.40q is not RFC 3339", i, string(f.TS))
	}
	if string(f.Type) != HeaderType {
		s.recs = append(s.recs, Record{Type: s.typeName(f.Type), TS: ts, Raw: raw})
		return nil
	}
	if i != 0 {
		return invalid("record %d: a batch header may only come first", i)
	}
	h, err := header(f, ts)
	if err != nil {
		return err
	}
	b.Header = &h
	return nil
}

func header(f fields, ts time.Time) (Header, error) {
	if f.Seq == nil {
		return Header{}, invalid("batch header has no \"seq\"")
	}
	seq, err := strconv.ParseInt(string(f.Seq), 10, 64)
	if err != nil || seq <= 0 {
		return Header{}, invalid("batch header: seq %.32s must be a positive int64", f.Seq)
	}
	if f.AgentVersion == nil {
		return Header{}, invalid("batch header has no \"agent_version\"")
	}
	// null reads as "", which is refused like any value that is no string.
	v, err := stringValue("agent_version", f.AgentVersion)
	if err != nil || len(v) == 0 || len(v) > maxVersion {
		return Header{}, invalid("batch header: agent_version must be a string of 1 to %d characters", maxVersion)
	}
	prev, err := prevValue(f.Prev)
	if err != nil {
		return Header{}, err
	}
	return Header{TS: ts, Seq: seq, AgentVersion: string(v), Prev: prev}, nil
}

// prevValue reads the header's "prev": absent or null, or a lowercase hex
// SHA-256 (64 characters).
func prevValue(raw json.RawMessage) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	p, err := stringValue("prev", raw)
	if err != nil || !isSHA256Hex(p) {
		return "", invalid("batch header: prev %.80s must be a lowercase hex SHA-256", raw)
	}
	return string(p), nil
}

// IsSHA256Hex reports whether s is 64 lowercase hex digits.
func IsSHA256Hex(s string) bool { return isSHA256Hex(s) }

func isSHA256Hex[T string | []byte](s T) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// parseTS reads an RFC 3339 date-time. time.Parse alone also takes a one-digit
// hour, a comma before the fraction and a +24:00 offset, none of which RFC 3339
// allows, so the shape is checked first. A time in UTC ("Z", what agents
// send) is then read here, to the value time.Parse gives, without making a
// string of it; one with an offset is left to time.Parse, which picks its
// location.
func parseTS(s []byte) (time.Time, error) {
	const shape = "dddd-dd-ddTdd:dd:dd" // then an optional fraction and the offset
	if len(s) < len(shape)+1 {
		return time.Time{}, errTS
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && !isDigit(s[i]) || shape[i] != 'd' && s[i] != shape[i] {
			return time.Time{}, errTS
		}
	}
	rest := s[len(shape):]
	frac := rest[:0]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return time.Time{}, errTS
		}
		frac, rest = rest[1:n], rest[n:]
	}
	switch {
	case string(rest) == "Z":
		return utcTS(s, frac)
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5]) &&
		string(rest[1:3]) <= "23" && string(rest[4:6]) <= "59":
	default:
		return time.Time{}, errTS
	}
	return time.Parse(time.RFC3339Nano, string(s))
}

// utcTS is the time of s, of parseTS's shape, in UTC; frac is its fraction's
// digits. It refuses what time.Parse refuses (a field out of its range, a
// day the month does not have), and keeps, as time.Parse does, the first 9
// digits of the fraction.
func utcTS(s, frac []byte) (time.Time, error) {
	year, month, day := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	hour, minute, sec := digits(s[11:13]), digits(s[14:16]), digits(s[17:19])
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errTS
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	ns := digits(frac)
	for range 9 - len(frac) {
		ns *= 10
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC), nil
}

// digits is the value of d, decimal digits only.
func digits(d []byte) int {
	n := 0
	for _, c := range d {
		n = n*10 + int(c-'0')
	}
	return n
}

// daysIn is the number of days of month (1 to 12) in year, proleptic Gregorian.
func daysIn(month, year int) int {
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return monthDays[month-1]
}

var monthDays = [12]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// errTS is parseTS's refusal; the caller names the record and the value.
var errTS = errors.New("not RFC 3339")

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func validType(s []byte) bool {
	if len(s) == 0 || len(s) > maxTypeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
