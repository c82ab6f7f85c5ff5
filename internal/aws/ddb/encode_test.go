package ddb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// encodeAny runs the encoder of in's operation.
func encodeAny(t testing.TB, dst []byte, in any) ([]byte, error) {
	t.Helper()
	switch v := in.(type) {
	case *dynamodb.GetItemInput:
		return encodeGetItem(dst, v)
	case *dynamodb.PutItemInput:
		return encodePutItem(dst, v)
	case *dynamodb.UpdateItemInput:
		return encodeUpdateItem(dst, v)
	case *dynamodb.DeleteItemInput:
		return encodeDeleteItem(dst, v)
	case *dynamodb.QueryInput:
		return encodeQuery(dst, v)
	case *dynamodb.ScanInput:
		return encodeScan(dst, v)
	}
	t.Fatalf("encode: %T is not an input of the six operations", in)
	return nil, nil
}

type encAttrs = map[string]types.AttributeValue

func encS(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }
func encN(v string) *types.AttributeValueMemberN { return &types.AttributeValueMemberN{Value: v} }
func encB(v []byte) *types.AttributeValueMemberB { return &types.AttributeValueMemberB{Value: v} }

// encEveryByte is 0x00..0xFF.
var encEveryByte = func() []byte {
	p := make([]byte, 256)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// encAwkward is every kind of string the escaping must get right: the control
// characters, DEL, quotes, HTML characters, U+2028/9, U+FFFD as sent and
// invalid UTF-8 (a lone continuation byte, a truncated sequence, a surrogate
// encoded, an overlong form).
var encAwkward = func() string {
	var sb strings.Builder
	for c := 0; c < 0x20; c++ {
		sb.WriteByte(byte(c))
	}
	sb.WriteString("\x7f\"\\/<>&' é€😀\u2028\u2029\ufffd|\x80|\xe2\x82|\xed\xa0\x80|\xc0\xaf|\xff")
	return sb.String()
}()

// encAllKinds holds one value of each of the ten kinds, with their empty
// forms, in nested single-entry maps.
func encAllKinds() encAttrs {
	return encAttrs{"k": &types.AttributeValueMemberL{Value: []types.AttributeValue{
		encS(""), encS(encAwkward), encN("-12345678901234567890123456789012345678.5E-130"), encN(""),
		encB(nil), encB([]byte{}), encB(encEveryByte),
		&types.AttributeValueMemberBOOL{Value: true}, &types.AttributeValueMemberBOOL{},
		&types.AttributeValueMemberNULL{Value: true}, &types.AttributeValueMemberNULL{},
		&types.AttributeValueMemberSS{}, &types.AttributeValueMemberSS{Value: []string{"a", encAwkward}},
		&types.AttributeValueMemberNS{}, &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		&types.AttributeValueMemberBS{}, &types.AttributeValueMemberBS{Value: [][]byte{nil, {}, encEveryByte}},
		&types.AttributeValueMemberL{}, &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		&types.AttributeValueMemberM{}, &types.AttributeValueMemberM{Value: encAttrs{}},
		&types.AttributeValueMemberM{Value: encAttrs{encAwkward: &types.AttributeValueMemberM{Value: encAttrs{"": &types.AttributeValueMemberL{Value: []types.AttributeValue{encS("deep")}}}}}},
	}}}
}

// TestEncodeMatchesSDK holds each encoder to the body the SDK's own client
// sends: the same bytes when no map has more than one entry, the same JSON
// otherwise.
func TestEncodeMatchesSDK(t *testing.T) {
	tests := []struct {
		name  string
		in    any
		exact bool
	}{
		{"ok/get/minimal", &dynamodb.GetItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a")}}, true},
		{"ok/get/every-member", &dynamodb.GetItemInput{
			ConsistentRead: aws.Bool(false), ExpressionAttributeNames: map[string]string{"#p": "pk"},
			Key: encAttrs{"pk": encS("a")}, ProjectionExpression: aws.String("#p, sk"),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, TableName: aws.String("tab"),
		}, true},
		{"ok/get/empty-table-name-and-key", &dynamodb.GetItemInput{TableName: aws.String(""), Key: encAttrs{}}, true},
		{"ok/get/two-key-attributes", &dynamodb.GetItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a"), "sk": encN("1")}}, false},
		{"ok/put/every-member", &dynamodb.PutItemInput{
			ConditionExpression:      aws.String("attribute_not_exists(pk)"),
			ExpressionAttributeNames: map[string]string{"#a": encAwkward}, ExpressionAttributeValues: encAttrs{":v": encS("x")},
			Item: encAttrs{"pk": encS("a")}, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
			ReturnItemCollectionMetrics: types.ReturnItemCollectionMetricsSize, ReturnValues: types.ReturnValueAllOld,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld, TableName: aws.String("t"),
		}, true},
		{"ok/put/every-kind", &dynamodb.PutItemInput{TableName: aws.String("t"), Item: encAllKinds()}, true},
		{"ok/put/awkward-strings-everywhere", &dynamodb.PutItemInput{
			ConditionExpression: aws.String(encAwkward), ExpressionAttributeNames: map[string]string{encAwkward: encAwkward},
			Item: encAttrs{encAwkward: encS(encAwkward)}, TableName: aws.String(encAwkward), ReturnValues: types.ReturnValue(encAwkward),
		}, true},
		{"ok/put/empty-maps", &dynamodb.PutItemInput{TableName: aws.String("t"), Item: encAttrs{},
			ExpressionAttributeNames: map[string]string{}, ExpressionAttributeValues: encAttrs{}}, true},
		{"ok/put/many-attributes", &dynamodb.PutItemInput{TableName: aws.String("t"), Item: encBenchPut().Item}, false},
		{"ok/update/every-member", &dynamodb.UpdateItemInput{
			ConditionExpression: aws.String("attribute_exists(pk)"), ExpressionAttributeNames: map[string]string{"#c": "c"},
			ExpressionAttributeValues: encAttrs{":c": encN("1")}, Key: encAttrs{"pk": encS("a")},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityNone, ReturnItemCollectionMetrics: types.ReturnItemCollectionMetricsNone,
			ReturnValues: types.ReturnValueUpdatedNew, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureNone,
			TableName: aws.String("t"), UpdateExpression: aws.String("SET #c = #c + :c"),
		}, true},
		{"ok/update/hot-shape", encBenchUpdate(), false},
		{"ok/delete/every-member", &dynamodb.DeleteItemInput{
			ConditionExpression: aws.String("c = :c"), ExpressionAttributeNames: map[string]string{"#c": "c"},
			ExpressionAttributeValues: encAttrs{":c": encB([]byte("x"))}, Key: encAttrs{"pk": encS("a")},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, ReturnItemCollectionMetrics: types.ReturnItemCollectionMetricsSize,
			ReturnValues: types.ReturnValueAllOld, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			TableName: aws.String("t"),
		}, true},
		{"ok/query/every-member", &dynamodb.QueryInput{
			ConsistentRead: aws.Bool(true), ExclusiveStartKey: encAttrs{"pk": encS("a")},
			ExpressionAttributeNames: map[string]string{"#p": "pk"}, ExpressionAttributeValues: encAttrs{":p": encS("a")},
			FilterExpression: aws.String("size(x) > :p"), IndexName: aws.String("gsi1"),
			KeyConditionExpression: aws.String("#p = :p"), Limit: aws.Int32(-2147483648),
			ProjectionExpression: aws.String("pk"), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			ScanIndexForward: aws.Bool(false), Select: types.SelectSpecificAttributes, TableName: aws.String("t"),
		}, true},
		{"ok/query/table-only", &dynamodb.QueryInput{TableName: aws.String("t")}, true},
		{"ok/scan/every-member", &dynamodb.ScanInput{
			ConsistentRead: aws.Bool(true), ExclusiveStartKey: encAttrs{"pk": encS("a")},
			ExpressionAttributeNames: map[string]string{"#p": "pk"}, ExpressionAttributeValues: encAttrs{":p": encS("a")},
			FilterExpression: aws.String("#p = :p"), IndexName: aws.String("gsi1"), Limit: aws.Int32(2147483647),
			ProjectionExpression: aws.String("pk"), ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
			Segment: aws.Int32(0), Select: types.SelectCount, TableName: aws.String("t"), TotalSegments: aws.Int32(4),
		}, true},
		{"ok/scan/table-only", &dynamodb.ScanInput{TableName: aws.String("t")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, sent, err := sdkEncode(t, tt.in)
			if err != nil || !sent {
				t.Fatalf("the SDK did not send: %v", err)
			}
			prefix := []byte("prefix")
			got, err := encodeAny(t, prefix, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("dst was not appended to: %q", got)
			}
			got = got[len(prefix):]
			if tt.exact && !bytes.Equal(got, want) {
				t.Fatalf("body\n got %s\nwant %s", got, want)
			}
			encSameJSON(t, got, want)
		})
	}
}

// encSameJSON fails unless got is valid UTF-8 and valid JSON, equal to want
// once both are decoded (members in any order, duplicates kept: two keys of
// invalid UTF-8 both become U+FFFD, in the SDK's body as in ours).
func encSameJSON(t testing.TB, got, want []byte) {
	t.Helper()
	if !utf8.Valid(got) {
		t.Fatalf("body is not valid UTF-8: %q", got)
	}
	g, err := encCanonical(got)
	if err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	w, err := encCanonical(want)
	if err != nil {
		t.Fatalf("the SDK's body is not JSON: %v\n%s", err, want)
	}
	if g != w {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

// encCanonical is a JSON text decoded by encoding/json and written again with
// each object's members sorted, duplicates kept.
func encCanonical(p []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	v, err := encCanonValue(d)
	if err != nil {
		return "", err
	}
	if _, err := d.Token(); err == nil {
		return "", errors.New("text after the value")
	}
	return v, nil
}

func encCanonValue(d *json.Decoder) (string, error) {
	tok, err := d.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		var ms []string
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return "", err
			}
			v, err := encCanonValue(d)
			if err != nil {
				return "", err
			}
			kj, _ := json.Marshal(k)
			ms = append(ms, string(kj)+":"+v)
		}
		if _, err := d.Token(); err != nil {
			return "", err
		}
		slices.Sort(ms)
		return "{" + strings.Join(ms, ",") + "}", nil
	case json.Delim('['):
		var es []string
		for d.More() {
			v, err := encCanonValue(d)
			if err != nil {
				return "", err
			}
			es = append(es, v)
		}
		if _, err := d.Token(); err != nil {
			return "", err
		}
		return "[" + strings.Join(es, ",") + "]", nil
	}
	j, err := json.Marshal(tok)
	return string(j), err
}

// encForeignAV is an AttributeValue of another package (it embeds a member):
// the SDK's serializer does not know it.
type encForeignAV struct{ *types.AttributeValueMemberS }

// TestEncodeRefuses: the legacy members, and the attribute values the SDK
// would send wrong (nothing, invalid JSON) or panic on, are refused with an
// error naming them; dst is left as it was.
func TestEncodeRefuses(t *testing.T) {
	tab := aws.String("t")
	key := encAttrs{"pk": encS("a")}
	nest := func(v types.AttributeValue) encAttrs {
		return encAttrs{"a": &types.AttributeValueMemberM{Value: encAttrs{"b": &types.AttributeValueMemberL{Value: []types.AttributeValue{encS("x"), v}}}}}
	}
	deep := types.AttributeValue(encS("x"))
	for i := 0; i < maxEncodeDepth+1; i++ {
		deep = &types.AttributeValueMemberL{Value: []types.AttributeValue{deep}}
	}
	cycle := &types.AttributeValueMemberM{Value: encAttrs{}}
	cycle.Value["self"] = cycle
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"fail/get/AttributesToGet", &dynamodb.GetItemInput{TableName: tab, Key: key, AttributesToGet: []string{}}, "ddb: GetItemInput.AttributesToGet is not supported"},
		{"fail/put/ConditionalOperator", &dynamodb.PutItemInput{TableName: tab, Item: key, ConditionalOperator: types.ConditionalOperatorAnd}, "ddb: PutItemInput.ConditionalOperator is not supported"},
		{"fail/put/Expected", &dynamodb.PutItemInput{TableName: tab, Item: key, Expected: map[string]types.ExpectedAttributeValue{}}, "ddb: PutItemInput.Expected is not supported"},
		{"fail/update/AttributeUpdates", &dynamodb.UpdateItemInput{TableName: tab, Key: key, AttributeUpdates: map[string]types.AttributeValueUpdate{"a": {}}}, "ddb: UpdateItemInput.AttributeUpdates is not supported"},
		{"fail/update/ConditionalOperator", &dynamodb.UpdateItemInput{TableName: tab, Key: key, ConditionalOperator: types.ConditionalOperatorOr}, "ddb: UpdateItemInput.ConditionalOperator is not supported"},
		{"fail/update/Expected", &dynamodb.UpdateItemInput{TableName: tab, Key: key, Expected: map[string]types.ExpectedAttributeValue{}}, "ddb: UpdateItemInput.Expected is not supported"},
		{"fail/delete/ConditionalOperator", &dynamodb.DeleteItemInput{TableName: tab, Key: key, ConditionalOperator: "x"}, "ddb: DeleteItemInput.ConditionalOperator is not supported"},
		{"fail/delete/Expected", &dynamodb.DeleteItemInput{TableName: tab, Key: key, Expected: map[string]types.ExpectedAttributeValue{}}, "ddb: DeleteItemInput.Expected is not supported"},
		{"fail/query/AttributesToGet", &dynamodb.QueryInput{TableName: tab, AttributesToGet: []string{"a"}}, "ddb: QueryInput.AttributesToGet is not supported"},
		{"fail/query/ConditionalOperator", &dynamodb.QueryInput{TableName: tab, ConditionalOperator: "AND"}, "ddb: QueryInput.ConditionalOperator is not supported"},
		{"fail/query/KeyConditions", &dynamodb.QueryInput{TableName: tab, KeyConditions: map[string]types.Condition{}}, "ddb: QueryInput.KeyConditions is not supported"},
		{"fail/query/QueryFilter", &dynamodb.QueryInput{TableName: tab, QueryFilter: map[string]types.Condition{}}, "ddb: QueryInput.QueryFilter is not supported"},
		{"fail/scan/AttributesToGet", &dynamodb.ScanInput{TableName: tab, AttributesToGet: []string{}}, "ddb: ScanInput.AttributesToGet is not supported"},
		{"fail/scan/ConditionalOperator", &dynamodb.ScanInput{TableName: tab, ConditionalOperator: "AND"}, "ddb: ScanInput.ConditionalOperator is not supported"},
		{"fail/scan/ScanFilter", &dynamodb.ScanInput{TableName: tab, ScanFilter: map[string]types.Condition{}}, "ddb: ScanInput.ScanFilter is not supported"},

		{"fail/av/nil", &dynamodb.PutItemInput{TableName: tab, Item: encAttrs{"a": nil}}, `ddb: PutItemInput.Item["a"] is a nil AttributeValue`},
		{"fail/av/nil-in-list", &dynamodb.PutItemInput{TableName: tab, Item: nest(nil)}, `ddb: PutItemInput.Item["a"].M["b"].L[1] is a nil AttributeValue`},
		{"fail/av/unknown-member", &dynamodb.GetItemInput{TableName: tab, Key: encAttrs{"k": &types.UnknownUnionMember{Tag: "X"}}}, `ddb: GetItemInput.Key["k"] is an unknown AttributeValue member (tag "X")`},
		{"fail/av/foreign-type", &dynamodb.UpdateItemInput{TableName: tab, Key: key, ExpressionAttributeValues: encAttrs{":v": encForeignAV{encS("x")}}}, `ddb: UpdateItemInput.ExpressionAttributeValues[":v"] is a ddb.encForeignAV, not an AttributeValue the SDK serializes`},
		{"fail/av/nil-S", &dynamodb.DeleteItemInput{TableName: tab, Key: encAttrs{"k": (*types.AttributeValueMemberS)(nil)}}, `ddb: DeleteItemInput.Key["k"] is a nil *types.AttributeValueMemberS`},
		{"fail/av/nil-M-nested", &dynamodb.QueryInput{TableName: tab, ExclusiveStartKey: nest((*types.AttributeValueMemberM)(nil))}, `ddb: QueryInput.ExclusiveStartKey["a"].M["b"].L[1] is a nil *types.AttributeValueMemberM`},
		{"fail/av/nil-BS", &dynamodb.ScanInput{TableName: tab, ExpressionAttributeValues: encAttrs{"\x00\"": (*types.AttributeValueMemberBS)(nil)}}, `ddb: ScanInput.ExpressionAttributeValues["\x00\""] is a nil *types.AttributeValueMemberBS`},
		{"fail/av/too-deep", &dynamodb.PutItemInput{TableName: tab, Item: encAttrs{"d": deep}}, `ddb: PutItemInput.Item["d"]` + strings.Repeat(".L[0]", maxEncodeDepth) + ` nests deeper than 256 levels`},
		{"fail/av/cycle", &dynamodb.PutItemInput{TableName: tab, Item: encAttrs{"c": cycle}}, `ddb: PutItemInput.Item["c"]` + strings.Repeat(`.M["self"]`, maxEncodeDepth) + ` nests deeper than 256 levels`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := append(make([]byte, 0, 64), "kept"...)
			got, err := encodeAny(t, dst, tt.in)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %s", err, tt.want)
			}
			if string(got) != "kept" {
				t.Fatalf("dst %q, want it as it was", got)
			}
		})
	}
}

// TestEncodeValidates: an input missing a member the SDK requires (a nil
// input too) gets the SDK's own validation error, and nothing is written.
func TestEncodeValidates(t *testing.T) {
	tests := []struct {
		name string
		in   any
	}{
		{"fail/get/nil", (*dynamodb.GetItemInput)(nil)},
		{"fail/get/no-table", &dynamodb.GetItemInput{Key: encAttrs{}}},
		{"fail/get/no-key", &dynamodb.GetItemInput{TableName: aws.String("t")}},
		{"fail/put/nil", (*dynamodb.PutItemInput)(nil)},
		{"fail/put/no-table", &dynamodb.PutItemInput{Item: encAttrs{}}},
		{"fail/put/no-item", &dynamodb.PutItemInput{TableName: aws.String("t")}},
		{"fail/put/no-item-and-legacy", &dynamodb.PutItemInput{TableName: aws.String("t"), Expected: map[string]types.ExpectedAttributeValue{}}},
		{"fail/update/nil", (*dynamodb.UpdateItemInput)(nil)},
		{"fail/update/no-table", &dynamodb.UpdateItemInput{Key: encAttrs{}}},
		{"fail/update/no-key", &dynamodb.UpdateItemInput{TableName: aws.String("t")}},
		{"fail/delete/nil", (*dynamodb.DeleteItemInput)(nil)},
		{"fail/delete/no-table", &dynamodb.DeleteItemInput{Key: encAttrs{}}},
		{"fail/delete/no-key", &dynamodb.DeleteItemInput{TableName: aws.String("t")}},
		{"fail/query/nil", (*dynamodb.QueryInput)(nil)},
		{"fail/query/no-table", &dynamodb.QueryInput{KeyConditionExpression: aws.String("a = :a")}},
		{"fail/scan/nil", (*dynamodb.ScanInput)(nil)},
		{"fail/scan/no-table", &dynamodb.ScanInput{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sent, sdkErr := sdkEncode(t, tt.in)
			var want smithy.InvalidParamsError
			if sent || !errors.As(sdkErr, &want) {
				t.Fatalf("the SDK sent or answered %v; the case is wrong", sdkErr)
			}
			got, err := encodeAny(t, []byte("kept"), tt.in)
			var e smithy.InvalidParamsError
			if !errors.As(err, &e) || e.Error() != want.Error() {
				t.Fatalf("error %v, want the SDK's %v", err, want)
			}
			if string(got) != "kept" {
				t.Fatalf("dst %q, want it as it was", got)
			}
		})
	}
}

// encLegacy are the members the encoders refuse, by input type.
var encLegacy = map[string][]string{
	"GetItemInput":    {"AttributesToGet"},
	"PutItemInput":    {"ConditionalOperator", "Expected"},
	"UpdateItemInput": {"AttributeUpdates", "ConditionalOperator", "Expected"},
	"DeleteItemInput": {"ConditionalOperator", "Expected"},
	"QueryInput":      {"AttributesToGet", "ConditionalOperator", "KeyConditions", "QueryFilter"},
	"ScanInput":       {"AttributesToGet", "ConditionalOperator", "ScanFilter"},
}

// TestEncodeEveryMember walks every exported field of the six input types,
// sets it alone on a minimal input, and holds the encoder to the SDK: the
// SDK must send the member, and the encoder must send the same bytes, or
// refuse it by name when it is a legacy member. A member an SDK upgrade
// adds fails here until it is encoded or refused.
func TestEncodeEveryMember(t *testing.T) {
	for _, base := range []any{
		&dynamodb.GetItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a")}},
		&dynamodb.PutItemInput{TableName: aws.String("t"), Item: encAttrs{"pk": encS("a")}},
		&dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a")}},
		&dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a")}},
		&dynamodb.QueryInput{TableName: aws.String("t")},
		&dynamodb.ScanInput{TableName: aws.String("t")},
	} {
		typ := reflect.TypeOf(base).Elem()
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			t.Run(typ.Name()+"/"+f.Name, func(t *testing.T) {
				in := reflect.New(typ)
				in.Elem().Set(reflect.ValueOf(base).Elem())
				in.Elem().Field(i).Set(encSample(t, f))
				got, err := encodeAny(t, nil, in.Interface())
				for _, l := range encLegacy[typ.Name()] {
					if l == f.Name {
						if want := "ddb: " + typ.Name() + "." + f.Name + " is not supported"; err == nil || err.Error() != want {
							t.Fatalf("error %v, want %s", err, want)
						}
						return
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				want, _, err := sdkEncode(t, in.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(want, []byte(`"`+f.Name+`":`)) {
					t.Fatalf("the SDK did not send %s: %s (the sample value is wrong)", f.Name, want)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("body\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

// encSample is a value for field f that the SDK sends, with one entry when it
// is a map or a slice.
func encSample(t *testing.T, f reflect.StructField) reflect.Value {
	avType := reflect.TypeOf((*types.AttributeValue)(nil)).Elem()
	ft := f.Type
	switch {
	case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.String:
		return reflect.ValueOf(aws.String("v\u2028\x01"))
	case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Bool:
		return reflect.ValueOf(aws.Bool(true))
	case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Int32:
		return reflect.ValueOf(aws.Int32(-7))
	case ft.Kind() == reflect.String:
		return reflect.ValueOf("ENUM_VALUE").Convert(ft)
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
		return reflect.ValueOf([]string{"a"}).Convert(ft)
	case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String:
		m := reflect.MakeMap(ft)
		switch {
		case ft.Elem() == avType:
			m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf(types.AttributeValue(encS("v"))))
		case ft.Elem().Kind() == reflect.String:
			m.SetMapIndex(reflect.ValueOf("#k"), reflect.ValueOf("v").Convert(ft.Elem()))
		default:
			m.SetMapIndex(reflect.ValueOf("k"), reflect.Zero(ft.Elem()))
		}
		return m
	}
	t.Fatalf("no sample value for %s of type %s: the test must learn it", f.Name, ft)
	return reflect.Value{}
}

// encBenchPut is the hot PutItem: a batch item of 8 attributes, one a 4 KB
// binary.
func encBenchPut() *dynamodb.PutItemInput {
	blob := bytes.Repeat(encEveryByte, 16)
	return &dynamodb.PutItemInput{TableName: aws.String("monsys-batches"), Item: encAttrs{
		"agent_id":    encS("ag_01JF8Z6Q4X2M7K9R3T5V8W0Y1B"),
		"batch_key":   encS("2026-12-06T12:00:00Z#b3f1c2d4e5f60718"),
		"tenant_id":   encS("tn_acme"),
		"received_at": encN("1796644800123"),
		"min_ts":      encN("1796644700000"),
		"max_ts":      encN("1796644799999"),
		"sha256":      encS("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
		"body":        encB(blob),
	}, ConditionExpression: aws.String("attribute_not_exists(agent_id)")}
}

// encBenchUpdate is the hot UpdateItem: six expression values.
func encBenchUpdate() *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{TableName: aws.String("monsys-agents"),
		Key:                      encAttrs{"agent_id": encS("ag_01JF8Z6Q4X2M7K9R3T5V8W0Y1B")},
		UpdateExpression:         aws.String("SET #seq = :seq, last_seen = :now, last_batch = :b, #n = #n + :one, bytes_in = bytes_in + :sz"),
		ConditionExpression:      aws.String("attribute_exists(agent_id) AND #seq < :seq AND tenant_id = :t"),
		ExpressionAttributeNames: map[string]string{"#seq": "seq", "#n": "batches"},
		ExpressionAttributeValues: encAttrs{":seq": encN("184467"), ":now": encN("1796644800123"), ":b": encS("2026-12-06T12:00:00Z#b3f1c2d4e5f60718"),
			":one": encN("1"), ":sz": encN("4096"), ":t": encS("tn_acme")},
	}
}

// BenchmarkEncode: the hot calls' requests, into a reused buffer as the
// client does; sdk-call/... is, for scale in the same run, the SDK's whole
// call of the same input with no signing and no network (its middleware,
// its serializer, the decoding of a {} answer).
func BenchmarkEncode(b *testing.B) {
	put, upd := encBenchPut(), encBenchUpdate()
	get := &dynamodb.GetItemInput{TableName: aws.String("monsys-agents"),
		Key: encAttrs{"agent_id": encS("ag_01JF8Z6Q4X2M7K9R3T5V8W0Y1B")}, ConsistentRead: aws.Bool(true)}
	query := &dynamodb.QueryInput{TableName: aws.String("monsys-batches"), KeyConditionExpression: aws.String("agent_id = :a AND batch_key > :k"),
		ExpressionAttributeValues: encAttrs{":a": encS("ag_01JF8Z6Q4X2M7K9R3T5V8W0Y1B"), ":k": encS("2026-12-06")}, Limit: aws.Int32(100)}
	cases := []struct {
		name string
		in   any
	}{{"PutItem", put}, {"UpdateItem", upd}, {"GetItem", get}, {"Query", query}}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			buf, err := encodeAny(b, nil, bc.in)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = encodeAny(b, buf[:0], bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, bc := range cases {
		b.Run("sdk-call/"+bc.name, func(b *testing.B) {
			ref := newSDKRef()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ref.encode(b, bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// encFuzz makes the values of a generated input from the fuzzer's bytes.
type encFuzz struct {
	p     []byte
	multi bool // a map got more than one entry: only the JSON can match
	bad   bool // a value the encoders refuse was put in
}

func (f *encFuzz) byte() byte {
	if len(f.p) == 0 {
		return 0
	}
	c := f.p[0]
	f.p = f.p[1:]
	return c
}

// bytes takes up to 31 bytes, or nil (b() distinguishes nil from empty).
func (f *encFuzz) bytes() []byte {
	c := f.byte()
	if c == 0xFF {
		return nil
	}
	l := min(int(c&31), len(f.p))
	out := f.p[:l:l]
	f.p = f.p[l:]
	return out
}

var encFuzzStrings = []string{"", "\u2028", "\u2029", "\x7f", "\x00", "\ufffd", "\xed\xa0\x80", "é€😀", `"\`, "<&>", "1e400",
	"-0.00000000000000000000000000000000000001", "99999999999999999999999999999999999999"}

func (f *encFuzz) str() string {
	if c := f.byte(); c < 64 {
		return encFuzzStrings[int(c)%len(encFuzzStrings)]
	}
	return string(f.bytes())
}

func (f *encFuzz) strs() []string {
	c := f.byte()
	if c == 0xFF {
		return nil
	}
	out := make([]string, c%4)
	for i := range out {
		out[i] = f.str()
	}
	return out
}

func (f *encFuzz) av(depth int) types.AttributeValue {
	c := f.byte()
	if depth > 3 {
		c %= 8
	}
	switch c % 14 {
	case 0:
		return encS(f.str())
	case 1:
		return encN(f.str())
	case 2:
		return encB(f.bytes())
	case 3:
		return &types.AttributeValueMemberBOOL{Value: f.byte()&1 == 1}
	case 4:
		return &types.AttributeValueMemberNULL{Value: f.byte()&1 == 1}
	case 5:
		return &types.AttributeValueMemberSS{Value: f.strs()}
	case 6:
		return &types.AttributeValueMemberNS{Value: f.strs()}
	case 7:
		var v [][]byte
		if k := f.byte(); k != 0xFF {
			v = make([][]byte, k%4)
			for i := range v {
				v[i] = f.bytes()
			}
		}
		return &types.AttributeValueMemberBS{Value: v}
	case 8, 9:
		var v []types.AttributeValue
		if k := f.byte(); k != 0xFF {
			v = make([]types.AttributeValue, k%4)
			for i := range v {
				v[i] = f.av(depth + 1)
			}
		}
		return &types.AttributeValueMemberL{Value: v}
	case 10, 11:
		return &types.AttributeValueMemberM{Value: f.item(depth + 1)}
	case 12:
		if f.byte() < 0xF0 {
			return encS(f.str())
		}
		f.bad = true
		return nil
	default:
		if f.byte() < 0xF0 {
			return encN(f.str())
		}
		f.bad = true
		return &types.UnknownUnionMember{Tag: "X"}
	}
}

func (f *encFuzz) item(depth int) encAttrs {
	c := f.byte()
	if c == 0xFF {
		return nil
	}
	l := int(c % 4)
	m := make(encAttrs, l)
	for range l {
		k := f.str()
		if _, dup := m[k]; dup {
			continue // every value made is in the input
		}
		m[k] = f.av(depth)
	}
	f.multi = f.multi || len(m) > 1
	return m
}

func (f *encFuzz) names() map[string]string {
	c := f.byte()
	if c == 0xFF {
		return nil
	}
	m := map[string]string{}
	for range c % 3 {
		m[f.str()] = f.str()
	}
	f.multi = f.multi || len(m) > 1
	return m
}

// encOpt returns v when the next byte says so, nil otherwise.
func encOpt[T any](f *encFuzz, v func() T) *T {
	if f.byte()&1 == 0 {
		return nil
	}
	x := v()
	return &x
}

func (f *encFuzz) input() any {
	str := func() string { return f.str() }
	bl := func() bool { return f.byte()&1 == 1 }
	i32 := func() int32 { return int32(uint32(f.byte())<<24 | uint32(f.byte())) }
	switch f.byte() % 6 {
	case 0:
		return &dynamodb.GetItemInput{TableName: aws.String(f.str()), Key: f.item(0), ConsistentRead: encOpt(f, bl),
			ExpressionAttributeNames: f.names(), ProjectionExpression: encOpt(f, str),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str())}
	case 1:
		return &dynamodb.PutItemInput{TableName: aws.String(f.str()), Item: f.item(0), ConditionExpression: encOpt(f, str),
			ExpressionAttributeNames: f.names(), ExpressionAttributeValues: f.item(0),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str()), ReturnItemCollectionMetrics: types.ReturnItemCollectionMetrics(f.str()),
			ReturnValues: types.ReturnValue(f.str()), ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailure(f.str())}
	case 2:
		return &dynamodb.UpdateItemInput{TableName: aws.String(f.str()), Key: f.item(0), ConditionExpression: encOpt(f, str),
			ExpressionAttributeNames: f.names(), ExpressionAttributeValues: f.item(0), UpdateExpression: encOpt(f, str),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str()), ReturnItemCollectionMetrics: types.ReturnItemCollectionMetrics(f.str()),
			ReturnValues: types.ReturnValue(f.str()), ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailure(f.str())}
	case 3:
		return &dynamodb.DeleteItemInput{TableName: aws.String(f.str()), Key: f.item(0), ConditionExpression: encOpt(f, str),
			ExpressionAttributeNames: f.names(), ExpressionAttributeValues: f.item(0),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str()), ReturnItemCollectionMetrics: types.ReturnItemCollectionMetrics(f.str()),
			ReturnValues: types.ReturnValue(f.str()), ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailure(f.str())}
	case 4:
		return &dynamodb.QueryInput{TableName: aws.String(f.str()), ConsistentRead: encOpt(f, bl), ExclusiveStartKey: f.item(0),
			ExpressionAttributeNames: f.names(), ExpressionAttributeValues: f.item(0), FilterExpression: encOpt(f, str),
			IndexName: encOpt(f, str), KeyConditionExpression: encOpt(f, str), Limit: encOpt(f, i32), ProjectionExpression: encOpt(f, str),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str()), ScanIndexForward: encOpt(f, bl), Select: types.Select(f.str())}
	default:
		return &dynamodb.ScanInput{TableName: aws.String(f.str()), ConsistentRead: encOpt(f, bl), ExclusiveStartKey: f.item(0),
			ExpressionAttributeNames: f.names(), ExpressionAttributeValues: f.item(0), FilterExpression: encOpt(f, str),
			IndexName: encOpt(f, str), Limit: encOpt(f, i32), ProjectionExpression: encOpt(f, str),
			ReturnConsumedCapacity: types.ReturnConsumedCapacity(f.str()), Segment: encOpt(f, i32), Select: types.Select(f.str()),
			TotalSegments: encOpt(f, i32)}
	}
}

// FuzzEncode holds the encoders to the SDK on generated inputs: the same
// bytes when no map has two entries, the same JSON otherwise; an input
// holding a value the encoders refuse (nil, unknown member) is refused and
// leaves dst as it was.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{1, 2, 0, 5, 'a', 0xC0, 0x1F, 0, 4, 0x80, 0xFF, 0xFE, 1})
	f.Add([]byte{4, 70, 3, 't', 'a', 'b', 3, 64, 2, 'x', 'y', 8, 2, 2, 3, 200, 0xff, 7, 1, 9, 3, 0xe2, 0x80, 0xa8})
	f.Add([]byte{2, 65, 0, 1, 65, 1, 'k', 12, 0xFF})
	f.Add([]byte{0, 66, 1, 'T', 3, 0, 10, 3, 70, 1, 'a', 9, 3, 2, 5, 1, 2, 3, 4, 5, 7, 3, 0xFF, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, p []byte) {
		g := &encFuzz{p: p}
		in := g.input()
		got, err := encodeAny(t, []byte("kept"), in)
		want, sent, sdkErr := sdkEncode(t, in)
		if !sent {
			var e smithy.InvalidParamsError
			if !errors.As(sdkErr, &e) || err == nil || err.Error() != e.Error() || string(got) != "kept" {
				t.Fatalf("the SDK refused (%v), the encoder answered %v", sdkErr, err)
			}
			return
		}
		if g.bad {
			if err == nil || !strings.HasPrefix(err.Error(), "ddb: ") || string(got) != "kept" {
				t.Fatalf("a nil or unknown value: error %v, dst %q", err, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("the SDK sent %s, the encoder refused: %v", want, err)
		}
		got = got[len("kept"):]
		if !g.multi && !bytes.Equal(got, want) {
			t.Fatalf("body\n got %s\nwant %s", got, want)
		}
		encSameJSON(t, got, want)
	})
}

// TestAppendBase64 holds appendBase64 to the standard library at every
// length up to 300 and on every byte value, appending after a prefix.
func TestAppendBase64(t *testing.T) {
	src := bytes.Repeat(encEveryByte, 2)
	for l := 0; l <= 300; l++ {
		for _, p := range [][]byte{nil, []byte("ab"), make([]byte, 3, 3+l)} {
			p = slices.Clip(p)
			got := appendBase64(p, src[l%7:l%7+l])
			want := base64.StdEncoding.AppendEncode(slices.Clone(p), src[l%7:l%7+l])
			if !bytes.Equal(got, want) {
				t.Fatalf("length %d after %q:\n got %s\nwant %s", l, p, got, want)
			}
		}
	}
}

// FuzzAppendBase64 is TestAppendBase64 on any bytes.
func FuzzAppendBase64(f *testing.F) {
	f.Add([]byte("prefix"), encEveryByte)
	f.Fuzz(func(t *testing.T, prefix, src []byte) {
		got := appendBase64(slices.Clone(prefix), src)
		want := base64.StdEncoding.AppendEncode(slices.Clone(prefix), src)
		if !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// TestAppendStringEveryBytePlace: every byte value, and U+2028, at every
// place of a string long enough for the eight-byte scan, escaped as the
// SDK escapes it.
func TestAppendStringEveryBytePlace(t *testing.T) {
	const plainText = "abcdefghijklmnopq"
	specials := []string{"\u2028", "\u2029", "é"}
	for c := 0; c < 256; c++ {
		specials = append(specials, string([]byte{byte(c)}))
	}
	for _, sp := range specials {
		for at := 0; at <= len(plainText); at++ {
			name := plainText[:at] + sp + plainText[at:]
			in := &dynamodb.GetItemInput{TableName: aws.String(name), Key: encAttrs{}}
			want, _, err := sdkEncode(t, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeAny(t, nil, in)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s (%v)\nwant %s", name, got, err, want)
			}
		}
	}
}

// TestEncodeAllocs: the hot calls' requests are written with no allocation
// into a buffer large enough (the client reuses one).
func TestEncodeAllocs(t *testing.T) {
	for _, in := range []any{encBenchPut(), encBenchUpdate(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: encAttrs{"pk": encS("a")}}} {
		buf := make([]byte, 0, 16<<10)
		if a := testing.AllocsPerRun(50, func() { buf, _ = encodeAny(t, buf[:0], in) }); a != 0 {
			t.Errorf("%T: %v allocations per call, want 0", in, a)
		}
	}
}
