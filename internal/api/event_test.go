package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/batch/batchtest"
)

// proxyEvents are the API Gateway events of testdata/events, the seeds of
// the decoder's tests.
func proxyEvents(tb testing.TB) map[string][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no event files: %v", err)
	}
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		m[filepath.Base(n)] = b
	}
	return m
}

// sameAsEncodingJSON fails unless DecodeEvent gives encoding/json's answer
// for data: the same event, or an error where it errs.
func sameAsEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	var want events.APIGatewayProxyRequest
	wantErr := json.Unmarshal(data, &want)
	got, err := api.DecodeEvent(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("DecodeEvent error %v, encoding/json error %v, for %q", err, wantErr, data)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeEvent gave\n%#v\nencoding/json gave\n%#v\nfor %q", got, want, data)
	}
}

func TestDecodeEvent(t *testing.T) {
	for name, b := range proxyEvents(t) {
		t.Run("ok/"+name, func(t *testing.T) { sameAsEncodingJSON(t, b) })
	}
	cases := []struct {
		name, event string
		wantBody    string
		wantErr     bool
	}{
		{name: "ok/plain", event: `{"httpMethod":"POST","body":"abc"}`, wantBody: "abc"},
		{name: "ok/escapes", event: `{"body":"\"a\"\\\/\b\f\n\r\t","path":"/x"}`, wantBody: "\"a\"\\/\b\f\n\r\t"},
		{name: "ok/unicode escape", event: `{"body":"\u00e9\u20AC\u0000"}`, wantBody: "é€\x00"},
		{name: "ok/surrogate pair", event: `{"body":"\ud83d\ude00"}`, wantBody: "😀"},
		{name: "ok/lone surrogate", event: `{"body":"\ud83dx"}`, wantBody: "\ufffdx"},
		{name: "ok/utf-8", event: `{"body":"é€😀"}`, wantBody: "é€😀"},
		{name: "ok/invalid utf-8 replaced", event: "{\"body\":\"a\xffb\"}", wantBody: "a\ufffdb"},
		{name: "ok/key case folded", event: `{"BoDy":"x"}`, wantBody: "x"},
		{name: "ok/key escaped", event: `{"b\u006fdy":"x"}`, wantBody: "x"},
		{name: "ok/duplicate keys, last wins", event: `{"body":"x","Body":"y"}`, wantBody: "y"},
		{name: "ok/null body", event: `{"body":null}`, wantBody: ""},
		{name: "ok/body last, spaces", event: " {\n \"path\" : \"/a\" ,\t\"headers\":{\"body\":\"h\"}, \"body\" : \"b\" } \n", wantBody: "b"},
		{name: "ok/nested body ignored", event: `{"requestContext":{"body":"no"},"body":"yes"}`, wantBody: "yes"},
		{name: "ok/no body", event: `{"path":"/a"}`, wantBody: ""},
		{name: "ok/empty", event: `{}`, wantBody: ""},
		{name: "fail/not an object", event: `[]`, wantErr: true},
		{name: "fail/body not a string", event: `{"body":5}`, wantErr: true},
		{name: "fail/control byte in body", event: "{\"body\":\"a\x01b\"}", wantErr: true},
		{name: "fail/bad escape", event: `{"body":"\q"}`, wantErr: true},
		{name: "fail/short unicode escape", event: `{"body":"\u12"}`, wantErr: true},
		{name: "fail/unterminated body", event: `{"body":"abc`, wantErr: true},
		{name: "fail/trailing data", event: `{"body":"abc"} x`, wantErr: true},
		{name: "fail/invalid elsewhere", event: `{"body":"abc","headers":{"a":}}`, wantErr: true},
		{name: "fail/wrong type elsewhere", event: `{"body":"abc","isBase64Encoded":"yes"}`, wantErr: true},
		{name: "fail/missing comma", event: `{"path":"/a" "body":"abc"}`, wantErr: true},
		{name: "fail/empty input", event: ``, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sameAsEncodingJSON(t, []byte(c.event))
			ev, err := api.DecodeEvent([]byte(c.event))
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if err == nil && ev.Body != c.wantBody {
				t.Errorf("body %q, want %q", ev.Body, c.wantBody)
			}
		})
	}
}

// FuzzDecodeEvent holds DecodeEvent to encoding/json on any input.
func FuzzDecodeEvent(f *testing.F) {
	for _, b := range proxyEvents(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"body":"\ud83d\ude00\n\"x\"","BODY":"y"}`))
	f.Add([]byte(`{"headers":{"a":"b"},"body":"é\u0041"}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameAsEncodingJSON(t, data) })
}

// BenchmarkDecodeEvent decodes an ingest event with a 10 KiB body, with
// DecodeEvent and with encoding/json.
func BenchmarkDecodeEvent(b *testing.B) {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(proxyEvents(b)["ingest.json"], &ev); err != nil {
		b.Fatal(err)
	}
	ev.Body = string(batchtest.Body(1743501600000000001, "2026-03-29"))
	data, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeEvent", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := api.DecodeEvent(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
