package batch

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzFastPathMatchesDecoder holds the fast walk to the decoder it replaces:
// on every valid body both give the same records, header and verdict.
func FuzzFastPathMatchesDecoder(f *testing.F) {
	for _, s := range []string{
		`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-04-01T10:00:00.5+02:00","v":[1,{"a":"]"}]}]`,
		`[{"type":"m","ts":"2026-04-01T10:00:00Z","x":"\"}"}]`,
		`[ {"\u0074ype":"metric","ts":"2026-04-01T10:00:00Z"} ]`,
		`[{"type":null,"ts":"2026-04-01T10:00:00Z"}]`,
		`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":"5","agent_version":"1"}]`,
		`[{"type":"metric","ts":"2026-04-01T10:00:00Z","type":"other"}]`,
		`[1,2]`, `[]`, `{}`, `"x"`, `[{}]`, `[{"TYPE":"m","ts":"2026-04-01T10:00:00Z"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || len(body) > MaxBytes {
			return
		}
		var fast, slow Batch
		nf, ef := fast.walk(body)
		ns, es := slow.decode(body)
		if (ef == nil) != (es == nil) || nf != ns {
			t.Fatalf("fast (%d, %v) and decoder (%d, %v) disagree on %q", nf, ef, ns, es, body)
		}
		if ef != nil {
			return
		}
		if !reflect.DeepEqual(fast.Header, slow.Header) || len(fast.Records) != len(slow.Records) {
			t.Fatalf("headers or counts differ on %q", body)
		}
		for i := range fast.Records {
			a, b := fast.Records[i], slow.Records[i]
			if a.Type != b.Type || !a.TS.Equal(b.TS) || string(a.Raw) != string(b.Raw) {
				t.Fatalf("record %d differs on %q: %+v vs %+v", i, body, a, b)
			}
		}
	})
}
