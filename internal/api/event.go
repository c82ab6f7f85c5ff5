package api

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/canon"
)

// DecodeEvent decodes an API Gateway proxy event exactly as encoding/json
// decodes it into events.APIGatewayProxyRequest, for less CPU: one walk
// over the event decodes the members of the request's types without
// reflection, checks the syntax of the members they do not have and
// skips them. Whenever the walk cannot be sure of giving encoding/json's
// answer (a key with escapes or non-ASCII bytes, a key that matches a
// member only case-insensitively, a string with a \u escape of a surrogate,
// a control byte or invalid UTF-8, a value of another type than the
// member's, an integer of more than 18 digits, deep nesting, anything that
// is not valid JSON), the whole event
// goes to encoding/json, whose answer, or error, is returned.
func DecodeEvent(data []byte) (events.APIGatewayProxyRequest, error) {
	var ev events.APIGatewayProxyRequest
	sc := scratches.Get().(*scratch)
	d := eventDecoder{data: data, buf: sc.buf[:0], ends: sc.ends[:0]}
	ok := d.event(&ev)
	if cap(d.buf) <= maxScratch {
		sc.buf, sc.ends = d.buf[:0], d.ends[:0]
		scratches.Put(sc)
	}
	if ok {
		return ev, nil
	}
	ev = events.APIGatewayProxyRequest{}
	if err := json.Unmarshal(data, &ev); err != nil {
		return events.APIGatewayProxyRequest{}, err
	}
	return ev, nil
}

// scratch is what a decoder reuses from one event to the next.
type scratch struct {
	buf  []byte
	ends []int
}

// scratches are the decoders' scratch, kept for the next event unless its
// buffer grew past maxScratch.
var scratches = sync.Pool{New: func() any { return new(scratch) }}

const maxScratch = 256 << 10

// The JSON names of the members of the request's types, for the keys that
// encoding/json would match case-insensitively.
var (
	eventNames = []string{"resource", "path", "httpMethod", "headers", "multiValueHeaders",
		"queryStringParameters", "multiValueQueryStringParameters", "pathParameters", "stageVariables",
		"requestContext", "body", "isBase64Encoded"}
	contextNames = []string{"accountId", "resourceId", "operationName", "stage", "domainName", "domainPrefix",
		"requestId", "extendedRequestId", "protocol", "identity", "resourcePath", "path", "authorizer",
		"httpMethod", "requestTime", "requestTimeEpoch", "apiId"}
	identityNames = []string{"cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "apiKey",
		"apiKeyId", "accessKey", "sourceIp", "cognitoAuthenticationType", "cognitoAuthenticationProvider",
		"userArn", "userAgent", "user", "clientCert"}
	clientCertNames = []string{"clientCertPem", "issuerDN", "serialNumber", "subjectDN", "validity"}
	validityNames   = []string{"notAfter", "notBefore"}
)

// maxDepth is the nesting the walk follows; deeper events go to
// encoding/json, which refuses what is nested beyond its own limit.
const maxDepth = 100

// eventDecoder walks data from i. Each method decodes or skips the value at
// i and moves past it, or returns false where encoding/json must decide.
// Between tokens it skips JSON whitespace.
type eventDecoder struct {
	data []byte
	i    int
	buf  []byte // strings decoded before they are made
	ends []int  // where each string in buf ends (and the lengths of lists)
}

func (d *eventDecoder) event(ev *events.APIGatewayProxyRequest) bool {
	d.space()
	ok := d.fields(func(name []byte) bool {
		switch string(name) {
		case "resource":
			return d.str(&ev.Resource)
		case "path":
			return d.str(&ev.Path)
		case "httpMethod":
			return d.str(&ev.HTTPMethod)
		case "headers":
			return d.strMap(&ev.Headers)
		case "multiValueHeaders":
			return d.listMap(&ev.MultiValueHeaders)
		case "queryStringParameters":
			return d.strMap(&ev.QueryStringParameters)
		case "multiValueQueryStringParameters":
			return d.listMap(&ev.MultiValueQueryStringParameters)
		case "pathParameters":
			return d.strMap(&ev.PathParameters)
		case "stageVariables":
			return d.strMap(&ev.StageVariables)
		case "requestContext":
			return d.requestContext(&ev.RequestContext)
		case "body":
			return d.str(&ev.Body)
		case "isBase64Encoded":
			return d.boolean(&ev.IsBase64Encoded)
		}
		return d.other(name, eventNames, 1)
	})
	d.space()
	return ok && d.i == len(d.data)
}

func (d *eventDecoder) requestContext(rc *events.APIGatewayProxyRequestContext) bool {
	if d.null() {
		return true
	}
	return d.fields(func(name []byte) bool {
		switch string(name) {
		case "accountId":
			return d.str(&rc.AccountID)
		case "resourceId":
			return d.str(&rc.ResourceID)
		case "operationName":
			return d.str(&rc.OperationName)
		case "stage":
			return d.str(&rc.Stage)
		case "domainName":
			return d.str(&rc.DomainName)
		case "domainPrefix":
			return d.str(&rc.DomainPrefix)
		case "requestId":
			return d.str(&rc.RequestID)
		case "extendedRequestId":
			return d.str(&rc.ExtendedRequestID)
		case "protocol":
			return d.str(&rc.Protocol)
		case "identity":
			return d.identity(&rc.Identity)
		case "resourcePath":
			return d.str(&rc.ResourcePath)
		case "path":
			return d.str(&rc.Path)
		case "authorizer":
			// Rare, and of any shape: encoding/json decodes it, into the
			// map as it would within the event (a second authorizer
			// member adds to the first's map, null clears it).
			start := d.i
			return d.skip(2) && json.Unmarshal(d.data[start:d.i], &rc.Authorizer) == nil
		case "httpMethod":
			return d.str(&rc.HTTPMethod)
		case "requestTime":
			return d.str(&rc.RequestTime)
		case "requestTimeEpoch":
			return d.int64(&rc.RequestTimeEpoch)
		case "apiId":
			return d.str(&rc.APIID)
		}
		return d.other(name, contextNames, 2)
	})
}

func (d *eventDecoder) identity(id *events.APIGatewayRequestIdentity) bool {
	if d.null() {
		return true
	}
	return d.fields(func(name []byte) bool {
		switch string(name) {
		case "cognitoIdentityPoolId":
			return d.str(&id.CognitoIdentityPoolID)
		case "accountId":
			return d.str(&id.AccountID)
		case "cognitoIdentityId":
			return d.str(&id.CognitoIdentityID)
		case "caller":
			return d.str(&id.Caller)
		case "apiKey":
			return d.str(&id.APIKey)
		case "apiKeyId":
			return d.str(&id.APIKeyID)
		case "accessKey":
			return d.str(&id.AccessKey)
		case "sourceIp":
			return d.str(&id.SourceIP)
		case "cognitoAuthenticationType":
			return d.str(&id.CognitoAuthenticationType)
		case "cognitoAuthenticationProvider":
			return d.str(&id.CognitoAuthenticationProvider)
		case "userArn":
			return d.str(&id.UserArn)
		case "userAgent":
			return d.str(&id.UserAgent)
		case "user":
			return d.str(&id.User)
		case "clientCert":
			return d.clientCert(&id.ClientCert)
		}
		return d.other(name, identityNames, 3)
	})
}

// clientCert decodes as encoding/json decodes into a pointer: null sets it
// to nil, an object fills the struct it points to, a new one if nil.
func (d *eventDecoder) clientCert(p **events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert) bool {
	if d.null() {
		*p = nil
		return true
	}
	if *p == nil {
		*p = new(events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert)
	}
	c := *p
	return d.fields(func(name []byte) bool {
		switch string(name) {
		case "clientCertPem":
			return d.str(&c.ClientCertPem)
		case "issuerDN":
			return d.str(&c.IssuerDN)
		case "serialNumber":
			return d.str(&c.SerialNumber)
		case "subjectDN":
			return d.str(&c.SubjectDN)
		case "validity":
			if d.null() {
				return true
			}
			return d.fields(func(name []byte) bool {
				switch string(name) {
				case "notAfter":
					return d.str(&c.Validity.NotAfter)
				case "notBefore":
					return d.str(&c.Validity.NotBefore)
				}
				return d.other(name, validityNames, 5)
			})
		}
		return d.other(name, clientCertNames, 4)
	})
}

// other skips the value of a member the type does not have, at depth. A
// name that differs from one it has only in case is encoding/json's to
// match.
func (d *eventDecoder) other(name []byte, names []string, depth int) bool {
	for _, n := range names {
		if len(n) == len(name) && bytes.EqualFold(name, []byte(n)) {
			return false
		}
	}
	return d.skip(depth)
}

// fields walks the members of the object at i: member is called with each
// key, which is ASCII without escapes (others are encoding/json's to fold),
// and i at its value, which it must decode or skip.
func (d *eventDecoder) fields(member func(name []byte) bool) bool {
	return d.object(func() bool {
		name, ok := d.plain()
		return ok && d.colon() && member(name)
	})
}

// object walks the object at i, calling member at each member's key.
func (d *eventDecoder) object(member func() bool) bool { return d.sequence('{', '}', member) }

// array walks the array at i, calling elem at each element.
func (d *eventDecoder) array(elem func() bool) bool { return d.sequence('[', ']', elem) }

// sequence walks the object or array that opens at i with open, calling
// each at each member or element, which must consume it.
func (d *eventDecoder) sequence(open, close byte, each func() bool) bool {
	if !d.consume(open) {
		return false
	}
	d.space()
	if d.consume(close) {
		return true
	}
	for {
		if !each() {
			return false
		}
		d.space()
		if d.consume(close) {
			return true
		}
		if !d.consume(',') {
			return false
		}
		d.space()
	}
}

func (d *eventDecoder) colon() bool {
	d.space()
	if !d.consume(':') {
		return false
	}
	d.space()
	return true
}

func (d *eventDecoder) consume(c byte) bool {
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *eventDecoder) space() { d.i = canon.SkipSpace(d.data, d.i) }

func (d *eventDecoder) literal(lit string) bool {
	if bytes.HasPrefix(d.data[d.i:], []byte(lit)) {
		d.i += len(lit)
		return true
	}
	return false
}

func (d *eventDecoder) null() bool { return d.literal("null") }

// str decodes a string into s. null leaves s as it is, as encoding/json
// leaves a string it decodes null into.
func (d *eventDecoder) str(s *string) bool {
	if d.null() {
		return true
	}
	v, ok := d.string()
	if ok {
		*s = v
	}
	return ok
}

// string decodes the string at i.
func (d *eventDecoder) string() (string, bool) {
	if b, ok := d.plain(); ok {
		return string(b), true
	}
	b, ok := d.appendString(d.buf[:0])
	d.buf = b[:0]
	if !ok {
		return "", false
	}
	return string(b), true
}

// appendString appends the string at i, decoded, to dst.
func (d *eventDecoder) appendString(dst []byte) ([]byte, bool) {
	if b, ok := d.plain(); ok {
		return append(dst, b...), true
	}
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return dst, false
	}
	dst, end, ok := appendUnquoted(dst, d.data, d.i)
	if ok {
		d.i = end
	}
	return dst, ok
}

// plain returns the contents of the string at i if it holds only plain
// bytes (printable ASCII, no escapes), the common case it decodes without
// a copy of its own.
func (d *eventDecoder) plain() ([]byte, bool) {
	data, i := d.data, d.i
	if i >= len(data) || data[i] != '"' {
		return nil, false
	}
	j := i + 1
	for j < len(data) && canon.Plain(data[j]) {
		j++
	}
	if j >= len(data) || data[j] != '"' {
		return nil, false
	}
	d.i = j + 1
	return data[i+1 : j], true
}

// strMap decodes an object of strings as encoding/json decodes it into a
// map: null sets the map to nil, an object adds its members to the map, a
// new one if nil. The keys and values are read into one buffer first, to
// make one string of them all and a map of the right size.
func (d *eventDecoder) strMap(m *map[string]string) bool {
	if d.null() {
		*m = nil
		return true
	}
	buf, ends := d.buf[:0], d.ends[:0]
	ok := d.object(func() bool {
		var ok bool
		if buf, ok = d.appendString(buf); !ok || !d.colon() {
			return false
		}
		ends = append(ends, len(buf))
		if !d.null() { // a null value decodes as "", as encoding/json's new string
			if buf, ok = d.appendString(buf); !ok {
				return false
			}
		}
		ends = append(ends, len(buf))
		return true
	})
	d.buf, d.ends = buf[:0], ends[:0]
	if !ok {
		return false
	}
	if *m == nil {
		*m = make(map[string]string, len(ends)/2)
	}
	text, from := string(buf), 0
	for j := 0; j < len(ends); j += 2 {
		(*m)[text[from:ends[j]]] = text[ends[j]:ends[j+1]]
		from = ends[j+1]
	}
	return true
}

// listMap decodes an object of string arrays as strMap decodes an object of
// strings. An array is decoded as encoding/json decodes it into a new
// slice: [] is an empty slice, null nil, a null element "". The lists
// share one array, each capped at its length.
func (d *eventDecoder) listMap(m *map[string][]string) bool {
	if d.null() {
		*m = nil
		return true
	}
	// ends holds, for each member, the end of its key, its list's length
	// (-1 for null) and the end of each element.
	buf, ends, elems := d.buf[:0], d.ends[:0], 0
	ok := d.object(func() bool {
		var ok bool
		if buf, ok = d.appendString(buf); !ok || !d.colon() {
			return false
		}
		ends = append(ends, len(buf))
		if d.null() {
			ends = append(ends, -1)
			return true
		}
		at := len(ends)
		ends = append(ends, 0)
		ok = d.array(func() bool {
			var ok bool
			if !d.null() {
				if buf, ok = d.appendString(buf); !ok {
					return false
				}
			}
			ends = append(ends, len(buf))
			return true
		})
		ends[at] = len(ends) - at - 1
		elems += ends[at]
		return ok
	})
	d.buf, d.ends = buf[:0], ends[:0]
	if !ok {
		return false
	}
	if *m == nil {
		*m = make(map[string][]string, len(ends)/2)
	}
	text, all, from := string(buf), make([]string, elems), 0
	for j := 0; j < len(ends); {
		key, n := text[from:ends[j]], ends[j+1]
		from = ends[j]
		j += 2
		if n < 0 {
			(*m)[key] = nil
			continue
		}
		l := all[:n:n]
		all = all[n:]
		for e := range l {
			l[e] = text[from:ends[j]]
			from = ends[j]
			j++
		}
		(*m)[key] = l
	}
	return true
}

func (d *eventDecoder) boolean(b *bool) bool {
	switch {
	case d.literal("true"):
		*b = true
	case d.literal("false"):
		*b = false
	case d.null():
	default:
		return false
	}
	return true
}

// int64 decodes an integer of up to 18 digits, which cannot overflow;
// longer ones, fractions and exponents are encoding/json's to refuse or
// decode.
func (d *eventDecoder) int64(n *int64) bool {
	if d.null() {
		return true
	}
	start := d.i
	if !d.number() {
		return false
	}
	digits := d.data[start:d.i]
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) > 18 {
		return false
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	*n = v
	return true
}

// skip checks the syntax of the value at i, nested at depth, and moves past
// it.
func (d *eventDecoder) skip(depth int) bool {
	if d.i >= len(d.data) || depth > maxDepth {
		return false
	}
	switch d.data[d.i] {
	case '"':
		return d.skipString()
	case '{':
		return d.object(func() bool {
			return d.skipString() && d.colon() && d.skip(depth+1)
		})
	case '[':
		return d.array(func() bool { return d.skip(depth + 1) })
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.null()
	}
	return d.number()
}

// skipString checks the string at i as JSON's grammar does (no control
// bytes, known escapes; any other byte passes, as encoding/json replaces
// invalid UTF-8 rather than refusing it) and moves past it.
func (d *eventDecoder) skipString() bool {
	data, i := d.data, d.i
	if i >= len(data) || data[i] != '"' {
		return false
	}
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(data) {
				return false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := canon.Hex4(data[i+2:]); !ok {
					return false
				}
				i += 5
			default:
				return false
			}
		case c < ' ':
			return false
		}
	}
	return false
}

// number checks the number at i as JSON's grammar does and moves past it.
func (d *eventDecoder) number() bool {
	data, i := d.data, d.i
	digits := func() bool {
		from := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		return i > from
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	d.i = i
	return true
}

// appendUnquoted decodes the JSON string that opens at data[i] as
// encoding/json decodes it, appended to out, and returns the index after
// its closing quote. ok is false where its answer could differ from
// encoding/json's, or the string is not valid: the caller then leaves it
// to encoding/json. It copies byte by byte: an ingest body has an escape
// every few bytes, too many for a copy call each (which measured slower,
// as did eight bytes at a time).
func appendUnquoted(out, data []byte, i int) ([]byte, int, bool) {
	for i++; i < len(data); {
		c := data[i]
		if canon.Plain(c) {
			out = append(out, c)
			i++
			continue
		}
		switch {
		case c == '"':
			return out, i + 1, true
		case c == '\\':
			if i+1 >= len(data) {
				return out, 0, false
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := canon.Hex4(data[i+2:])
				if !ok || (r >= 0xd800 && r < 0xe000) {
					return out, 0, false // surrogates: encoding/json's pairing rules decide
				}
				out = utf8.AppendRune(out, r)
				i += 4
			default:
				return out, 0, false
			}
			i += 2
		case c < ' ':
			return out, 0, false
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return out, 0, false // encoding/json substitutes U+FFFD
			}
			out = append(out, data[i:i+size]...)
			i += size
		}
	}
	return out, 0, false
}

// EncodeResponse is the response as the Lambda runtime (aws-lambda-go)
// encodes a handler's result: encoding/json, HTML characters not escaped,
// without the encoder's final newline.
func EncodeResponse(res events.APIGatewayProxyResponse) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
