package batch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/monsys/hub/internal/batch"
)

// FuzzParse holds Parse to its contract: it never panics; it fails with
// ErrInvalid only; a success has 1 to 1000 objects (the header included), a
// body of at most 256 KiB, a header when one was required, and records whose
// Raw is a JSON object found verbatim in the body; and parsing again gives
// the same result. The seed corpus is under testdata/fuzz/FuzzParse.
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
