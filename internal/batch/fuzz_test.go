package batch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/canon"
)

// FuzzParse holds Parse to its contract: it never panics; it fails with
// ErrInvalid only; a success has 1 to 1000 objects (the header included), a
// body of at most 256 KiB, a header when one was required, and records whose
// Raw is a JSON object found verbatim in the body; and parsing again gives
// the same result, and so does ParseCanonical, which also writes the
// canonical form. The seed corpus is under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(array(header, rec("metric"))), true)
	f.Add([]byte(array(rec("metric"))), false)
	f.Fuzz(func(t *testing.T, body []byte, requireHeader bool) {
		b, err := batch.Parse(body, requireHeader)
		b2, err2 := batch.Parse(body, requireHeader)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("two parses disagree: %v / %v", err, err2)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("two parses give different batches:\n%+v\n%+v", b, b2)
		}
		b3, err3 := batch.ParseCanonical(body, requireHeader, func(int, []byte) {})
		if fmt.Sprint(err) != fmt.Sprint(err3) || !reflect.DeepEqual(b, b3) {
			t.Fatalf("Parse and ParseCanonical disagree: %v / %v\n%+v\n%+v", err, err3, b, b3)
		}
		if err != nil {
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			if b.Header != nil || b.Records != nil {
				t.Fatalf("a batch came back with the error: %+v", b)
			}
			return
		}
		if len(body) > batch.MaxBytes {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		n := len(b.Records)
		if b.Header != nil {
			n++
			if b.Header.Seq <= 0 || b.Header.AgentVersion == "" || len(b.Header.AgentVersion) > 64 {
				t.Fatalf("accepted header %+v", *b.Header)
			}
		}
		if n < 1 || n > batch.MaxRecords {
			t.Fatalf("accepted %d objects", n)
		}
		if requireHeader && b.Header == nil {
			t.Fatal("accepted a body without the required header")
		}
		for i, r := range b.Records {
			if !json.Valid(r.Raw) || len(r.Raw) == 0 || r.Raw[0] != '{' {
				t.Fatalf("record %d raw %q is not a JSON object", i, r.Raw)
			}
			if !bytes.Contains(body, r.Raw) {
				t.Fatalf("record %d raw %q is not in the body", i, r.Raw)
			}
			if r.Type == batch.HeaderType || r.Type == "" || len(r.Type) > 64 || r.TS.IsZero() {
				t.Fatalf("record %d accepted with type %q ts %v", i, r.Type, r.TS)
			}
			var m map[string]any
			if err := json.Unmarshal(r.Raw, &m); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if m["type"] != r.Type {
				t.Fatalf("record %d: member \"type\" is %v, parsed %q", i, m["type"], r.Type)
			}
			if _, ok := m["ts"].(string); !ok {
				t.Fatalf("record %d has no string member \"ts\"", i)
			}
		}
	})
}

// FuzzParseCanonicalizes holds Parse to the pack (SPEC 4.2: what check 7
// accepts, the evidence pack can always hold): every record of an accepted
// body canonicalizes (RFC 8785, internal/canon, as the pack builder runs
// it); the canonical form is a fixed point; and a body of the canonical
// records parses again to the same types and times. The seed corpus is
// under testdata/fuzz/FuzzParseCanonicalizes.
func FuzzParseCanonicalizes(f *testing.F) {
	f.Add([]byte(array(header, rec("metric"))), true)
	f.Add([]byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z","v":1e308,"w":-0,"x":1E-400,"s":"\ud83d\ude00\u0000","\u00e9":{"e\u0301":[]}}]`), false)
	f.Add([]byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z","v":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, requireHeader bool) {
		b, err := batch.Parse(body, requireHeader)
		if err != nil {
			return
		}
		var data []string
		for i, r := range b.Records {
			c, err := canon.Transform(r.Raw)
			if err != nil {
				t.Fatalf("record %d %q: Parse accepts it, the canonicalizer refuses it: %v", i, r.Raw, err)
			}
			again, err := canon.Transform(c)
			if err != nil || !bytes.Equal(again, c) {
				t.Fatalf("record %d %q: canonical form %q is not a fixed point: %q, %v", i, r.Raw, c, again, err)
			}
			data = append(data, string(c))
		}
		if len(data) == 0 {
			return
		}
		b2, err := batch.Parse([]byte(array(data...)), false)
		if err != nil {
			t.Fatalf("the canonical records of %q do not parse: %v", body, err)
		}
		if len(b2.Records) != len(b.Records) || b2.Header != nil {
			t.Fatalf("the canonical records of %q parse to %+v", body, b2)
		}
		for i, r := range b2.Records {
			if r.Type != b.Records[i].Type || !r.TS.Equal(b.Records[i].TS) {
				t.Fatalf("record %d: canonical %q parses to %q %v, was %q %v", i, r.Raw, r.Type, r.TS, b.Records[i].Type, b.Records[i].TS)
			}
		}
	})
}
