package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/canon"
)

// refParse is the parser as first written, kept as a reference: encoding/json
// reads the body token by token and each record as one value, canon.Members
// walks its members again for the fields and add reads them. It checks JSON's
// grammar but none of I-JSON's rules; raws are every object of the body, the
// header's included.
func refParse(body []byte, requireHeader bool) (b Batch, raws []json.RawMessage, err error) {
	var s scanner
	if len(body) > MaxBytes {
		return Batch{}, nil, invalid("body is %d bytes, limit %d", len(body), MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return Batch{}, nil, invalid("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return Batch{}, nil, invalid("body must be a JSON array")
	}
	n := 0
	for dec.More() {
		n++
		if n > MaxRecords {
			return Batch{}, nil, invalid("more than %d records", MaxRecords)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Batch{}, nil, invalid("record %d: %v", n-1, err)
		}
		if raw[0] != '{' {
			return Batch{}, nil, invalid("record %d is not an object", n-1)
		}
		f, err := readFields(refMembers(raw))
		if err != nil {
			return Batch{}, nil, invalid("record %d: %v", n-1, err)
		}
		if err := b.add(&s, n-1, raw, f); err != nil {
			return Batch{}, nil, err
		}
		raws = append(raws, raw)
	}
	b.Records = s.recs
	if _, err := dec.Token(); err != nil {
		return Batch{}, nil, invalid("unterminated array: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Batch{}, nil, invalid("data after the array")
	}
	if n == 0 {
		return Batch{}, nil, invalid("empty array")
	}
	if requireHeader && b.Header == nil {
		return Batch{}, nil, invalid("no header")
	}
	return b, raws, nil
}

// refMembers are the members of the valid object raw, as canon.Members
// walks them.
func refMembers(raw []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		stop := errors.New("stop")
		_ = canon.Members(raw, func(name, value []byte) error {
			if !yield(name, value) {
				return stop
			}
			return nil
		})
	}
}

// refParseTS is parseTS as a regular expression of RFC 3339's date-time
// (section 5.6, with "T" and "Z" in upper case) and time.Parse.
func refParseTS(s string) (time.Time, error) {
	if !rfc3339.MatchString(s) {
		return time.Time{}, errTS
	}
	return time.Parse(time.RFC3339Nano, s)
}

var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

// TestParseTS: parseTS reads what time.Parse reads, to the same value
// (compared whole: instant, location and all), and refuses what it refuses
// or the shape check does.
func TestParseTS(t *testing.T) {
	for _, s := range tsSeeds {
		t.Run(s, func(t *testing.T) { checkTS(t, s) })
	}
}

var tsSeeds = []string{
	"2026-04-01T10:00:00Z", "2026-04-01T10:00:00.5Z", "2026-04-01T10:00:00.123456789Z",
	"2026-04-01T10:00:00.1234567891234Z", "2026-04-01T10:00:00.000000000001Z",
	"2026-04-01T10:00:00.9999999999Z", "2026-04-01T10:00:00.12345678Z",
	"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-02-29T00:00:00Z",
	"2000-02-29T00:00:00Z", "2026-04-01T10:00:00+02:00", "2026-04-01T10:00:00.5-23:59",
	"2026-04-01T10:00:00+00:00", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
	"2026-04-31T00:00:00Z", "2026-00-01T00:00:00Z", "2026-13-01T00:00:00Z",
	"2026-04-00T00:00:00Z", "2026-04-01T24:00:00Z", "2026-04-01T10:60:00Z",
	"2026-04-01T10:00:60Z", "2026-04-01T10:00:00.Z", "2026-04-01T10:00:00z",
	"2026-04-01t10:00:00Z", "2026-04-01T10:00:00+24:00", "2026-04-01T10:00:00",
	"2026-04-01T1:00:00Z", "2026-04-01T10:00:00,5Z", "2026-04-01 10:00:00Z",
	"2026-04-01T10:00:00ZZ", "2026-04-01T10:00:00+0200", "",
}

func checkTS(t *testing.T, s string) {
	t.Helper()
	got, err := parseTS([]byte(s))
	want, werr := refParseTS(s)
	if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseTS(%q) = %v, %v; time.Parse gives %v, %v", s, got, err, want, werr)
	}
}

// FuzzParseTS holds parseTS to the shape check and time.Parse.
func FuzzParseTS(f *testing.F) {
	for _, s := range tsSeeds {
		f.Add(s)
	}
	f.Fuzz(checkTS)
}

// FuzzParseMatchesReference holds Parse to the reference parser: a body
// Parse accepts, the reference accepts with the same header and records; a
// body the reference accepts and Parse refuses holds a record that breaks
// I-JSON (the canonicalizer refuses it), and Parse's error names the
// first such record; a body the reference refuses, Parse refuses.
func FuzzParseMatchesReference(f *testing.F) {
	for _, s := range []string{
		`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-04-01T10:00:00.5+02:00","v":[1,{"a":"]"}]}]`,
		`[{"type":"m","ts":"2026-04-01T10:00:00Z","x":"\"}"}]`,
		`[ {"\u0074ype":"metric","ts":"2026-04-01T10:00:00Z"} ]`,
		`[{"type":null,"ts":"2026-04-01T10:00:00Z"}]`,
		`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":"5","agent_version":"1"}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","type":"other"}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","v":1,"\u0076":2}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","s":"\ud800"}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","v":1e400}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","v":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]`,
		"[{\"type\":\"metric\",\"ts\":\"2026-04-01T10:00:00Z\",\"s\":\"\xff\"}]",
		`[1,2]`, `[]`, `{}`, `"x"`, `[{}]`, `[{"TYPE":"m","ts":"2026-04-01T10:00:00Z"}]`, `[{"type":"m","ts":"2026-04-01T10:00:00Z"}] x`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, requireHeader bool) {
		got, err := Parse(body, requireHeader)
		want, raws, rerr := refParse(body, requireHeader)
		switch {
		case err == nil && rerr != nil:
			t.Fatalf("Parse accepts %q, the reference refuses it: %v", body, rerr)
		case err == nil:
			if !reflect.DeepEqual(got.Header, want.Header) || len(got.Records) != len(want.Records) {
				t.Fatalf("Parse and the reference differ on %q:\n%+v\n%+v", body, got, want)
			}
			for i := range got.Records {
				a, b := got.Records[i], want.Records[i]
				if a.Type != b.Type || !a.TS.Equal(b.TS) || string(a.Raw) != string(b.Raw) {
					t.Fatalf("record %d differs on %q: %+v vs %+v", i, body, a, b)
				}
			}
		case rerr == nil:
			// Parse refuses more than the reference only for I-JSON's sake.
			for i, raw := range raws {
				_, cerr := canon.Transform(raw)
				var ce *canon.Error
				if cerr == nil {
					continue
				}
				if !errors.As(cerr, &ce) || ce.Rule == canon.RuleSyntax {
					t.Fatalf("record %d of %q: the canonicalizer refuses valid JSON: %v", i, body, cerr)
				}
				if want := fmt.Sprintf("record %d: ", i); !strings.Contains(err.Error(), want) {
					t.Fatalf("Parse(%q) = %v; record %d is the first to break I-JSON (%v)", body, err, i, cerr)
				}
				return
			}
			t.Fatalf("Parse refuses %q (%v), whose records are all I-JSON and which the reference accepts", body, err)
		}
	})
}
