package batch_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/benchcpu"
	"github.com/monsys/hub/internal/canon"
)

const ts = "2026-04-01T10:00:00Z"

func rec(typ string) string { return fmt.Sprintf(`{"type":%q,"ts":%q}`, typ, ts) }

func hdr(seq string, version string) string {
	return fmt.Sprintf(`{"type":"batch","ts":%q,"seq":%s,"agent_version":%s}`, ts, seq, version)
}

var header = hdr("1743501600000000000", `"1.4.2"`)

const prevHex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// withPrev is the header with "prev" set to the JSON value v.
func withPrev(v string) string {
	return fmt.Sprintf(`{"type":"batch","ts":%q,"seq":1,"agent_version":"1.4.2","prev":%s}`, ts, v)
}

func array(items ...string) string { return "[" + strings.Join(items, ",") + "]" }

// nested returns n arrays, one inside the other, around an empty object:
// n+1 levels of nesting, n+2 as a member of a record.
func nested(n int) string { return strings.Repeat("[", n) + "{}" + strings.Repeat("]", n) }

// records returns n metric records.
func records(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"type":"metric","ts":%q,"i":%d}`, ts, i)
	}
	return out
}

// sized returns a signed body of exactly n bytes: a header and one record
// padded with a string field.
func sized(t testing.TB, n int) string {
	t.Helper()
	pre := "[" + header + `,{"type":"metric","ts":"` + ts + `","pad":"`
	post := `"}]`
	pad := n - len(pre) - len(post)
	if pad < 0 {
		t.Fatalf("cannot make a %d-byte body", n)
	}
	s := pre + strings.Repeat("x", pad) + post
	if len(s) != n {
		t.Fatalf("sized: got %d bytes, want %d", len(s), n)
	}
	return s
}

func TestParse(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	tests := []struct {
		name          string
		body          string
		requireHeader bool
		wantRecords   int
		wantHeader    bool
		wantErr       string // substring of the error message
	}{
		// Accepted bodies.
		{name: "ok/legacy-one-record", body: array(rec("metric")), wantRecords: 1},
		{name: "ok/signed-header-and-records", body: array(header, rec("metric"), rec("process_dna")), requireHeader: true, wantRecords: 2, wantHeader: true},
		{name: "ok/header-only", body: array(header), requireHeader: true, wantHeader: true},
		{name: "ok/legacy-leading-header-is-read", body: array(header, rec("metric")), wantRecords: 1, wantHeader: true},
		{name: "ok/1000-records-with-header", body: array(append([]string{header}, records(999)...)...), requireHeader: true, wantRecords: 999, wantHeader: true},
		{name: "ok/1000-records-legacy", body: array(records(1000)...), wantRecords: 1000},
		{name: "ok/256KiB-exactly", body: sized(t, batch.MaxBytes), requireHeader: true, wantRecords: 1, wantHeader: true},
		{name: "ok/spec-record-types", body: array(header, rec("metric"), rec("inventory_snapshot"), rec("process_dna"), rec("honeypot_trip"), rec("agent_status")), requireHeader: true, wantRecords: 5, wantHeader: true},
		{name: "ok/unknown-well-formed-type", body: array(rec("future_kind_2")), wantRecords: 1},
		{name: "ok/type-64-characters", body: array(rec(long64)), wantRecords: 1},
		{name: "ok/type-one-character", body: array(rec("x")), wantRecords: 1},
		{name: "ok/type-digits-and-underscores", body: array(rec("_0_9_")), wantRecords: 1},
		{name: "ok/ts-offset-and-fraction", body: array(`{"type":"metric","ts":"2026-04-01T12:00:00.123456789+02:00"}`), wantRecords: 1},
		{name: "ok/ts-negative-offset", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00-23:59"}`), wantRecords: 1},
		{name: "ok/ts-nanoseconds", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00.000000001Z"}`), wantRecords: 1},
		{name: "ok/ts-leap-day", body: array(`{"type":"metric","ts":"2028-02-29T23:59:59Z"}`), wantRecords: 1},
		{name: "ok/seq-max-int64", body: array(hdr("9223372036854775807", `"1.0.0"`)), requireHeader: true, wantHeader: true},
		{name: "ok/seq-one", body: array(hdr("1", `"1.0.0"`)), requireHeader: true, wantHeader: true},
		{name: "ok/agent-version-64-characters", body: array(hdr("1", `"`+long64+`"`)), requireHeader: true, wantHeader: true},
		{name: "ok/agent-version-not-semver", body: array(hdr("1", `"nightly"`)), requireHeader: true, wantHeader: true},
		{name: "ok/white-space-everywhere", body: " \n[ \t" + header + " ,\r\n " + rec("metric") + " ]\n ", requireHeader: true, wantRecords: 1, wantHeader: true},
		{name: "ok/extra-members-and-nesting", body: array(`{"type":"metric","ts":"` + ts + `","v":[1,{"a":null}],"s":"\u00e9\"x"}`), wantRecords: 1},

		// Not an array of objects.
		{name: "fail/empty-body", body: "", wantErr: "not JSON"},
		{name: "fail/white-space-only", body: " \n\t", wantErr: "not JSON"},
		{name: "fail/object", body: rec("metric"), wantErr: "must be a JSON array"},
		{name: "fail/string", body: `"[]"`, wantErr: "must be a JSON array"},
		{name: "fail/number", body: `42`, wantErr: "must be a JSON array"},
		{name: "fail/null", body: `null`, wantErr: "must be a JSON array"},
		{name: "fail/not-json", body: `hello`, wantErr: "not JSON"},
		{name: "fail/byte-order-mark", body: "\ufeff" + array(rec("metric")), wantErr: "not JSON"},
		{name: "fail/empty-array", body: `[]`, wantErr: "empty array"},
		{name: "fail/empty-array-white-space", body: `[ ]`, wantErr: "empty array"},
		{name: "fail/empty-array-header-required", body: `[]`, requireHeader: true, wantErr: "empty array"},
		{name: "fail/1001-records-with-header", body: array(append([]string{header}, records(1000)...)...), requireHeader: true, wantErr: "more than 1000 records"},
		{name: "fail/1001-records-legacy", body: array(records(1001)...), wantErr: "more than 1000 records"},
		{name: "fail/256KiB-plus-one", body: sized(t, batch.MaxBytes+1), requireHeader: true, wantErr: "limit 262144"},
		{name: "fail/element-number", body: array(rec("metric"), `1`), wantErr: "record 1 is not an object"},
		{name: "fail/element-string", body: array(`"metric"`), wantErr: "record 0 is not an object"},
		{name: "fail/element-array", body: array(`[` + rec("metric") + `]`), wantErr: "record 0 is not an object"},
		{name: "fail/element-null", body: array(`null`), wantErr: "record 0 is not an object"},
		{name: "fail/element-true", body: array(`true`), wantErr: "record 0 is not an object"},
		{name: "fail/element-broken-json", body: `[{"type":}]`, wantErr: "record 0"},
		{name: "fail/unterminated-array", body: "[" + rec("metric"), wantErr: "unterminated array"},
		{name: "fail/unterminated-after-comma", body: "[" + rec("metric") + ",", wantErr: "record 1"},
		{name: "fail/trailing-comma", body: "[" + rec("metric") + ",]", wantErr: "record 1"},
		{name: "fail/missing-comma", body: "[" + rec("metric") + rec("metric") + "]", wantErr: "record 1"},

		// prev (SPEC 4.2): absent, null, or a lowercase hex SHA-256.
		{name: "ok/prev-hex", body: array(withPrev(`"`+prevHex+`"`), rec("metric")), requireHeader: true, wantRecords: 1, wantHeader: true},
		{name: "ok/prev-null", body: array(withPrev(`null`)), requireHeader: true, wantHeader: true},
		{name: "fail/prev-uppercase", body: array(withPrev(`"` + strings.ToUpper(prevHex) + `"`)), requireHeader: true, wantErr: "prev"},
		{name: "fail/prev-short", body: array(withPrev(`"` + prevHex[:62] + `"`)), requireHeader: true, wantErr: "prev"},
		{name: "fail/prev-long", body: array(withPrev(`"` + prevHex + `00"`)), requireHeader: true, wantErr: "prev"},
		{name: "fail/prev-not-hex", body: array(withPrev(`"` + strings.Repeat("g", 64) + `"`)), requireHeader: true, wantErr: "prev"},
		{name: "fail/prev-number", body: array(withPrev(`1`)), requireHeader: true, wantErr: "prev"},
		{name: "fail/prev-empty", body: array(withPrev(`""`)), requireHeader: true, wantErr: "prev"},

		// Trailing data after the array.
		{name: "fail/trailing-word", body: array(rec("metric")) + ` x`, wantErr: "after the array"},
		{name: "fail/trailing-second-array", body: array(rec("metric")) + array(rec("metric")), wantErr: "after the array"},
		{name: "fail/trailing-object", body: array(rec("metric")) + rec("metric"), wantErr: "after the array"},
		{name: "fail/trailing-bracket", body: array(rec("metric")) + `]`, wantErr: "after the array"},
		{name: "fail/trailing-nul", body: array(rec("metric")) + "\x00", wantErr: "after the array"},

		// type.
		{name: "fail/type-missing", body: array(`{"ts":"` + ts + `"}`), wantErr: `no "type"`},
		{name: "fail/type-uppercase", body: array(rec("Metric")), wantErr: "must match"},
		{name: "fail/type-65-characters", body: array(rec(long64 + "a")), wantErr: "must match"},
		{name: "fail/type-empty", body: array(rec("")), wantErr: "must match"},
		{name: "fail/type-dash", body: array(rec("a-b")), wantErr: "must match"},
		{name: "fail/type-space", body: array(rec("a b")), wantErr: "must match"},
		{name: "fail/type-non-ascii", body: array(rec("m\u00e9tric")), wantErr: "must match"},
		{name: "fail/type-number", body: array(`{"type":7,"ts":"` + ts + `"}`), wantErr: "record 0"},
		{name: "fail/type-object", body: array(`{"type":{},"ts":"` + ts + `"}`), wantErr: "record 0"},
		{name: "fail/type-null", body: array(`{"type":null,"ts":"` + ts + `"}`), wantErr: "record 0"},
		{name: "fail/type-member-name-case", body: array(`{"TYPE":"metric","ts":"` + ts + `"}`), wantErr: `no "type"`},
		{name: "fail/type-member-name-title-case", body: array(`{"Type":"metric","ts":"` + ts + `"}`), wantErr: `no "type"`},

		// ts.
		{name: "fail/ts-missing", body: array(`{"type":"metric"}`), wantErr: `no "ts"`},
		{name: "fail/ts-date-only", body: array(`{"type":"metric","ts":"2026-04-01"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-space-separator", body: array(`{"type":"metric","ts":"2026-04-01 10:00:00Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-no-zone", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-unix-string", body: array(`{"type":"metric","ts":"1743501600"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-empty", body: array(`{"type":"metric","ts":""}`), wantErr: "RFC 3339"},
		{name: "fail/ts-hour-25", body: array(`{"type":"metric","ts":"2026-04-01T25:00:00Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-one-digit-hour", body: array(`{"type":"metric","ts":"2026-04-01T0:00:00Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-comma-fraction", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00,5Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-empty-fraction", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00.Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-offset-24-hours", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00+24:00"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-offset-without-colon", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00+0200"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-lowercase-z", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-february-30", body: array(`{"type":"metric","ts":"2026-02-30T10:00:00Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-second-60", body: array(`{"type":"metric","ts":"2026-04-01T10:00:60Z"}`), wantErr: "RFC 3339"},
		{name: "fail/ts-trailing-space", body: array(`{"type":"metric","ts":"2026-04-01T10:00:00Z "}`), wantErr: "RFC 3339"},
		{name: "fail/ts-number", body: array(`{"type":"metric","ts":1743501600}`), wantErr: "record 0"},
		{name: "fail/ts-null", body: array(`{"type":"metric","ts":null}`), wantErr: "record 0"},
		{name: "fail/ts-member-name-case", body: array(`{"type":"metric","TS":"` + ts + `"}`), wantErr: `no "ts"`},

		// The batch header.
		{name: "fail/header-required-legacy-body", body: array(rec("metric")), requireHeader: true, wantErr: "first record must be the batch header"},
		{name: "fail/header-not-first", body: array(rec("metric"), header), wantErr: "may only come first"},
		{name: "fail/header-not-first-required", body: array(rec("metric"), header), requireHeader: true, wantErr: "may only come first"},
		{name: "fail/header-twice", body: array(header, header), requireHeader: true, wantErr: "may only come first"},
		{name: "fail/seq-missing", body: array(`{"type":"batch","ts":"` + ts + `","agent_version":"1.0.0"}`), requireHeader: true, wantErr: `no "seq"`},
		{name: "fail/seq-zero", body: array(hdr("0", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-negative-zero", body: array(hdr("-0", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-negative", body: array(hdr("-5", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-float", body: array(hdr("1.5", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-integral-float", body: array(hdr("1.0", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-exponent", body: array(hdr("1e3", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-above-int64", body: array(hdr("9223372036854775808", `"1.0.0"`)), requireHeader: true, wantErr: "positive int64"},
		{name: "fail/seq-string", body: array(hdr(`"5"`, `"1.0.0"`)), requireHeader: true, wantErr: "seq"},
		{name: "fail/seq-null", body: array(hdr("null", `"1.0.0"`)), requireHeader: true, wantErr: "seq"},
		{name: "fail/seq-bool", body: array(hdr("true", `"1.0.0"`)), requireHeader: true, wantErr: "seq"},
		{name: "fail/agent-version-missing", body: array(`{"type":"batch","ts":"` + ts + `","seq":1}`), requireHeader: true, wantErr: `no "agent_version"`},
		{name: "fail/agent-version-empty", body: array(hdr("1", `""`)), requireHeader: true, wantErr: "agent_version"},
		{name: "fail/agent-version-65-characters", body: array(hdr("1", `"`+long64+`a"`)), requireHeader: true, wantErr: "agent_version"},
		{name: "fail/agent-version-number", body: array(hdr("1", `142`)), requireHeader: true, wantErr: "agent_version"},
		{name: "fail/agent-version-null", body: array(hdr("1", `null`)), requireHeader: true, wantErr: "agent_version"},
		{name: "fail/agent-version-array", body: array(hdr("1", `["1.0.0"]`)), requireHeader: true, wantErr: "agent_version"},
		{name: "fail/header-bad-ts", body: array(`{"type":"batch","ts":"yesterday","seq":1,"agent_version":"1.0.0"}`), requireHeader: true, wantErr: "RFC 3339"},
		{name: "fail/legacy-with-broken-header", body: array(hdr("0", `"1.0.0"`), rec("metric")), wantErr: "positive int64"},

		// I-JSON (RFC 7493), SPEC 4.2 check 7: what the pack canonicalizer refuses, ingest refuses.
		{name: "fail/duplicate-member", body: array(header, `{"type":"metric","ts":"`+ts+`","v":1,"v":2}`), requireHeader: true, wantErr: `record 1: duplicate member name "v" at byte 96`},
		{name: "fail/duplicate-member-escaped", body: array(header, `{"type":"metric","ts":"`+ts+`","v":1,"\u0076":2}`), requireHeader: true, wantErr: `record 1: duplicate member name "v" at byte 96`},
		{name: "fail/duplicate-member-nested", body: array(`{"type":"metric","ts":"` + ts + `","o":{"a":[{"k":1,"k":1}]}}`), wantErr: `record 0: duplicate member name "k" at byte 56`},
		{name: "fail/duplicate-type", body: array(`{"type":"metric","ts":"` + ts + `","type":"metric"}`), wantErr: `duplicate member name "type"`},
		{name: "fail/duplicate-in-header", body: array(`{"type":"batch","ts":"` + ts + `","seq":1,"seq":2,"agent_version":"1"}`), requireHeader: true, wantErr: `record 0: duplicate member name "seq" at byte 1`},
		{name: "fail/invalid-utf8", body: array(rec("metric"), `{"type":"metric","ts":"`+ts+`","s":"a`+"\xff"+`"}`), wantErr: "record 1: invalid UTF-8 at byte 98"},
		{name: "fail/invalid-utf8-in-key", body: array(`{"type":"metric","ts":"` + ts + `","` + "\xc3\x28" + `":1}`), wantErr: "record 0: invalid UTF-8 at byte 47"},
		{name: "fail/utf8-surrogate-bytes", body: array(`{"type":"metric","ts":"` + ts + `","s":"` + "\xed\xa0\x80" + `"}`), wantErr: "record 0: invalid UTF-8 at byte 51"},
		{name: "fail/lone-high-surrogate", body: array(`{"type":"metric","ts":"` + ts + `","s":"\ud800"}`), wantErr: `record 0: lone surrogate \ud800 at byte 51`},
		{name: "fail/lone-low-surrogate", body: array(`{"type":"metric","ts":"` + ts + `","s":"x\udc00y"}`), wantErr: `lone surrogate \udc00`},
		{name: "fail/surrogate-pair-reversed", body: array(`{"type":"metric","ts":"` + ts + `","s":"\udc00\ud800"}`), wantErr: `lone surrogate \udc00`},
		{name: "fail/lone-surrogate-in-key", body: array(`{"type":"metric","ts":"` + ts + `","\ud800":1}`), wantErr: `lone surrogate \ud800`},
		{name: "fail/number-1e400", body: array(`{"type":"metric","ts":"` + ts + `","v":1e400}`), wantErr: "record 0: number 1e400 is outside the IEEE 754 double range at byte 50"},
		{name: "fail/number-minus-1e400", body: array(`{"type":"metric","ts":"` + ts + `","v":[-1e400]}`), wantErr: "number -1e400 is outside the IEEE 754 double range"},
		{name: "fail/number-400-digits", body: array(`{"type":"metric","ts":"` + ts + `","v":1` + strings.Repeat("0", 400) + `}`), wantErr: "is outside the IEEE 754 double range"},
		{name: "fail/number-just-above-max", body: array(`{"type":"metric","ts":"` + ts + `","v":1.7976931348623159e308}`), wantErr: "is outside the IEEE 754 double range"},
		{name: "fail/nesting-65-levels", body: array(`{"type":"metric","ts":"` + ts + `","v":` + nested(63) + `}`), wantErr: "record 0: nesting deeper than 64 levels at byte 113"},
		{name: "fail/nesting-65-levels-second-record", body: array(rec("metric"), `{"type":"metric","ts":"`+ts+`","v":`+nested(63)+`}`), wantErr: "record 1: nesting deeper than 64 levels"},
		{name: "fail/nesting-very-deep", body: array(`{"type":"metric","ts":"` + ts + `","v":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`), wantErr: "nesting deeper than 64 levels"},
		{name: "ok/nesting-64-levels", body: array(`{"type":"metric","ts":"` + ts + `","v":` + nested(62) + `}`), wantRecords: 1},
		{name: "ok/number-largest-double", body: array(`{"type":"metric","ts":"` + ts + `","v":1.7976931348623157e308,"w":-1.7976931348623158e308}`), wantRecords: 1},
		{name: "ok/number-underflow-is-zero", body: array(`{"type":"metric","ts":"` + ts + `","v":1e-400}`), wantRecords: 1},
		{name: "ok/surrogate-pair", body: array(`{"type":"metric","ts":"` + ts + `","s":"\ud83d\ude00","\ud83d\ude00":1}`), wantRecords: 1},
		{name: "ok/same-name-in-different-objects", body: array(`{"type":"metric","ts":"` + ts + `","v":{"v":{"v":1}},"w":[{"v":1},{"v":2}]}`), wantRecords: 1},
		{name: "ok/names-differing-by-escape-only-in-value", body: array(`{"type":"metric","ts":"` + ts + `","v":"\u0076","w":"v"}`), wantRecords: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := batch.Parse([]byte(tt.body), tt.requireHeader)
			if tt.wantErr != "" {
				if !errors.Is(err, batch.ErrInvalid) {
					t.Fatalf("Parse error = %v, want ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error %q does not mention %q", err, tt.wantErr)
				}
				if b.Header != nil || b.Records != nil {
					t.Fatalf("Parse returned a batch with its error: %+v", b)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(b.Records) != tt.wantRecords {
				t.Fatalf("got %d records, want %d", len(b.Records), tt.wantRecords)
			}
			if (b.Header != nil) != tt.wantHeader {
				t.Fatalf("header = %+v, want present=%v", b.Header, tt.wantHeader)
			}
		})
	}
}

func TestParseHeaderValues(t *testing.T) {
	b, err := batch.Parse([]byte(array(`{"type":"batch","ts":"2026-04-01T12:00:00.5+02:00","seq":1743501600000000000,"agent_version":"1.4.2-rc.1","extra":true}`, rec("metric"))), true)
	if err != nil {
		t.Fatal(err)
	}
	want := batch.Header{TS: time.Date(2026, 4, 1, 10, 0, 0, 5e8, time.UTC), Seq: 1743501600000000000, AgentVersion: "1.4.2-rc.1"}
	if b.Header.Prev != "" || b.Header.Seq != want.Seq || b.Header.AgentVersion != want.AgentVersion || !b.Header.TS.Equal(want.TS) {
		t.Fatalf("header = %+v, want %+v", *b.Header, want)
	}
	if r := b.Records[0]; r.Type != "metric" || !r.TS.Equal(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("record = %+v", r)
	}
}

func TestParseHeaderPrev(t *testing.T) {
	b, err := batch.Parse([]byte(array(withPrev(`"`+prevHex+`"`))), true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Header.Prev != prevHex {
		t.Fatalf("prev = %q, want %q", b.Header.Prev, prevHex)
	}
}

// TestParseKeepsRawBytes: a record is stored as the exact bytes the agent
// signed, white space, escapes and number spellings included.
func TestParseKeepsRawBytes(t *testing.T) {
	r0 := `{ "type" : "metric" ,"ts":"2026-04-01T10:00:00Z", "v": 1.50e+2, "s":"\u00e9\/\"", "n" : [ 1 , 2 ] }`
	r1 := "{\"type\":\"agent_status\",\n\t\"ts\":\"2026-04-01T10:00:00.000Z\",\"ok\":true}"
	r2 := `{"type":"honeypot_trip","ts":"2026-04-01T10:00:00Z","path":"C:\\ProgramData\\x","u":"ü😀"}`
	body := []byte("[\n  " + header + ",\n  " + r0 + " ,\r\n" + r1 + "," + r2 + "\n]\n")
	b, err := batch.Parse(body, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{r0, r1, r2}
	if len(b.Records) != len(want) {
		t.Fatalf("got %d records", len(b.Records))
	}
	for i, r := range b.Records {
		if string(r.Raw) != want[i] {
			t.Errorf("record %d raw = %q, want %q", i, r.Raw, want[i])
		}
	}
	// The records own their bytes: a caller reusing the body buffer changes nothing.
	for i := range body {
		body[i] = 'X'
	}
	for i, r := range b.Records {
		if string(r.Raw) != want[i] {
			t.Fatalf("record %d changed with the body buffer: %q", i, r.Raw)
		}
	}
}

func TestParseDeterministic(t *testing.T) {
	body := []byte(array(append([]string{header}, records(50)...)...))
	a, err := batch.Parse(body, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := batch.Parse(body, true)
	if err != nil {
		t.Fatal(err)
	}
	if *a.Header != *b.Header || len(a.Records) != len(b.Records) {
		t.Fatal("two parses differ")
	}
	for i := range a.Records {
		if !bytes.Equal(a.Records[i].Raw, b.Records[i].Raw) || a.Records[i].Type != b.Records[i].Type {
			t.Fatalf("record %d differs", i)
		}
	}
}

// BenchmarkParse parses the body the ingest benchmarks send
// (batchtest.Body: a header and 100 records of four kinds, about 10 KiB), as
// ingest does: validated, the canonical form not wanted. cpu-ns/op is the
// process's CPU time, which a loaded machine disturbs less than ns/op.
func BenchmarkParse(b *testing.B) {
	body := batchtest.Body(1743501600000000001, "2026-03-29")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	reportCPU := benchcpu.Start(b)
	for b.Loop() {
		if _, err := batch.Parse(body, true); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU()
}

// BenchmarkParseCanonical parses the same body as the deep checks of a pack
// do, handed each record's canonical form.
func BenchmarkParseCanonical(b *testing.B) {
	body := batchtest.Body(1743501600000000001, "2026-03-29")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	reportCPU := benchcpu.Start(b)
	for b.Loop() {
		if _, err := batch.ParseCanonical(body, true, func(_ int, c []byte) { n += len(c) }); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU()
	if n == 0 {
		b.Fatal("no canonical form handed over")
	}
}

func BenchmarkParse1000(b *testing.B) {
	body := []byte(array(append([]string{header}, records(999)...)...))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := batch.Parse(body, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMixed parses a signed body like the ingest benchmark's
// (internal/hub): a header and 100 records of four kinds, about 10 KiB.
func BenchmarkParseMixed(b *testing.B) {
	var s strings.Builder
	s.WriteString("[" + header)
	for i := range 100 {
		ts := fmt.Sprintf("2026-04-01T10:%02d:%02d.%03dZ", i/60, i%60, i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&s, `,{"type":"metric","ts":%q,"name":"cpu.user","value":%d.25,"tags":{"core":"%d"}}`, ts, i, i%8)
		case 1:
			fmt.Fprintf(&s, `,{"type":"metric","ts":%q,"name":"mem.used_bytes","value":%d}`, ts, 1<<30+i)
		case 2:
			fmt.Fprintf(&s, `,{"type":"process_dna","ts":%q,"pid":%d,"exe":"/usr/sbin/nginx","sha256":"%024x"}`, ts, 1000+i, i)
		case 3:
			fmt.Fprintf(&s, `,{"type":"agent_status","ts":%q,"spool_depth":%d,"uptime_s":%d,"ok":true}`, ts, i, 86400+i)
		}
	}
	s.WriteString("]")
	body := []byte(s.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := batch.Parse(body, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReason: what a 400 answer and a quarantined batch say of a refusal
// is Parse's reason without the class; any other error is said whole.
func TestReason(t *testing.T) {
	_, refused := batch.Parse([]byte(array(rec("metric"), `{"type":"metric","ts":"`+ts+`","v":1,"v":2}`)), false)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ok/refusal", refused, `record 1: duplicate member name "v" at byte 47`},
		{"ok/wrapped", fmt.Errorf("ingest: %w", refused), `ingest: invalid batch: record 1: duplicate member name "v" at byte 47`},
		{"ok/class-alone", fmt.Errorf("%w: ", batch.ErrInvalid), "invalid batch: "},
		{"ok/other", errors.New("body too large"), "body too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := batch.Reason(tc.err); got != tc.want {
				t.Fatalf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// TestParseVectors runs testdata/parse.txt, which verify.py's parse_batch
// (--deep) runs too.
func TestParseVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/parse.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			t.Fatalf("line %d: %q", i+1, line)
		}
		_, err := batch.Parse([]byte(f[2]), f[1] == "signed")
		if (err == nil) != (f[0] == "ok") {
			t.Errorf("line %d: Parse(%s, %s) = %v, want %s", i+1, f[2], f[1], err, f[0])
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d vectors", n)
	}
}

// ParseCanonical hands over each element's canonical form, the header's
// at index 0, exactly as canon.Transform writes it.
func TestParseCanonical(t *testing.T) {
	r0 := `{ "type" : "metric" ,"ts":"2026-04-01T10:00:00Z", "v": 1.50e+2, "s":"\u00e9\/\"", "n" : [ 1 , 2 ] }`
	r1 := `{"type":"honeypot_trip","ts":"2026-04-01T10:00:00Z","path":"C:\\ProgramData\\x","u":"ü😀"}`
	tests := []struct {
		name   string
		body   string
		signed bool
		want   []string
	}{
		{"ok/signed", "[" + header + ",\n" + r0 + "," + r1 + "]", true, []string{header, r0, r1}},
		{"ok/legacy", "[" + r1 + "," + r0 + "]", false, []string{r1, r0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			b, err := batch.ParseCanonical([]byte(tt.body), tt.signed, func(i int, c []byte) {
				if i != len(got) {
					t.Errorf("element %d handed over as %d", len(got), i)
				}
				got = append(got, string(c))
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || len(b.Records)+btoi(b.Header != nil) != len(got) {
				t.Fatalf("got %d canonical elements, want %d (records %d)", len(got), len(tt.want), len(b.Records))
			}
			for i, w := range tt.want {
				c, err := canon.Transform([]byte(w))
				if err != nil {
					t.Fatal(err)
				}
				if got[i] != string(c) {
					t.Errorf("element %d = %s, want %s", i, got[i], c)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
