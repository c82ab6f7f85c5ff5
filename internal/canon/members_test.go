package canon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
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

// transformerMembers is what Transformer.Members gives after tr.Append(in):
// the names in order and the values, copied.
func transformerMembers(tr *canon.Transformer, in []byte) (names, values []string) {
	for name, value := range tr.Members(in) {
		names = append(names, string(name))
		values = append(values, string(value))
	}
	return names, values
}

// TestTransformerMembers: after a value it accepted, the transformer gives
// the top object's members as Members does; after anything else, none.
func TestTransformerMembers(t *testing.T) {
	var tr canon.Transformer
	for _, tc := range []struct {
		name, in string
		ok       bool // Append accepts in
	}{
		{"ok/empty", `{}`, true},
		{"ok/canonical", `{"a":1,"b":"x","c":[1,{"d":null}],"e":{"f":true}}`, true},
		{"ok/unsorted", `{"type":"m","ts":"t","b":{"z":1,"y":2},"a":[{"d":1,"c":2}]}`, true},
		{"ok/white-space", "{ \"a\" :\t1 ,\r\n\"b\" : [ 1 , 2 ] , \"c\":\"}\" } ", true},
		{"ok/escaped-names", `{"\u0076":1,"a\"b":"\\","c\\":"\"}"}`, true},
		{"ok/escaped-names-nested", `{"\u0074ype":{"\u0062":1,"\u0061":{"\u0063":2}},"\u0074s":[{"\u0065":3}],"v":1.50}`, true},
		{"ok/after-a-longer-object", `{"x":1}`, true},
		{"ok/array-holds-objects", `[{"a":1},{"b":2}]`, true},
		{"ok/scalar", `"s"`, true},
		{"fail/duplicate", `{"a":1,"b":2,"a":3}`, false},
		{"fail/duplicate-escaped", `{"b":1,"a":2,"\u0061":3}`, false},
		{"fail/syntax-late", `{"a":1,"b":2,"c":}`, false},
		{"fail/data-after", `{"a":1} x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if _, err := tr.Append(nil, in); (err == nil) != tc.ok {
				t.Fatalf("Append(%s): %v", in, err)
			}
			names, values := transformerMembers(&tr, in)
			var wantNames, wantValues []string
			if tc.ok && in[0] == '{' {
				want, order := membersOf(t, in)
				for _, n := range order {
					wantNames = append(wantNames, n)
					wantValues = append(wantValues, string(want[n]))
				}
			}
			if !slices.Equal(names, wantNames) || !slices.Equal(values, wantValues) {
				t.Fatalf("Members(%s) = %q %q, want %q %q", in, names, values, wantNames, wantValues)
			}
		})
	}
	t.Run("ok/stops-when-told", func(t *testing.T) {
		in := []byte(`{"a":1,"b":2}`)
		if _, err := tr.Append(nil, in); err != nil {
			t.Fatal(err)
		}
		n := 0
		for range tr.Members(in) {
			n++
			break
		}
		if n != 1 {
			t.Fatalf("%d members after a break, want 1", n)
		}
	})
}

// FuzzMembers holds Members to encoding/json on every object the
// canonicalizer accepts (valid, no duplicate names), and the transformer's
// Members to Members.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,"]"],"b":{"c":"\""}}`, "{\"\\u0041\" : \"x\" , \"b\":null}"} {
		f.Add([]byte(s))
	}
	var tr canon.Transformer
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := tr.Append(nil, in)
		names, values := transformerMembers(&tr, in)
		if err != nil {
			if names != nil {
				t.Fatalf("%q refused (%v), yet members %q", in, err, names)
			}
			return
		}
		if len(in) == 0 || bytes.TrimLeft(in, " \t\r\n")[0] != '{' {
			if names != nil {
				t.Fatalf("%q is no object, yet members %q", in, names)
			}
			return
		}
		all, order := membersOf(t, in)
		if !slices.Equal(names, order) {
			t.Fatalf("%q: the transformer's members %q, Members %q", in, names, order)
		}
		for i, n := range names {
			if values[i] != string(all[n]) {
				t.Fatalf("%q: member %q = %s, Members %s", in, n, values[i], all[n])
			}
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
