package ddb

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The encoders append the JSON request body of one operation to dst, as
// the SDK's serializer would send it for the same input: the same members,
// the same values (map members in any order). An input member the encoder
// does not send (the legacy parameters: AttributesToGet, Expected,
// KeyConditions, QueryFilter, ScanFilter, AttributeUpdates,
// ConditionalOperator) is refused with an error naming it, never dropped.
// A nil input is refused.
//
// Beyond that:
//   - the members come in the SDK's order (alphabetical), and a string is
//     escaped byte for byte as the SDK's JSON writer does it, so the body is
//     the SDK's own when no map has more than one entry;
//   - an input missing a member the SDK's validation requires gets the SDK's
//     own error (a smithy.InvalidParamsError, nil input included), before
//     anything is written;
//   - a nil AttributeValue, a nil *types.AttributeValueMemberX or a type the
//     SDK's serializer does not know (*types.UnknownUnionMember, a type of
//     another package embedding a member) is refused with an error naming
//     its path (PutItemInput.Item["a"].L[2]): the SDK writes nothing for it
//     (a list loses the element, a map member makes the body invalid JSON)
//     or panics on the nil pointer;
//   - values nested deeper than maxEncodeDepth are refused (a cycle would never end).
//
// On an error dst is returned as it was given.

func encodeGetItem(dst []byte, in *dynamodb.GetItemInput) ([]byte, error) {
	const op = "GetItemInput"
	if err := required(op, in == nil || in.TableName == nil, "Key", in == nil || in.Key == nil); err != nil {
		return dst, err
	}
	if in.AttributesToGet != nil {
		return dst, refused(op, "AttributesToGet")
	}
	n0 := len(dst)
	dst = append(dst, '{')
	var err error
	dst = optBool(dst, n0, "ConsistentRead", in.ConsistentRead)
	dst = optNames(dst, n0, in.ExpressionAttributeNames)
	if dst, err = optItem(dst, n0, op, "Key", in.Key); err != nil {
		return dst[:n0], err
	}
	dst = optString(dst, n0, "ProjectionExpression", in.ProjectionExpression)
	dst = optEnum(dst, n0, "ReturnConsumedCapacity", in.ReturnConsumedCapacity)
	dst = optString(dst, n0, "TableName", in.TableName)
	return append(dst, '}'), nil
}

func encodePutItem(dst []byte, in *dynamodb.PutItemInput) ([]byte, error) {
	const op = "PutItemInput"
	if err := required(op, in == nil || in.TableName == nil, "Item", in == nil || in.Item == nil); err != nil {
		return dst, err
	}
	switch {
	case in.ConditionalOperator != "":
		return dst, refused(op, "ConditionalOperator")
	case in.Expected != nil:
		return dst, refused(op, "Expected")
	}
	return appendWrite(dst, &writeMembers{input: op, cond: in.ConditionExpression,
		names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, itemName: "Item", item: in.Item,
		rcc: in.ReturnConsumedCapacity, ricm: in.ReturnItemCollectionMetrics, rv: in.ReturnValues,
		rvoccf: in.ReturnValuesOnConditionCheckFailure, table: in.TableName})
}

func encodeUpdateItem(dst []byte, in *dynamodb.UpdateItemInput) ([]byte, error) {
	const op = "UpdateItemInput"
	if err := required(op, in == nil || in.TableName == nil, "Key", in == nil || in.Key == nil); err != nil {
		return dst, err
	}
	switch {
	case in.AttributeUpdates != nil:
		return dst, refused(op, "AttributeUpdates")
	case in.ConditionalOperator != "":
		return dst, refused(op, "ConditionalOperator")
	case in.Expected != nil:
		return dst, refused(op, "Expected")
	}
	return appendWrite(dst, &writeMembers{input: op, cond: in.ConditionExpression,
		names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, itemName: "Key", item: in.Key,
		rcc: in.ReturnConsumedCapacity, ricm: in.ReturnItemCollectionMetrics, rv: in.ReturnValues,
		rvoccf: in.ReturnValuesOnConditionCheckFailure, table: in.TableName, update: in.UpdateExpression})
}

func encodeDeleteItem(dst []byte, in *dynamodb.DeleteItemInput) ([]byte, error) {
	const op = "DeleteItemInput"
	if err := required(op, in == nil || in.TableName == nil, "Key", in == nil || in.Key == nil); err != nil {
		return dst, err
	}
	switch {
	case in.ConditionalOperator != "":
		return dst, refused(op, "ConditionalOperator")
	case in.Expected != nil:
		return dst, refused(op, "Expected")
	}
	return appendWrite(dst, &writeMembers{input: op, cond: in.ConditionExpression,
		names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, itemName: "Key", item: in.Key,
		rcc: in.ReturnConsumedCapacity, ricm: in.ReturnItemCollectionMetrics, rv: in.ReturnValues,
		rvoccf: in.ReturnValuesOnConditionCheckFailure, table: in.TableName})
}

func encodeQuery(dst []byte, in *dynamodb.QueryInput) ([]byte, error) {
	const op = "QueryInput"
	if err := required(op, in == nil || in.TableName == nil, "", false); err != nil {
		return dst, err
	}
	switch {
	case in.AttributesToGet != nil:
		return dst, refused(op, "AttributesToGet")
	case in.ConditionalOperator != "":
		return dst, refused(op, "ConditionalOperator")
	case in.KeyConditions != nil:
		return dst, refused(op, "KeyConditions")
	case in.QueryFilter != nil:
		return dst, refused(op, "QueryFilter")
	}
	return appendRead(dst, &readMembers{input: op, consistent: in.ConsistentRead, start: in.ExclusiveStartKey,
		names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, filter: in.FilterExpression,
		index: in.IndexName, keyCond: in.KeyConditionExpression, limit: in.Limit, projection: in.ProjectionExpression,
		rcc: in.ReturnConsumedCapacity, forward: in.ScanIndexForward, sel: in.Select, table: in.TableName})
}

func encodeScan(dst []byte, in *dynamodb.ScanInput) ([]byte, error) {
	const op = "ScanInput"
	if err := required(op, in == nil || in.TableName == nil, "", false); err != nil {
		return dst, err
	}
	switch {
	case in.AttributesToGet != nil:
		return dst, refused(op, "AttributesToGet")
	case in.ConditionalOperator != "":
		return dst, refused(op, "ConditionalOperator")
	case in.ScanFilter != nil:
		return dst, refused(op, "ScanFilter")
	}
	return appendRead(dst, &readMembers{input: op, consistent: in.ConsistentRead, start: in.ExclusiveStartKey,
		names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, filter: in.FilterExpression,
		index: in.IndexName, limit: in.Limit, projection: in.ProjectionExpression, rcc: in.ReturnConsumedCapacity,
		segment: in.Segment, sel: in.Select, table: in.TableName, segments: in.TotalSegments})
}

// writeMembers are the members PutItem, UpdateItem and DeleteItem send;
// item is their Item or Key, named itemName, update UpdateItem's
// UpdateExpression.
type writeMembers struct {
	input, itemName string
	cond            *string
	names           map[string]string
	values, item    map[string]types.AttributeValue
	rcc             types.ReturnConsumedCapacity
	ricm            types.ReturnItemCollectionMetrics
	rv              types.ReturnValue
	rvoccf          types.ReturnValuesOnConditionCheckFailure
	table, update   *string
}

// appendWrite writes the members of w in the SDK's (alphabetical) order.
func appendWrite(dst []byte, w *writeMembers) ([]byte, error) {
	n0 := len(dst)
	dst = append(dst, '{')
	var err error
	dst = optString(dst, n0, "ConditionExpression", w.cond)
	dst = optNames(dst, n0, w.names)
	if dst, err = optItem(dst, n0, w.input, "ExpressionAttributeValues", w.values); err != nil {
		return dst[:n0], err
	}
	if dst, err = optItem(dst, n0, w.input, w.itemName, w.item); err != nil {
		return dst[:n0], err
	}
	dst = optEnum(dst, n0, "ReturnConsumedCapacity", w.rcc)
	dst = optEnum(dst, n0, "ReturnItemCollectionMetrics", w.ricm)
	dst = optEnum(dst, n0, "ReturnValues", w.rv)
	dst = optEnum(dst, n0, "ReturnValuesOnConditionCheckFailure", w.rvoccf)
	dst = optString(dst, n0, "TableName", w.table)
	dst = optString(dst, n0, "UpdateExpression", w.update)
	return append(dst, '}'), nil
}

// readMembers are the members Query and Scan send: keyCond and forward are
// Query's, segment and segments Scan's.
type readMembers struct {
	input                                     string
	consistent, forward                       *bool
	start, values                             map[string]types.AttributeValue
	names                                     map[string]string
	filter, index, keyCond, projection, table *string
	limit, segment, segments                  *int32
	rcc                                       types.ReturnConsumedCapacity
	sel                                       types.Select
}

// appendRead writes the members of r in the SDK's (alphabetical) order.
func appendRead(dst []byte, r *readMembers) ([]byte, error) {
	n0 := len(dst)
	dst = append(dst, '{')
	var err error
	dst = optBool(dst, n0, "ConsistentRead", r.consistent)
	if dst, err = optItem(dst, n0, r.input, "ExclusiveStartKey", r.start); err != nil {
		return dst[:n0], err
	}
	dst = optNames(dst, n0, r.names)
	if dst, err = optItem(dst, n0, r.input, "ExpressionAttributeValues", r.values); err != nil {
		return dst[:n0], err
	}
	dst = optString(dst, n0, "FilterExpression", r.filter)
	dst = optString(dst, n0, "IndexName", r.index)
	dst = optString(dst, n0, "KeyConditionExpression", r.keyCond)
	dst = optInt(dst, n0, "Limit", r.limit)
	dst = optString(dst, n0, "ProjectionExpression", r.projection)
	dst = optEnum(dst, n0, "ReturnConsumedCapacity", r.rcc)
	dst = optBool(dst, n0, "ScanIndexForward", r.forward)
	dst = optInt(dst, n0, "Segment", r.segment)
	dst = optEnum(dst, n0, "Select", r.sel)
	dst = optString(dst, n0, "TableName", r.table)
	dst = optInt(dst, n0, "TotalSegments", r.segments)
	return append(dst, '}'), nil
}

// The opt* write member name of the object opened at dst[open] when its
// value is set (non-nil, or a non-empty enum), as the SDK does.

func optString(dst []byte, open int, name string, v *string) []byte {
	if v == nil {
		return dst
	}
	return appendString(member(dst, open, name), *v)
}

func optEnum[E ~string](dst []byte, open int, name string, v E) []byte {
	if v == "" {
		return dst
	}
	return appendString(member(dst, open, name), string(v))
}

func optBool(dst []byte, open int, name string, v *bool) []byte {
	if v == nil {
		return dst
	}
	return appendBool(member(dst, open, name), *v)
}

func optInt(dst []byte, open int, name string, v *int32) []byte {
	if v == nil {
		return dst
	}
	return strconv.AppendInt(member(dst, open, name), int64(*v), 10)
}

func optNames(dst []byte, open int, m map[string]string) []byte {
	if m == nil {
		return dst
	}
	return appendNames(member(dst, open, "ExpressionAttributeNames"), m)
}

func optItem(dst []byte, open int, input, name string, m map[string]types.AttributeValue) ([]byte, error) {
	if m == nil {
		return dst, nil
	}
	return appendItem(member(dst, open, name), m, input, name)
}

// required is the SDK's own check of the members it requires (validators.go
// of service/dynamodb), run before anything is written and answering the same
// error: the InvalidParamsError for a missing TableName and a missing second
// member (none when other is ""), in the SDK's order; nil when neither is
// missing. A nil input is checked as an empty one, as the SDK's client does.
// The SDK's checks of the legacy members' contents are not repeated: those
// members are refused whatever they hold.
func required(input string, noTable bool, other string, noOther bool) error {
	if !noTable && !noOther {
		return nil
	}
	e := smithy.InvalidParamsError{Context: input}
	if noTable {
		e.Add(smithy.NewErrParamRequired("TableName"))
	}
	if noOther {
		e.Add(smithy.NewErrParamRequired(other))
	}
	return e
}

// refused is the error for a legacy member the encoders do not send.
func refused(input, name string) error {
	return fmt.Errorf("ddb: %s.%s is not supported", input, name)
}

// member starts the member name of the object opened at dst[open], with the
// comma when a member came before.
func member(dst []byte, open int, name string) []byte {
	if len(dst) > open+1 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendNames writes a map of expression attribute names.
func appendNames(dst []byte, m map[string]string) []byte {
	dst = append(dst, '{')
	first := true
	for k, v := range m {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, v)
	}
	return append(dst, '}')
}

// appendItem writes a map of attribute values, member name of input.
func appendItem(dst []byte, m map[string]types.AttributeValue, input, name string) ([]byte, error) {
	dst, perr := appendAVMap(dst, m, 0)
	if perr != nil {
		return dst, perr.at(input + "." + name)
	}
	return dst, nil
}

// maxEncodeDepth bounds the nesting of M and L values: DynamoDB takes 32 levels,
// so only a cycle (a map holding itself) or a mistake goes deeper.
const maxEncodeDepth = 256

func appendAVMap(dst []byte, m map[string]types.AttributeValue, depth int) ([]byte, *encPathError) {
	dst = append(dst, '{')
	first := true
	for k, v := range m {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var perr *encPathError
		if dst, perr = appendAV(dst, v, depth); perr != nil {
			return dst, perr.in("[" + strconv.Quote(k) + "]")
		}
	}
	return append(dst, '}'), nil
}

// appendAV writes one attribute value as the SDK does: an object with the
// one member of its kind.
func appendAV(dst []byte, v types.AttributeValue, depth int) ([]byte, *encPathError) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = append(dst, `{"S":`...)
		dst = appendString(dst, v.Value)
	case *types.AttributeValueMemberN:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = append(dst, `{"N":`...)
		dst = appendString(dst, v.Value)
	case *types.AttributeValueMemberB:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = append(dst, `{"B":`...)
		dst = appendBlob(dst, v.Value)
	case *types.AttributeValueMemberBOOL:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = appendBool(append(dst, `{"BOOL":`...), v.Value)
	case *types.AttributeValueMemberNULL:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = appendBool(append(dst, `{"NULL":`...), v.Value)
	case *types.AttributeValueMemberM:
		if v == nil {
			return dst, nilMember(v)
		}
		if depth >= maxEncodeDepth {
			return dst, &encPathError{what: fmt.Sprintf("nests deeper than %d levels", maxEncodeDepth)}
		}
		var perr *encPathError
		if dst, perr = appendAVMap(append(dst, `{"M":`...), v.Value, depth+1); perr != nil {
			return dst, perr.in(".M")
		}
	case *types.AttributeValueMemberL:
		if v == nil {
			return dst, nilMember(v)
		}
		if depth >= maxEncodeDepth {
			return dst, &encPathError{what: fmt.Sprintf("nests deeper than %d levels", maxEncodeDepth)}
		}
		dst = append(dst, `{"L":[`...)
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			var perr *encPathError
			if dst, perr = appendAV(dst, e, depth+1); perr != nil {
				return dst, perr.in(".L[" + strconv.Itoa(i) + "]")
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberSS:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = appendStrings(append(dst, `{"SS":`...), v.Value)
	case *types.AttributeValueMemberNS:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = appendStrings(append(dst, `{"NS":`...), v.Value)
	case *types.AttributeValueMemberBS:
		if v == nil {
			return dst, nilMember(v)
		}
		dst = append(dst, `{"BS":[`...)
		for i, b := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBlob(dst, b)
		}
		dst = append(dst, ']')
	case nil:
		return dst, &encPathError{what: "is a nil AttributeValue"}
	case *types.UnknownUnionMember:
		return dst, &encPathError{what: fmt.Sprintf("is an unknown AttributeValue member (tag %q)", v.Tag)}
	default:
		return dst, &encPathError{what: fmt.Sprintf("is a %T, not an AttributeValue the SDK serializes", v)}
	}
	return append(dst, '}'), nil
}

func nilMember(v types.AttributeValue) *encPathError {
	return &encPathError{what: fmt.Sprintf("is a nil %T", v)}
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendBlob writes b in standard base64 with padding, a nil b as null (the
// SDK's writer does both).
func appendBlob(dst []byte, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = appendBase64(dst, b)
	return append(dst, '"')
}

// appendBase64 is base64.StdEncoding.AppendEncode a third faster (the 4 KB
// binary of the hot PutItem is most of its encoding): six bytes at a time,
// through a table of the 4096 pairs of digits, the tail by the standard
// library.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	i, j := 0, 0
	for ; len(src)-i >= 8 && len(out)-j >= 8; i, j = i+6, j+8 {
		v := binary.BigEndian.Uint64(src[i:])
		binary.BigEndian.PutUint64(out[j:], uint64(digitPairs[v>>52])<<48|
			uint64(digitPairs[(v>>40)&0xFFF])<<32|
			uint64(digitPairs[(v>>28)&0xFFF])<<16|
			uint64(digitPairs[(v>>16)&0xFFF]))
	}
	base64.StdEncoding.Encode(out[j:], src[i:])
	return dst[:len(dst)+n]
}

// digitPairs holds the two base64 digits of each 12-bit value.
var digitPairs = func() (t [4096]uint16) {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = uint16(digits[i>>6])<<8 | uint16(digits[i&63])
	}
	return t
}()

// appendString writes s as a JSON string escaped as smithy-go's JSON
// writer escapes it (transport/http/protocol/internal/json), so that the
// bytes are the SDK's: printable ASCII as is but '"' and '\\'; \n, \r, \t;
// the other control characters and DEL as \u00XX (lower-case hex); each
// byte of invalid UTF-8 as U+FFFD; U+2028 and U+2029 as \u2028 and \u2029;
// the rest of UTF-8 as is ('<', '>' and '&' too).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	i := 0
	for ; i+8 <= len(s); i += 8 {
		// eight bytes at a time while none is special: the loads merge into one
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&hi8|hasLess(w, 0x20)|hasByte(w, '"')|hasByte(w, '\\')|hasByte(w, 0x7F) != 0 {
			break
		}
	}
	start := 0
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if plainJSON[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// plainJSON marks the ASCII bytes written as they are.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < 0x7F; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// encPathError is an attribute value the encoders refuse, with its path inside
// the member holding it, gathered innermost first while the encoder returns.
type encPathError struct {
	path []string
	what string
}

func (e *encPathError) in(step string) *encPathError {
	e.path = append(e.path, step)
	return e
}

// at names the member holding the value (PutItemInput.Item) and makes the
// error.
func (e *encPathError) at(member string) error {
	p := member
	for i := len(e.path) - 1; i >= 0; i-- {
		p += e.path[i]
	}
	return fmt.Errorf("ddb: %s %s", p, e.what)
}
