package client_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/hub"
)

// fill sets every field of v, recursively, to a value that is not zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	}
}

func members(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestViewsMatchTheHub holds the client's reading of each answer to the
// hub's own type for it: every member the hub writes, the client reads, and
// it names no member the hub does not write.
func TestViewsMatchTheHub(t *testing.T) {
	tests := []struct {
		name        string
		hub, client any
	}{
		{"ok/register", &hub.RegisterResult{}, &client.RegisterResponse{}},
		{"ok/ingest", &hub.IngestResult{}, &client.IngestResponse{}},
		{"ok/agent view", &hub.AgentView{}, &client.AgentView{}},
		{"ok/new agent", &hub.NewAgent{}, &client.AgentToken{}},
		{"ok/pack view", &hub.PackView{}, &client.Pack{}},
		{"ok/pack key", &hub.KeyView{}, &client.PackKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill(reflect.ValueOf(tt.hub).Elem())
			written, err := json.Marshal(tt.hub)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(written))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.client); err != nil {
				t.Fatalf("the client cannot read all of %s: %v", written, err)
			}
			read, err := json.Marshal(tt.client)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := members(t, read), members(t, written); !slices.Equal(got, want) {
				t.Fatalf("client members %v, hub members %v", got, want)
			}
		})
	}
}
