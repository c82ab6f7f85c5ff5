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

// fields are the members the hub reads; the rest of a record is kept verbatim.
type fields struct {
	Type         *string
	TS           *string
	Seq          json.RawMessage // the number exactly as sent; nil when absent
	AgentVersion json.RawMessage
	Prev         json.RawMessage
}

// readFields picks the members by their exact names. Decoding into a struct
// would match "TYPE" or "Ts" too (encoding/json folds case), accepting records
// that have no "type" or "ts" member at all. raw is one valid JSON object.
func readFields(raw json.RawMessage) (fields, error) {
	var f fields
	err := canon.Members(raw, func(key, val []byte) error {
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
		return err
	})
	return f, err
}

// stringValue reads a JSON string member; null counts as absent.
func stringValue(name string, v []byte) (*string, error) {
	if string(v) == "null" {
		return nil, nil
	}
	if v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		s := string(v[1 : len(v)-1])
		return &s, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	return &s, nil
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	return i
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

// scanner is the canonicalizer and its output buffer, reused across
// parses so that a warm Parse allocates no buffer for it.
type scanner struct {
	t   canon.Transformer
	out []byte
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// Parse reads body. With requireHeader (the agent has a signing pin) the first
// record must be a batch header; without it a leading header is still read.
//
// One walk over the body reads the array; each record is validated and
// delimited by the canonicalizer (canon.Transformer.AppendValue), which
// checks JSON's grammar and I-JSON's rules in the same pass, and then only
// the record's top-level members are read for the fields the hub needs. An
// error names the record (its index in the array), the rule broken and
// the byte of the body where it was found.
func Parse(body []byte, requireHeader bool) (Batch, error) {
	return ParseCanonical(body, requireHeader, nil)
}

// ParseCanonical is Parse, and hands fn, when not nil, the RFC 8785
// canonical form of each element of the array as the walk validates it:
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
	i := skipSpace(body, 0)
	switch {
	case i == len(body):
		return 0, invalid("not JSON: the body is empty")
	case body[i] == '[':
	case bytes.IndexByte([]byte(`{"-0123456789tfn`), body[i]) >= 0:
		return 0, invalid("body must be a JSON array")
	default:
		return 0, invalid("not JSON: unexpected %q at byte %d", body[i], i)
	}
	i = skipSpace(body, i+1)
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
		if s.out, end, err = s.t.AppendValue(s.out[:0], body, i); err != nil {
			return 0, recordError(n, err)
		}
		if body[start] != '{' {
			return 0, invalid("record %d is not an object", n)
		}
		if fn != nil {
			fn(n, s.out)
		}
		if err := b.add(n, body[start:end:end]); err != nil {
			return 0, err
		}
		n++
		i = skipSpace(body, end)
		switch {
		case i == len(body):
			return 0, invalid("not JSON: unterminated array")
		case body[i] == ']':
			return n, atEnd(body, i+1)
		case body[i] != ',':
			return 0, invalid("record %d: not JSON: expected ',' or ']' before it at byte %d", n, i)
		}
		i = skipSpace(body, i+1)
	}
}

// atEnd checks that nothing but white space follows the array.
func atEnd(body []byte, i int) error {
	if skipSpace(body, i) != len(body) {
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

func (b *Batch) add(i int, raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return invalid("record %d is not an object", i)
	}
	f, err := readFields(raw)
	if err != nil {
		return invalid("record %d: %v", i, err)
	}
	if f.Type == nil {
		return invalid("record %d has no \"type\"", i)
	}
	if !validType(*f.Type) {
		return invalid("record %d: type %.70q must match [a-z0-9_]{1,64}", i, *f.Type)
	}
	if f.TS == nil {
		return invalid("record %d has no \"ts\"", i)
	}
	ts, err := parseTS(*f.TS)
	if err != nil {
		return invalid("record %d: ts %.40q is not RFC 3339", i, *f.TS)
	}
	if *f.Type != HeaderType {
		b.Records = append(b.Records, Record{Type: *f.Type, TS: ts, Raw: raw})
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
	var v string
	if err := json.Unmarshal(f.AgentVersion, &v); err != nil || v == "" || len(v) > maxVersion {
		return Header{}, invalid("batch header: agent_version must be a string of 1 to %d characters", maxVersion)
	}
	prev, err := prevValue(f.Prev)
	if err != nil {
		return Header{}, err
	}
	return Header{TS: ts, Seq: seq, AgentVersion: v, Prev: prev}, nil
}

// prevValue reads the header's "prev": absent or null, or a lowercase hex
// SHA-256 (64 characters).
func prevValue(raw json.RawMessage) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	var p string
	if err := json.Unmarshal(raw, &p); err != nil || !IsSHA256Hex(p) {
		return "", invalid("batch header: prev %.80s must be a lowercase hex SHA-256", raw)
	}
	return p, nil
}

// IsSHA256Hex reports whether s is 64 lowercase hex digits.
func IsSHA256Hex(s string) bool {
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
// allows, so the shape is checked first.
func parseTS(s string) (time.Time, error) {
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
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return time.Time{}, errTS
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5]) &&
		rest[1:3] <= "23" && rest[4:6] <= "59":
	default:
		return time.Time{}, errTS
	}
	return time.Parse(time.RFC3339Nano, s)
}

// errTS is parseTS's refusal; the caller names the record and the value.
var errTS = errors.New("not RFC 3339")

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func validType(s string) bool {
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
