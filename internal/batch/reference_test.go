package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/canon"
)

// refParse is the parser as first written, kept as a reference: encoding/json
// reads the body token by token and each record as one value, and add reads
// its fields. It checks JSON's grammar but none of I-JSON's rules; raws are
// every object of the body, the header's included.
func refParse(body []byte, requireHeader bool) (b Batch, raws []json.RawMessage, err error) {
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
		if err := b.add(n-1, raw); err != nil {
			return Batch{}, nil, err
		}
		raws = append(raws, raw)
	}
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
