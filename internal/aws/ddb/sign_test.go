package ddb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSignAsTheSDK holds the template signer to the SDK's signer: for
// requests as the client builds them, across endpoints (default and other
// ports), regions, operations, bodies, credentials with and without a
// session token, secrets that rotate and days that change, both give the
// same headers, byte for byte.
func TestSignAsTheSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	endpoints := []string{"https://dynamodb.eu-west-1.amazonaws.com", "https://dynamodb.us-east-1.amazonaws.com:443",
		"http://127.0.0.1:8000", "http://localhost:80", "https://dynamodb-fips.us-gov-west-1.amazonaws.com", "http://[::1]:4566"}
	regions := []string{"eu-west-1", "us-east-1", "us-gov-west-1", "ap-southeast-2"}
	ops := []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}
	secrets := []string{testSecret, "AnotherSecret/with+chars=", "x"}
	sdk := v4.NewSigner()
	t0 := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)
	for i := range 2000 {
		ep, err := url.Parse(endpoints[rng.IntN(len(endpoints))])
		if err != nil {
			t.Fatal(err)
		}
		region := regions[rng.IntN(len(regions))]
		op := ops[rng.IntN(len(ops))]
		body := bytes.Repeat([]byte{'{', '"', 'a', '}'}, rng.IntN(3000))
		creds := aws.Credentials{AccessKeyID: fmt.Sprintf("ASIA%016d", rng.IntN(1e6)), SecretAccessKey: secrets[rng.IntN(len(secrets))]}
		if rng.IntN(3) > 0 {
			creds.SessionToken = strings.Repeat("IQoJb3JpZ2luX2Vj/+=", 1+rng.IntN(60))
		}
		at := t0.Add(time.Duration(rng.IntN(4)) * time.Second) // across midnight and the new year
		hash := sha256Hex(body)
		s := &sigV4{host: signingHost(ep.Scheme, ep.Host), region: region}
		if !s.canSign(creds, nil) {
			t.Fatalf("case %d: template refused %+v", i, creds)
		}
		ours := clientRequest(t, ep.String()+"/", op, body)
		s.sign(ours.Header, creds, op, len(body), hash, at)
		theirs := clientRequest(t, ep.String()+"/", op, body)
		if err := sdk.SignHTTP(t.Context(), creds, theirs, hash, "dynamodb", region, at); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
			if o, th := ours.Header.Values(k), theirs.Header.Values(k); strings.Join(o, "|") != strings.Join(th, "|") {
				t.Fatalf("case %d (%s %s %s): %s\n ours %q\n sdk  %q", i, ep, region, op, k, o, th)
			}
		}
		if len(ours.Header) != len(theirs.Header) {
			t.Fatalf("case %d: headers %v, the SDK's %v", i, ours.Header, theirs.Header)
		}
	}
}

// clientRequest is a request with the headers the client sets before signing.
func clientRequest(t *testing.T, u, op string, body []byte) *http.Request {
	r, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header["Accept-Encoding"] = []string{"identity"}
	r.Header["Content-Type"] = []string{"application/x-amz-json-1.0"}
	r.Header["X-Amz-Target"] = []string{"DynamoDB_20120810." + op}
	r.Header["User-Agent"] = []string{"ua"}
	r.Header["X-Amzn-Trace-Id"] = []string{"Root=1-2-3"}
	return r
}

// TestSignTemplateRefuses: what the template does not cover goes to the
// SDK's signer.
func TestSignTemplateRefuses(t *testing.T) {
	s := &sigV4{host: "h", region: "r"}
	for _, tc := range []struct {
		name  string
		creds aws.Credentials
		hdr   http.Header
	}{
		{"fail/token-with-space", aws.Credentials{AccessKeyID: "A", SessionToken: "a b"}, nil},
		{"fail/token-with-newline", aws.Credentials{AccessKeyID: "A", SessionToken: "ab\n"}, nil},
		{"fail/key-with-space", aws.Credentials{AccessKeyID: " A"}, nil},
		{"fail/endpoint-headers", aws.Credentials{AccessKeyID: "A"}, http.Header{"X-Extra": {"1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s.canSign(tc.creds, tc.hdr) {
				t.Error("template took it")
			}
		})
	}
	if !s.canSign(aws.Credentials{AccessKeyID: "A", SessionToken: "t"}, nil) {
		t.Error("template refused a plain request")
	}
}

// TestClientSignsWithTheSDKSignerOtherwise: a client whose endpoint adds
// headers signs them (with the SDK's signer).
func TestClientSignsWithTheSDKSignerOtherwise(t *testing.T) {
	s := &script{answers: []answer{{status: 200, body: `{}`}}}
	c, _ := newTestClient(t, s)
	c.header = http.Header{"X-Endpoint-Extra": {"v"}}
	if _, err := send(c, t.Context(), `{}`); err != nil {
		t.Fatal(err)
	}
	if auth := s.reqs[0].Header.Get("Authorization"); !strings.Contains(auth, "x-endpoint-extra") {
		t.Fatalf("endpoint header not signed: %s", auth)
	}
}

func BenchmarkSign(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: strings.Repeat("IQoJb3JpZ2luX2VjEXAMPLE", 36)}
	body := bytes.Repeat([]byte("x"), 1000)
	hash := sha256Hex(body)
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	b.Run("template", func(b *testing.B) {
		s := &sigV4{host: "dynamodb.eu-west-1.amazonaws.com", region: "eu-west-1"}
		b.ReportAllocs()
		for range b.N {
			r := clientRequest(nil, "https://dynamodb.eu-west-1.amazonaws.com/", "PutItem", body)
			s.sign(r.Header, creds, "PutItem", len(body), hash, at)
		}
	})
	b.Run("sdk", func(b *testing.B) {
		s := v4.NewSigner()
		b.ReportAllocs()
		for range b.N {
			r := clientRequest(nil, "https://dynamodb.eu-west-1.amazonaws.com/", "PutItem", body)
			if err := s.SignHTTP(b.Context(), creds, r, hash, "dynamodb", "eu-west-1", at); err != nil {
				b.Fatal(err)
			}
		}
	})
}
