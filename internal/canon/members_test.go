package canon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/monsys/hub/internal/canon"
)

var errStop = errors.New("stop")

// membersOf is what Members gives, as encoding/json would decode it into a
// map of raw values, and the names in order.
func membersOf(t testing.TB, obj []byte) (map[string]json.RawMessage, []string) {
	t.Helper()
	got := map[string]json.RawMessage{}
	var names []string
	if err := canon.Members(obj, func(name, value []byte) error {
		got[string(name)] = bytes.Clone(value)
		names = append(names, string(name))
		return nil
	}); err != nil {
		t.Fatalf("Members(%q): %v", obj, err)
	}
	return got, names
}

func TestMembers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		obj   string
		names []string
	}{
		{"ok/empty", `{}`, nil},
		{"ok/empty-spaced", " { \n} ", nil},
		{"ok/canonical", `{"a":1,"b":"x","c":[1,{"d":null}],"e":{"f":true}}`, []string{"a", "b", "c", "e"}},
		{"ok/white-space", "{ \"a\" :\t1 ,\r\n\"b\" : [ 1 , 2 ] , \"c\":\"}\" }", []string{"a", "b", "c"}},
		{"ok/escaped-name", `{"\u0076":1,"a\"b":"\\","c\\":"\"}"}`, []string{"v", `a"b`, `c\`}},
		{"ok/strings-with-brackets", `{"a":"[{","b":{"c":"]}\""},"d":-1.5e3}`, []string{"a", "b", "d"}},
		{"ok/literals-last", `{"a":false,"b":null,"c":true}`, []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.obj), &want); err != nil {
				t.Fatal(err)
			}
			got, names := membersOf(t, []byte(tc.obj))
			if len(got) != len(want) || len(names) != len(tc.names) {
				t.Fatalf("members %q, want %v", names, tc.names)
			}
			for i, n := range tc.names {
				if names[i] != n || !bytes.Equal(got[n], want[n]) {
					t.Fatalf("member %d: %q = %s, want %q = %s", i, names[i], got[names[i]], n, want[n])
				}
			}
		})
	}
	t.Run("fail/stops-at-the-callback's-error", func(t *testing.T) {
		n := 0
		err := canon.Members([]byte(`{"a":1,"b":2}`), func(_, _ []byte) error { n++; return errStop })
		if !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("err %v after %d calls, want the first call's error", err, n)
		}
	})
}

// FuzzMembers holds Members to encoding/json on every object the
// canonicalizer accepts (valid, no duplicate names).
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,"]"],"b":{"c":"\""}}`, "{\"\\u0041\" : \"x\" , \"b\":null}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := canon.Transform(in); err != nil {
			return
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(in, &want) != nil {
			return // not an object
		}
		got, _ := membersOf(t, in)
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, encoding/json %d", in, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("%q: member %q = %s, encoding/json %s", in, k, got[k], v)
			}
		}
	})
}
