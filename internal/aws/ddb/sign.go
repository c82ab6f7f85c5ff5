package ddb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sigV4 signs the client's requests with AWS Signature Version 4, for the
// one shape they have: POST / with no query, and the headers the client
// sets (Accept-Encoding, Content-Length, Content-Type, Host, X-Amz-Date,
// the session token if any, X-Amz-Target; User-Agent and X-Amzn-Trace-Id are never signed).
// For that shape the canonical request is one fixed template, built in one
// buffer, and the signing key is derived once a day: about a fifth of the
// CPU of the SDK's general signer, which builds, sorts and joins the
// headers of each request anew (docs/dynamodb.md, "A DynamoDB client of
// our own"). TestSignAsTheSDK holds it to the SDK's signer, byte for byte,
// and the client sends with the SDK's signer whenever the request is not
// of that shape (an endpoint that adds headers, a value with spaces the
// canonical form would fold, a signer other than the SDK's default).
type sigV4 struct {
	host, region string

	mu  sync.Mutex
	key *signingKey // the last one derived
}

// signingKey is a derived key and the HMACs keyed with it, for reuse.
type signingKey struct {
	secret, day string
	macs        sync.Pool // of hash.Hash
}

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	sigService   = "dynamodb"
)

// canSign reports whether s's template covers a request with these
// credentials and endpoint headers.
func (s *sigV4) canSign(creds aws.Credentials, endpointHeaders http.Header) bool {
	return len(endpointHeaders) == 0 && plainValue(creds.SessionToken) && plainValue(creds.AccessKeyID)
}

// plainValue is a header value the canonical form keeps as it is: no
// spaces to trim or fold, no control characters.
func plainValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// sign sets X-Amz-Date, X-Amz-Security-Token and Authorization on h, the
// headers of a request of op with a body of n bytes whose SHA-256 is
// payloadHash, at time t (UTC).
func (s *sigV4) sign(h http.Header, creds aws.Credentials, op string, n int, payloadHash string, t time.Time) {
	var dateBuf [16]byte
	date := t.AppendFormat(dateBuf[:0], "20060102T150405Z")
	day := date[:8]
	vals := make([]string, 3) // one array for the three values
	vals[0] = string(date)
	h["X-Amz-Date"] = vals[0:1:1]
	if creds.SessionToken != "" {
		vals[1] = creds.SessionToken
		h["X-Amz-Security-Token"] = vals[1:2:2]
	}

	// Content-Length is signed when there is a body (the SDK's rule).
	signed := signedHeaders[boolIndex(n > 0)*2+boolIndex(creds.SessionToken != "")]
	bp := signScratch.Get().(*[]byte)
	defer signScratch.Put(bp)
	b := (*bp)[:0]
	b = append(b, "POST\n/\n\naccept-encoding:identity\n"...)
	if n > 0 {
		b = append(b, "content-length:"...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, '\n')
	}
	b = append(b, "content-type:application/x-amz-json-1.0\nhost:"...)
	b = append(b, s.host...)
	b = append(b, "\nx-amz-date:"...)
	b = append(b, date...)
	if creds.SessionToken != "" {
		b = append(b, "\nx-amz-security-token:"...)
		b = append(b, creds.SessionToken...)
	}
	b = append(b, "\nx-amz-target:DynamoDB_20120810."...)
	b = append(b, op...)
	b = append(b, "\n\n"...)
	b = append(b, signed...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonical := sha256.Sum256(b)

	b = append(b[:0], sigAlgorithm+"\n"...)
	b = append(b, date...)
	b = append(b, '\n')
	b = s.appendScope(b, day)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonical[:])
	key := s.keyFor(creds.SecretAccessKey, string(day))
	mac := key.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(b)
	var sum [sha256.Size]byte
	sig := mac.Sum(sum[:0])
	key.macs.Put(mac)

	b = append(b[:0], sigAlgorithm+" Credential="...)
	b = append(b, creds.AccessKeyID...)
	b = append(b, '/')
	b = s.appendScope(b, day)
	b = append(b, ", SignedHeaders="...)
	b = append(b, signed...)
	b = append(b, ", Signature="...)
	b = hex.AppendEncode(b, sig)
	vals[2] = string(b)
	h["Authorization"] = vals[2:3:3]
	*bp = b
}

// appendScope appends the credential scope of day.
func (s *sigV4) appendScope(b, day []byte) []byte {
	b = append(b, day...)
	b = append(b, '/')
	b = append(b, s.region...)
	return append(b, "/"+sigService+"/aws4_request"...)
}

// signScratch are the signer's buffers (the canonical request, the string to
// sign, the header: about 1.5 KB with a role's session token).
var signScratch = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// signedHeaders are the SignedHeaders of a request without and with a
// body (Content-Length), each without and with a session token.
var signedHeaders = [4]string{
	"accept-encoding;content-type;host;x-amz-date;x-amz-target",
	"accept-encoding;content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
	"accept-encoding;content-length;content-type;host;x-amz-date;x-amz-target",
	"accept-encoding;content-length;content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keyFor is the signing key of secret on day, derived again only when
// either changes (a role's credentials rotate every few hours).
func (s *sigV4) keyFor(secret, day string) *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil && s.key.secret == secret && s.key.day == day {
		return s.key
	}
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, sigService)
	k = hmacSHA256(k, "aws4_request")
	s.key = &signingKey{secret: secret, day: day}
	s.key.macs.New = func() any { return hmac.New(sha256.New, k) }
	return s.key
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingHost is the Host header's value as the signer sees it: the
// endpoint's host, without the scheme's default port.
func signingHost(scheme, host string) string {
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.Contains(port, ":") &&
		(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		return h
	}
	return host
}
