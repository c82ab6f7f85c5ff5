package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/batch/batchtest"
	"github.com/monsys/hub/internal/benchcpu"
)

// proxyEvents are the API Gateway events of testdata/events and
// testdata/decode, the seeds of the decoder's tests.
func proxyEvents(tb testing.TB) map[string][]byte {
	tb.Helper()
	var names []string
	for _, dir := range []string{"events", "decode"} {
		n, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(n) == 0 {
			tb.Fatalf("no event files in testdata/%s: %v", dir, err)
		}
		names = append(names, n...)
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
		{name: "ok/null event", event: `null`},
		{name: "ok/null string keeps the earlier", event: `{"path":"/a","path":null,"body":"b"}`, wantBody: "b"},
		{name: "ok/maps merge", event: `{"headers":{"a":"1","b":"2"},"headers":{"b":"3","c":"4"}}`},
		{name: "ok/null map clears", event: `{"headers":{"a":"1"},"headers":null,"pathParameters":{}}`},
		{name: "ok/map key last wins", event: `{"headers":{"a":"1","a":"2"},"multiValueHeaders":{"a":["1"],"a":["2","3"]}}`},
		{name: "ok/map key escaped", event: `{"headers":{"\u0041\n":"x","\u00e9":"\u00e9"}}`},
		{name: "ok/map null value", event: `{"headers":{"a":null},"multiValueHeaders":{"a":null,"b":[],"c":[null,"x"]}}`},
		{name: "ok/lists merge by key", event: `{"multiValueHeaders":{"a":["1"]},"multiValueHeaders":{"b":["2"]}}`},
		{name: "ok/request contexts merge", event: `{"requestContext":{"stage":"a","identity":{"sourceIp":"x"}},"requestContext":{"apiId":"b","identity":{"user":"u"}}}`},
		{name: "ok/null request context", event: `{"requestContext":{"stage":"a"},"requestContext":null}`},
		{name: "ok/client certs merge", event: `{"requestContext":{"identity":{"clientCert":{"subjectDN":"x"}}},"requestContext":{"identity":{"clientCert":{"issuerDN":"y","validity":{"notAfter":"z"}}}}}`},
		{name: "ok/null client cert clears", event: `{"requestContext":{"identity":{"clientCert":{"subjectDN":"x"},"clientCert":null}}}`},
		{name: "ok/empty client cert", event: `{"requestContext":{"identity":{"clientCert":{},"user":null}}}`},
		{name: "ok/null validity", event: `{"requestContext":{"identity":{"clientCert":{"validity":null,"issuerDN":"y"}}}}`},
		{name: "ok/authorizers merge", event: `{"requestContext":{"authorizer":{"a":1,"b":[true,null,"s"]},"authorizer":{"c":{"d":-1.5e-3}}}}`},
		{name: "ok/null authorizer", event: `{"requestContext":{"authorizer":{"a":1},"authorizer":null}}`},
		{name: "ok/epoch", event: `{"requestContext":{"requestTimeEpoch":-123456789012345678}}`},
		{name: "ok/epoch minus zero", event: `{"requestContext":{"requestTimeEpoch":-0}}`},
		{name: "ok/epoch null", event: `{"requestContext":{"requestTimeEpoch":5,"requestTimeEpoch":null}}`},
		{name: "ok/epoch 19 digits", event: `{"requestContext":{"requestTimeEpoch":9223372036854775807}}`},
		{name: "ok/epoch most negative", event: `{"requestContext":{"requestTimeEpoch":-9223372036854775808}}`},
		{name: "ok/base64 flag", event: `{"isBase64Encoded":true,"isBase64Encoded":null}`},
		{name: "ok/nested key case folded", event: `{"requestContext":{"STAGE":"x","Identity":{"SourceIP":"y","clientcert":{"SUBJECTdn":"z"}}}}`},
		{name: "ok/kelvin sign key", event: "{\"requestContext\":{\"identity\":{\"apiKe\u212ay\":\"x\"}}}"},
		{name: "ok/long s key", event: "{\"requestContext\":{\"\u017ftage\":\"x\"}}"},
		{name: "ok/unknown members skipped", event: `{"x":{"a":[1,-2.5,3e+7,4E-1,0,{"b":null}],"c":"\u00e9\"","d":true,"e":false},"y":[],"z":{},"body":"b"}`, wantBody: "b"},
		{name: "ok/unknown member with invalid utf-8", event: "{\"x\":\"a\xffb\",\"body\":\"b\"}", wantBody: "b"},
		{name: "ok/string with invalid utf-8", event: "{\"path\":\"a\xffb\",\"headers\":{\"k\xfe\":\"v\"}}"},
		{name: "ok/string with surrogates", event: `{"path":"\ud83d\ude00\udc00","headers":{"\ud83d":"x"}}`},
		{name: "ok/spaces everywhere", event: " { \"headers\" : { \"a\" : \"1\" , \"b\" :null } ,\n\"multiValueHeaders\":{ \"a\" : [ \"1\" , null ] , \"b\": [ ] } , \"x\" : [ 1 , { } ] } "},
		{name: "ok/deep unknown member", event: `{"x":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`},
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
		{name: "fail/number in a map of strings", event: `{"headers":{"a":1}}`, wantErr: true},
		{name: "fail/array for a map", event: `{"headers":[]}`, wantErr: true},
		{name: "fail/string for a list", event: `{"multiValueHeaders":{"a":"x"}}`, wantErr: true},
		{name: "fail/number in a list", event: `{"multiValueHeaders":{"a":[1]}}`, wantErr: true},
		{name: "fail/string for the request context", event: `{"requestContext":"x"}`, wantErr: true},
		{name: "fail/array for the client cert", event: `{"requestContext":{"identity":{"clientCert":[]}}}`, wantErr: true},
		{name: "fail/number for a string", event: `{"requestContext":{"identity":{"clientCert":{"validity":{"notAfter":5}}}}}`, wantErr: true},
		{name: "fail/string for the authorizer", event: `{"requestContext":{"authorizer":"x"}}`, wantErr: true},
		{name: "fail/epoch fraction", event: `{"requestContext":{"requestTimeEpoch":1.0}}`, wantErr: true},
		{name: "fail/epoch exponent", event: `{"requestContext":{"requestTimeEpoch":1e3}}`, wantErr: true},
		{name: "fail/epoch overflow", event: `{"requestContext":{"requestTimeEpoch":9223372036854775808}}`, wantErr: true},
		{name: "fail/epoch string", event: `{"requestContext":{"requestTimeEpoch":"1"}}`, wantErr: true},
		{name: "fail/flag string", event: `{"isBase64Encoded":"true"}`, wantErr: true},
		{name: "fail/brackets mismatched", event: `{"x":[1}}`, wantErr: true},
		{name: "fail/leading zero", event: `{"x":01}`, wantErr: true},
		{name: "fail/bare fraction", event: `{"x":1.}`, wantErr: true},
		{name: "fail/bare minus", event: `{"x":-}`, wantErr: true},
		{name: "fail/no integer part", event: `{"x":.5}`, wantErr: true},
		{name: "fail/bare exponent", event: `{"x":1e}`, wantErr: true},
		{name: "fail/short literal", event: `{"x":tru}`, wantErr: true},
		{name: "fail/long literal", event: `{"x":nullx}`, wantErr: true},
		{name: "fail/trailing comma", event: `{"path":"/a",}`, wantErr: true},
		{name: "fail/trailing comma in a map", event: `{"headers":{"a":"1",}}`, wantErr: true},
		{name: "fail/trailing comma in a list", event: `{"multiValueHeaders":{"a":["1",]}}`, wantErr: true},
		{name: "fail/trailing comma skipped", event: `{"x":[1,]}`, wantErr: true},
		{name: "fail/bad hex skipped", event: `{"x":"\u00zz"}`, wantErr: true},
		{name: "fail/bad escape skipped", event: `{"x":"\x"}`, wantErr: true},
		{name: "fail/control byte skipped", event: "{\"x\":\"a\tb\"}", wantErr: true},
		{name: "fail/control byte in a key", event: "{\"a\nb\":1}", wantErr: true},
		{name: "fail/missing colon", event: `{"path" "/a"}`, wantErr: true},
		{name: "fail/unterminated map", event: `{"headers":{"a":"1"`, wantErr: true},
		{name: "fail/unterminated list", event: `{"multiValueHeaders":{"a":["1"`, wantErr: true},
		{name: "fail/too deep", event: `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, wantErr: true},
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

// TestEventWalk: the walk itself, not encoding/json behind it, decodes the
// events of testdata/events and testdata/decode (every member of the
// request's types, members it does not have, escapes, an authorizer), and
// gives encoding/json's answer.
func TestEventWalk(t *testing.T) {
	for name, data := range proxyEvents(t) {
		t.Run("ok/"+name, func(t *testing.T) {
			var want events.APIGatewayProxyRequest
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			got, ok := api.WalkEvent(data)
			if !ok {
				t.Fatal("the walk left the event to encoding/json")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the walk gave\n%#v\nencoding/json gave\n%#v", got, want)
			}
			if name == "every-member.json" {
				if unset := zeroMembers(reflect.ValueOf(want), "event"); len(unset) > 0 {
					t.Fatalf("the vector leaves members unset: %v", unset)
				}
			}
		})
	}
}

// zeroMembers lists the members of the struct v, at any depth, that hold
// their zero value.
func zeroMembers(v reflect.Value, path string) []string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
	var zero []string
	for i := range v.NumField() {
		zero = append(zero, zeroMembers(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return zero
}

// TestDecodeEventAllocs: DecodeEvent makes at most half the allocations of
// encoding/json for an ingest event (each string, list and map growth is
// one; the counts are deterministic).
func TestDecodeEventAllocs(t *testing.T) {
	data := ingestEvent(t)
	got := testing.AllocsPerRun(50, func() {
		if _, err := api.DecodeEvent(data); err != nil {
			t.Fatal(err)
		}
	})
	std := testing.AllocsPerRun(50, func() {
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if got > std/2 {
		t.Fatalf("DecodeEvent makes %.0f allocations, encoding/json %.0f: want at most half", got, std)
	}
}

// ingestEvent is testdata/events/ingest.json with a 10 KiB body.
func ingestEvent(tb testing.TB) []byte {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(proxyEvents(tb)["ingest.json"], &ev); err != nil {
		tb.Fatal(err)
	}
	ev.Body = string(batchtest.Body(1743501600000000001, "2026-03-29"))
	data, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return data
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
// DecodeEvent and with encoding/json. cpu-ns/op is the process's CPU time,
// GC included, steadier than ns/op on a shared machine.
func BenchmarkDecodeEvent(b *testing.B) {
	data := ingestEvent(b)
	b.Run("DecodeEvent", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		reportCPU := benchcpu.Start(b)
		for b.Loop() {
			if _, err := api.DecodeEvent(data); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU()
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		reportCPU := benchcpu.Start(b)
		for b.Loop() {
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU()
	})
}
