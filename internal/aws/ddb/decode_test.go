package ddb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sameValue is reflect.DeepEqual, except that NaN equals NaN (the float
// members take "NaN").
func sameValue(a, b any) bool {
	return deepSame(reflect.ValueOf(a), reflect.ValueOf(b))
}

func deepSame(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		fa, fb := a.Float(), b.Float()
		return fa == fb && math.Signbit(fa) == math.Signbit(fb) || math.IsNaN(fa) && math.IsNaN(fb)
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return deepSame(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !deepSame(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !deepSame(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !deepSame(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	}
	panic("deepSame: unhandled kind " + a.Kind().String())
}

// dump is a readable form of an output for a failure message.
func dump(v any) string {
	var sb strings.Builder
	dumpValue(&sb, reflect.ValueOf(v))
	return sb.String()
}

func dumpValue(sb *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Invalid:
		sb.WriteString("<nil>")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			sb.WriteString("nil")
			return
		}
		if v.Kind() == reflect.Interface {
			sb.WriteString(v.Elem().Type().String())
		}
		dumpValue(sb, v.Elem())
	case reflect.Struct:
		sb.WriteString("{")
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			fmt.Fprintf(sb, "%s:", v.Type().Field(i).Name)
			dumpValue(sb, v.Field(i))
			sb.WriteString(" ")
		}
		sb.WriteString("}")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			fmt.Fprintf(sb, "%x(nil=%v)", v.Bytes(), v.IsNil())
			return
		}
		fmt.Fprintf(sb, "[(nil=%v) ", v.IsNil())
		for i := 0; i < v.Len(); i++ {
			dumpValue(sb, v.Index(i))
			sb.WriteString(", ")
		}
		sb.WriteString("]")
	case reflect.Map:
		fmt.Fprintf(sb, "map(nil=%v)[", v.IsNil())
		iter := v.MapRange()
		for iter.Next() {
			fmt.Fprintf(sb, "%q:", iter.Key().String())
			dumpValue(sb, iter.Value())
			sb.WriteString(", ")
		}
		sb.WriteString("]")
	case reflect.String:
		fmt.Fprintf(sb, "%q", v.String())
	default:
		fmt.Fprintf(sb, "%v", v)
	}
}

// checkAgainstSDK decodes body as op's answer with ours and the SDK's
// client and fails t when they disagree: both must succeed with the same
// output, or both fail. Ours is also checked not to alias body.
func checkAgainstSDK(t *testing.T, op string, body []byte) (ourErr, sdkErr error) {
	t.Helper()
	want, sdkErr := sdkDecode(op, 200, nil, body)
	buf := append([]byte(nil), body...)
	got, ourErr := ourDecode(op, buf)
	msg := chain(ourErr)
	for i := range buf {
		buf[i] = 'x' // the client reuses its buffer
	}
	if after := chain(ourErr); after != msg {
		t.Fatalf("%s: the error holds the body's bytes: %q became %q", op, msg, after)
	}
	switch {
	case sdkErr != nil && ourErr == nil:
		t.Fatalf("%s: the SDK fails (%v) but ours decodes %s", op, sdkErr, dump(got))
	case sdkErr == nil && ourErr != nil:
		return ourErr, nil
	case sdkErr == nil && !sameValue(got, want):
		t.Fatalf("%s: ours and the SDK's differ\n ours: %s\n sdk:  %s", op, dump(got), dump(want))
	}
	return ourErr, sdkErr
}

// chain is the messages of err and of the errors it wraps.
func chain(err error) string {
	var sb strings.Builder
	for ; err != nil; err = errors.Unwrap(err) {
		sb.WriteString(err.Error())
		sb.WriteString(" | ")
	}
	return sb.String()
}

// TestDecodeVectors runs every answer under testdata/decode through ours
// and the SDK's client: ok/ answers must decode the same, fail/ answers
// must fail in both (ours naming the operation).
func TestDecodeVectors(t *testing.T) {
	for _, kind := range []string{"ok", "fail"} {
		files, err := filepath.Glob(filepath.Join("testdata", "decode", kind, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no vectors under testdata/decode/%s (%v)", kind, err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			op, _, _ := strings.Cut(name, ".")
			t.Run(kind+"/"+name, func(t *testing.T) {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				ourErr, sdkErr := checkAgainstSDK(t, op, body)
				if kind == "ok" {
					if sdkErr != nil {
						t.Fatalf("the SDK fails on an ok/ vector: %v", sdkErr)
					}
					if ourErr != nil {
						t.Fatalf("ours fails where the SDK decodes: %v", ourErr)
					}
					return
				}
				if sdkErr == nil {
					t.Fatalf("the SDK decodes a fail/ vector")
				}
				if ourErr == nil {
					t.Fatalf("ours decodes a fail/ vector")
				}
				if !strings.Contains(ourErr.Error(), "decode "+op+" answer") {
					t.Errorf("error %q does not name the operation", ourErr)
				}
				t.Logf("ours: %v\nsdk:  %v", ourErr, sdkErr)
			})
		}
	}
}

// TestDecodeErrorPath checks that an error names the member's path.
func TestDecodeErrorPath(t *testing.T) {
	cases := []struct {
		name, op, body, path string
	}{
		{"fail/nested_s", "GetItem", `{"Item":{"cert":{"M":{"x":{"L":[{"S":"a"},{"S":1}]}}}}}`, "at Item.cert.M.x.L[1].S "},
		{"fail/count", "Query", `{"Count":"1"}`, "at Count "},
		{"fail/items", "Scan", `{"Items":[{},{"a":{"N":true}}]}`, "at Items[1].a.N "},
		{"fail/gsi", "PutItem", `{"ConsumedCapacity":{"GlobalSecondaryIndexes":{"live":{"CapacityUnits":"x"}}}}`, "at ConsumedCapacity.GlobalSecondaryIndexes.live.CapacityUnits "},
		{"fail/range", "DeleteItem", `{"ItemCollectionMetrics":{"SizeEstimateRangeGB":[1,[]]}}`, "at ItemCollectionMetrics.SizeEstimateRangeGB[1] "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ourDecode(c.op, []byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("error %v does not name %q", err, c.path)
			}
		})
	}
}

// TestDecodeOutputFields walks every exported field of each output type
// and fails on one the decoders do not know, so an SDK upgrade that adds a
// member fails here instead of being dropped silently.
func TestDecodeOutputFields(t *testing.T) {
	handled := map[string]bool{
		"GetItemOutput.Item": true, "GetItemOutput.ConsumedCapacity": true,
		"PutItemOutput.Attributes": true, "PutItemOutput.ConsumedCapacity": true, "PutItemOutput.ItemCollectionMetrics": true,
		"UpdateItemOutput.Attributes": true, "UpdateItemOutput.ConsumedCapacity": true, "UpdateItemOutput.ItemCollectionMetrics": true,
		"DeleteItemOutput.Attributes": true, "DeleteItemOutput.ConsumedCapacity": true, "DeleteItemOutput.ItemCollectionMetrics": true,
		"QueryOutput.Items": true, "QueryOutput.Count": true, "QueryOutput.ScannedCount": true, "QueryOutput.LastEvaluatedKey": true, "QueryOutput.ConsumedCapacity": true,
		"ScanOutput.Items": true, "ScanOutput.Count": true, "ScanOutput.ScannedCount": true, "ScanOutput.LastEvaluatedKey": true, "ScanOutput.ConsumedCapacity": true,
		"ConsumedCapacity.TableName": true, "ConsumedCapacity.CapacityUnits": true, "ConsumedCapacity.ReadCapacityUnits": true,
		"ConsumedCapacity.WriteCapacityUnits": true, "ConsumedCapacity.Table": true, "ConsumedCapacity.GlobalSecondaryIndexes": true,
		"ConsumedCapacity.LocalSecondaryIndexes": true, "ConsumedCapacity.VectorIndexes": true,
		"Capacity.CapacityUnits": true, "Capacity.ReadCapacityUnits": true, "Capacity.WriteCapacityUnits": true,
		"VectorCapacity.VectorSearchRequestBytes": true, "VectorCapacity.VectorWriteRequestBytes": true,
		"ItemCollectionMetrics.ItemCollectionKey": true, "ItemCollectionMetrics.SizeEstimateRangeGB": true,
	}
	// ResultMetadata is the client's.
	left := map[string]bool{"ResultMetadata": true}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() || left[f.Name] {
				continue
			}
			name := typ.Name() + "." + f.Name
			if !handled[name] {
				t.Errorf("%s is neither decoded nor refused", name)
			}
			walk(f.Type)
		}
	}
	for _, v := range []any{dynamodb.GetItemOutput{}, dynamodb.PutItemOutput{}, dynamodb.UpdateItemOutput{},
		dynamodb.DeleteItemOutput{}, dynamodb.QueryOutput{}, dynamodb.ScanOutput{}} {
		walk(reflect.TypeOf(v))
	}
	// the AttributeValue union: every member type the SDK has.
	kinds := []types.AttributeValue{&types.AttributeValueMemberB{}, &types.AttributeValueMemberBOOL{},
		&types.AttributeValueMemberBS{}, &types.AttributeValueMemberL{}, &types.AttributeValueMemberM{},
		&types.AttributeValueMemberN{}, &types.AttributeValueMemberNS{}, &types.AttributeValueMemberNULL{},
		&types.AttributeValueMemberS{}, &types.AttributeValueMemberSS{}}
	if got := len(schemas.AttributeValue.Members()); got != len(kinds) {
		t.Errorf("the SDK's AttributeValue has %d members, the decoder knows %d", got, len(kinds))
	}
}

func TestDecodeErrorVectors(t *testing.T) {
	type tc struct {
		name   string
		status int
		header http.Header
		body   string
	}
	cases := []tc{
		{"ok/ccf", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`},
		{"ok/ccf_item", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"seq":{"N":"7"},"pk":{"S":"a"}}}`},
		{"ok/ccf_Message", 400, nil, `{"__type":"ConditionalCheckFailedException","Message":"M"}`},
		{"ok/ccf_header", 400, http.Header{"X-Amzn-Errortype": {"ConditionalCheckFailedException:http://internal.amazon.com/coral/com.amazon.coral.validate/"}}, `{"message":"x"}`},
		{"ok/header_wins", 400, http.Header{"X-Amzn-Errortype": {"ResourceNotFoundException"}}, `{"__type":"ConditionalCheckFailedException","message":"x"}`},
		{"ok/ptee", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down","ThrottlingReasons":[{"reason":"TableReadProvisionedThroughputExceeded","resource":"arn:x"}]}`},
		{"ok/request_limit", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#RequestLimitExceeded","message":"m"}`},
		{"ok/not_found", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`},
		{"ok/icsle", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ItemCollectionSizeLimitExceededException","message":"m"}`},
		{"ok/conflict", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"m"}`},
		{"ok/internal", 500, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"m"}`},
		{"ok/throttling", 400, nil, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"m"}`},
		{"ok/throttling_coral", 400, nil, `{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}`},
		{"ok/validation", 400, nil, `{"__type":"com.amazon.coral.validate#ValidationException","message":"One or more parameter values were invalid"}`},
		{"ok/access_denied", 400, nil, `{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"no"}`},
		{"ok/code_member", 400, nil, `{"code":"SomeCode","message":"m"}`},
		{"ok/case_insensitive", 400, nil, `{"__TYPE":"ResourceNotFoundException","MESSAGE":"m"}`},
		{"ok/unknown_members", 400, nil, `{"__type":"ResourceNotFoundException","message":"m","x":[1,{"y":null}]}`},
		{"ok/empty_body_500", 500, nil, ``},
		{"ok/empty_body_400", 400, nil, ``},
		{"ok/empty_object", 503, nil, `{}`},
		{"ok/trailing", 400, nil, `{"__type":"ResourceNotFoundException"} <html>`},
		{"ok/escaped", 400, nil, `{"__type":"Resource\u004eotFoundException","message":"\ud83d\ude00\u2028"}`},
		{"fail/html_502", 502, http.Header{"Content-Type": {"text/html"}}, "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"},
		{"fail/not_json", 500, nil, "Internal Server Error"},
		{"fail/truncated", 400, nil, `{"__type":"ResourceNotFoundException","message":"m`},
		{"fail/type_number", 400, nil, `{"__type":1,"message":"m"}`},
		{"fail/ccf_item_bad", 400, nil, `{"__type":"ConditionalCheckFailedException","message":"m","Item":{"a":{"S":1}}}`},
	}
	for _, op := range ops {
		for _, c := range cases {
			t.Run(op+"/"+c.name, func(t *testing.T) {
				_, want := sdkDecode(op, c.status, c.header, []byte(c.body))
				body := []byte(c.body)
				got := decodeError(op, c.status, c.header, body)
				for i := range body {
					body[i] = 'x'
				}
				if want == nil || got == nil {
					t.Fatalf("no error: ours %v, sdk %v", got, want)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("errors differ\n ours: %T %v\n sdk:  %T %v", got, got, want, want)
				}
				var de *smithy.DeserializationError
				isDe := errors.As(got, &de)
				if strings.HasPrefix(c.name, "fail/") != isDe {
					t.Fatalf("%T %v: want a DeserializationError: %v", got, got, strings.HasPrefix(c.name, "fail/"))
				}
			})
		}
	}
}

func TestDecodeErrorRefuses(t *testing.T) {
	if err := decodeError("BatchGetItem", 400, nil, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Fatalf("fail/unknown_op: %v", err)
	}
	if err := decodeError("GetItem", 200, nil, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "not an error") {
		t.Fatalf("fail/status_200: %v", err)
	}
}

// seedVectors adds every testdata/decode answer to a fuzz corpus.
func seedVectors(f *testing.F, add func(op byte, body []byte)) {
	files, _ := filepath.Glob(filepath.Join("testdata", "decode", "*", "*.json"))
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		op, _, _ := strings.Cut(filepath.Base(file), ".")
		for i, o := range ops {
			if o == op {
				add(byte(i), body)
			}
		}
	}
}

// FuzzDecode feeds arbitrary bytes to ours and the SDK's client. They must
// agree wherever the SDK decodes; where the SDK fails ours must fail. Ours
// may fail where the SDK decodes only on a body whose first value is not
// valid JSON (the SDK's list and map readers drop some syntax errors).
func FuzzDecode(f *testing.F) {
	seedVectors(f, func(op byte, body []byte) { f.Add(op, body) })
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		name := ops[int(op)%len(ops)]
		ourErr, sdkErr := checkAgainstSDK(t, name, body)
		if ourErr != nil && sdkErr == nil {
			var v json.RawMessage
			if json.NewDecoder(bytes.NewReader(body)).Decode(&v) == nil {
				t.Fatalf("%s: ours fails on valid JSON the SDK decodes: %v", name, ourErr)
			}
		}
	})
}

// FuzzDecodeGenerated builds answers from the fuzz bytes -- every member of
// every output, nested M and L of all ten kinds, empty and null values,
// unknown members, escapes, lone surrogates, U+2028, invalid UTF-8, control
// characters, big numbers, binary of every byte value, random whitespace --
// and holds ours to the SDK's client on them.
func FuzzDecodeGenerated(f *testing.F) {
	for i := 0; i < 16; i++ {
		f.Add(bytes.Repeat([]byte{byte(i * 17)}, 64))
	}
	f.Add([]byte("\x00\x05\x01\x05\x05\x06\x06\x07\x08\x09\x0a\x0b\x0c\x0d"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		g := &gen{b: seed}
		op := ops[g.n(len(ops))]
		body := g.answer()
		ourErr, sdkErr := checkAgainstSDK(t, op, body)
		if ourErr != nil && sdkErr == nil {
			t.Fatalf("%s: ours fails where the SDK decodes: %v\nbody: %q", op, ourErr, body)
		}
	})
}

// gen writes JSON answers chosen by a byte string (zeros once it runs out).
type gen struct {
	b   []byte
	i   int
	out []byte
}

func (g *gen) n(k int) int {
	if g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i]) % k
	g.i++
	return v
}

func (g *gen) w(s string) { g.out = append(g.out, s...) }

func (g *gen) ws() {
	g.w([]string{"", "", "", " ", "\n\t", "\r\n  "}[g.n(6)])
}

var strPieces = []string{
	"abc", "", `\"`, `\\`, `\/`, `\b\f\n\r\t`, `\u0000`, `\u001f`, `\u2028`, "\u2028\u2029",
	`\ud83d\ude00`, `\ud800`, `\udc00`, `\udc00\ud800`, `\ud800x`, "\xff", "\xc3", "\xed\xa0\x80",
	"😀", "é", `\u00E9`, "-----BEGIN CERTIFICATE-----", "\x7f",
}

func (g *gen) str() {
	g.w(`"`)
	for k := g.n(4); k > 0; k-- {
		if g.n(4) == 0 {
			c := byte(g.n(256))
			if c >= 0x20 && c != '"' && c != '\\' {
				g.out = append(g.out, c)
			}
			continue
		}
		g.w(strPieces[g.n(len(strPieces))])
	}
	g.w(`"`)
}

var numPieces = []string{`"0"`, `"-1.5"`, `"1e400"`, `"` + strings.Repeat("9", 40) + `"`, `""`, `"0.000000000000000000000000000000000001"`, `"-0"`}

func (g *gen) blob() {
	raw := make([]byte, g.n(8))
	for i := range raw {
		raw[i] = byte(g.n(256))
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	switch g.n(8) {
	case 1:
		enc = strings.TrimRight(enc, "=") // unpadded: an error for the SDK
	case 2:
		enc = strings.Replace(enc, "A", `\u0041`, 1)
	case 3:
		enc += `\n`
	}
	g.w(`"` + enc + `"`)
}

// list writes a JSON array of k elements written by elem.
func (g *gen) list(elem func()) {
	g.w("[")
	for k := g.n(4); k > 0; k-- {
		g.ws()
		if g.n(8) == 0 {
			g.w("null")
		} else {
			elem()
		}
		g.ws()
		if k > 1 {
			g.w(",")
		}
	}
	g.w("]")
}

func (g *gen) attrMap(depth int) {
	g.w("{")
	for k := g.n(5); k > 0; k-- {
		g.ws()
		g.str()
		g.w(":")
		g.ws()
		if g.n(10) == 0 {
			g.w("null")
		} else {
			g.attr(depth + 1)
		}
		if k > 1 {
			g.w(",")
		}
	}
	g.w("}")
}

func (g *gen) attr(depth int) {
	kind := g.n(13)
	if depth > 4 && kind >= 5 && kind <= 6 {
		kind = 0
	}
	g.w("{")
	if g.n(6) == 0 {
		g.w(`"X":{"Y":[1,null,"z"]},`)
	}
	if g.n(6) == 0 {
		g.w(`"S":null,`)
	}
	switch kind {
	case 0:
		g.w(`"S":`)
		g.str()
	case 1:
		g.w(`"N":`)
		g.w(numPieces[g.n(len(numPieces))])
	case 2:
		g.w(`"B":`)
		g.blob()
	case 3:
		g.w(`"BOOL":` + []string{"true", "false"}[g.n(2)])
	case 4:
		g.w(`"NULL":` + []string{"true", "false"}[g.n(2)])
	case 5:
		g.w(`"M":`)
		g.attrMap(depth)
	case 6:
		g.w(`"L":`)
		g.list(func() { g.attr(depth + 1) })
	case 7:
		g.w(`"SS":`)
		g.list(g.str)
	case 8:
		g.w(`"NS":`)
		g.list(func() { g.w(numPieces[g.n(len(numPieces))]) })
	case 9:
		g.w(`"BS":`)
		g.list(g.blob)
	case 10:
		g.w(`"Q":1`) // an unknown member only
	case 11:
		g.w(`"N":null`)
	case 12:
		// {}
		if g.out[len(g.out)-1] == ',' {
			g.out = g.out[:len(g.out)-1]
		}
	}
	if g.n(16) == 0 {
		g.w(`,"N":"1"`) // a second member: an error for both
	}
	g.w("}")
}

var floatPieces = []string{"1", "0.5", "-0", "1e2", "1E-2", "12345678901234567890", `"NaN"`, `"Infinity"`, `"-infinity"`, "null", "2.5e-3"}

func (g *gen) capacity() {
	g.w("{")
	for i, m := range []string{"CapacityUnits", "ReadCapacityUnits", "WriteCapacityUnits"} {
		if i > 0 {
			g.w(",")
		}
		g.w(`"` + m + `":` + floatPieces[g.n(len(floatPieces))])
	}
	g.w("}")
}

func (g *gen) capacityMap() {
	g.w("{")
	for k := g.n(3); k > 0; k-- {
		g.str()
		g.w(":")
		if g.n(5) == 0 {
			g.w("null")
		} else {
			g.capacity()
		}
		if k > 1 {
			g.w(",")
		}
	}
	g.w("}")
}

func (g *gen) consumed() {
	g.w(`{"TableName":`)
	g.str()
	g.w(`,"CapacityUnits":` + floatPieces[g.n(len(floatPieces))])
	if g.n(2) == 0 {
		g.w(`,"Table":`)
		g.capacity()
	}
	if g.n(2) == 0 {
		g.w(`,"GlobalSecondaryIndexes":`)
		g.capacityMap()
	}
	if g.n(2) == 0 {
		g.w(`,"LocalSecondaryIndexes":`)
		g.capacityMap()
	}
	if g.n(3) == 0 {
		g.w(`,"VectorIndexes":{"v":{"VectorSearchRequestBytes":` + floatPieces[g.n(len(floatPieces))] + `}}`)
	}
	g.w("}")
}

var countPieces = []string{"0", "1", "-0", "2147483647", "2147483648", "1.5", `"1"`, "null", "-2147483648"}

func (g *gen) answer() []byte {
	if g.n(20) == 0 {
		return nil
	}
	g.ws()
	g.w("{")
	for k := g.n(6); k > 0; k-- {
		g.ws()
		switch g.n(10) {
		case 0:
			g.w(`"Item":`)
			g.attrMap(0)
		case 1:
			g.w(`"Attributes":`)
			g.attrMap(0)
		case 2:
			g.w(`"Items":`)
			g.list(func() { g.attrMap(0) })
		case 3:
			g.w(`"Count":` + countPieces[g.n(len(countPieces))])
		case 4:
			g.w(`"ScannedCount":` + countPieces[g.n(len(countPieces))])
		case 5:
			g.w(`"LastEvaluatedKey":`)
			g.attrMap(0)
		case 6:
			g.w(`"ConsumedCapacity":`)
			g.consumed()
		case 7:
			g.w(`"ItemCollectionMetrics":{"ItemCollectionKey":`)
			g.attrMap(0)
			g.w(`,"SizeEstimateRangeGB":`)
			g.list(func() { g.w(floatPieces[g.n(len(floatPieces))]) })
			g.w("}")
		case 8:
			g.w(`"Unknown":{"a":[{"b":null},1.5e3,"\ud800"]}`)
		case 9:
			g.w(`"Item":null`)
		}
		g.ws()
		if k > 1 {
			g.w(",")
		}
	}
	g.w("}")
	g.ws()
	return g.out
}

// FuzzDecodeError holds decodeError to the SDK's client over arbitrary
// (status, header, body).
func FuzzDecodeError(f *testing.F) {
	f.Add(400, "", []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"m","Item":{"a":{"S":"x"}}}`))
	f.Add(500, "InternalServerError:x", []byte(``))
	f.Add(502, "", []byte(`<html>502</html>`))
	f.Add(400, "", []byte(`{"__type":"ProvisionedThroughputExceededException","ThrottlingReasons":[{"reason":"r"}]}`))
	f.Add(503, "", []byte(`{"code":"X","Message":"m"}`))
	f.Fuzz(func(t *testing.T, status int, errType string, body []byte) {
		if status < 300 || status > 599 {
			status = 300 + (status%300+300)%300
		}
		var h http.Header
		if errType != "" {
			if strings.ContainsAny(errType, "\r\n\x00") || !utf8.ValidString(errType) {
				return // not a header value net/http would hand over
			}
			h = http.Header{"X-Amzn-Errortype": {errType}}
		}
		op := ops[len(body)%len(ops)]
		_, want := sdkDecode(op, status, h, body)
		got := decodeError(op, status, h, append([]byte(nil), body...))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %d %q %q: errors differ\n ours: %T %v\n sdk:  %T %v", op, status, errType, body, got, got, want, want)
		}
	})
}

// BenchmarkDecode measures the hot answers: a GetItem of an agent item (15
// attributes, about 2 KB with a certificate PEM), a write answer {} and one
// with ConsumedCapacity; the sdk/ runs are the SDK's own awsJson
// deserializer on the same bytes, for the ratio.
func BenchmarkDecode(b *testing.B) {
	read := func(name string) []byte {
		body, err := os.ReadFile(filepath.Join("testdata", "decode", "ok", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	shapes := []struct {
		name, op string
		body     []byte
		sdkOut   func() smithy.Deserializable
	}{
		{"getitem_pem", "GetItem", read("GetItem.pem_item_compact"), func() smithy.Deserializable { return &dynamodb.GetItemOutput{} }},
		{"put_empty", "PutItem", []byte(`{}`), func() smithy.Deserializable { return &dynamodb.PutItemOutput{} }},
		{"put_consumed", "PutItem", read("PutItem.consumed"), func() smithy.Deserializable { return &dynamodb.PutItemOutput{} }},
		{"update_consumed", "UpdateItem", []byte(`{"ConsumedCapacity":{"CapacityUnits":2.0,"TableName":"agents"}}`), func() smithy.Deserializable { return &dynamodb.UpdateItemOutput{} }},
	}
	for _, s := range shapes {
		b.Run("ours/"+s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.body)))
			for b.Loop() {
				if _, err := ourDecode(s.op, s.body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("sdk/"+s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.body)))
			schema := opSchemas[s.op]
			rd := bytes.NewReader(nil)
			resp := &smithyhttp.Response{Response: &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(rd)}}
			for b.Loop() {
				rd.Reset(s.body)
				if err := errorProtocol.DeserializeResponse(context.Background(), schema, dynamodb.TypeRegistry, resp, s.sdkOut()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeError is the cost of the error path (the SDK's own code):
// a ConditionalCheckFailedException with the item, the answer of a lost
// race.
func BenchmarkDecodeError(b *testing.B) {
	body := []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"pk":{"S":"agent#t1#a-0001"},"seq":{"N":"1234567"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		var ccf *types.ConditionalCheckFailedException
		if err := decodeError("UpdateItem", 400, nil, body); !errors.As(err, &ccf) {
			b.Fatal(err)
		}
	}
}

// TestDecodeConcurrent decodes the ok/ vectors from several goroutines at
// once (the decoders share a pool of scratch space) and holds each result
// to the SDK's.
func TestDecodeConcurrent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "decode", "ok", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors (%v)", err)
	}
	type vector struct {
		op   string
		body []byte
		want any
	}
	var vs []vector
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		op, _, _ := strings.Cut(filepath.Base(f), ".")
		want, err := sdkDecode(op, 200, nil, body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		vs = append(vs, vector{op, body, want})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20*len(vs); i++ {
				v := vs[(i*7+g)%len(vs)]
				got, err := ourDecode(v.op, v.body)
				if err != nil || !sameValue(got, v.want) {
					errs <- fmt.Sprintf("%s: %v\n ours: %s\n sdk:  %s", v.op, err, dump(got), dump(v.want))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestParseDecimal holds the decimal fast path of the float members to
// strconv.ParseFloat (which the SDK uses), bit for bit.
func TestParseDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		s := strconv.FormatInt(r.Int64N(1e15), 10)
		if k := r.IntN(len(s)); k > 0 {
			s = s[:k] + "." + s[k:]
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseDecimal([]byte(s))
		if !ok || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: %v (%v), want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"1e2", "1234567890123456", "0.1234567890123456", "-", "1.2.3"} {
		if _, ok := parseDecimal([]byte(s)); ok {
			t.Errorf("fail/%s: taken by the fast path", s)
		}
	}
}
