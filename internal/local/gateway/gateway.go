// Package gateway plays API Gateway on one machine (SPEC 1.1, 5): a TLS
// listener that demands a client certificate from the hub CA, and a handler
// that turns each HTTPS request into the REST API proxy event (payload v1)
// API Gateway would send, hands it to the function and writes its answer
// back. The local hub and the in-process test hub (hubtest) serve the core
// through it.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// maxGatewayBody is API Gateway's payload limit.
const maxGatewayBody = 10 << 20

// Func is what runs behind the gateway: a Lambda function's handler.
type Func func(context.Context, events.APIGatewayProxyRequest) events.APIGatewayProxyResponse

// Handler plays API Gateway in front of fn: one proxy event per request,
// stamped with now, and the gateway's own answers (body over 10 MiB,
// unreadable body) before fn runs.
func Handler(fn Func, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := RequestID()
		body, tooBig, err := readBody(r)
		if err != nil {
			WriteError(w, id, http.StatusBadRequest, "invalid_request", "could not read the request body")
			return
		}
		if tooBig {
			WriteError(w, id, http.StatusRequestEntityTooLarge, "payload_too_large", "request is over API Gateway's 10 MiB limit")
			return
		}
		writeProxyResponse(w, fn(r.Context(), proxyEvent(r, body, now(), id)))
	})
}

// Listen listens on addr with TLS 1.2 or later, presenting cert and, as API
// Gateway mutual TLS does, refusing in the handshake any client without a
// certificate that clientCAs verify at the time now gives (nil: real time).
func Listen(addr string, cert tls.Certificate, clientCAs *x509.CertPool, now func() time.Time) (net.Listener, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs, Time: now}
	ln, err := tls.Listen("tcp", addr, tc)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// proxyEvent turns an HTTPS request into the REST API proxy event (payload v1)
// that API Gateway sends for a greedy {proxy+} resource, with the mutual-TLS
// client certificate filled in as API Gateway does; id is its requestId.
func proxyEvent(r *http.Request, body []byte, now time.Time, id string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource:                        "/{proxy+}",
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         map[string]string{},
		MultiValueHeaders:               map[string][]string{},
		QueryStringParameters:           map[string]string{},
		MultiValueQueryStringParameters: map[string][]string{},
		PathParameters:                  map[string]string{"proxy": strings.TrimPrefix(r.URL.Path, "/")},
		StageVariables:                  map[string]string{},
	}
	for k, vs := range r.Header {
		ev.Headers[k] = vs[len(vs)-1]
		ev.MultiValueHeaders[k] = vs
	}
	for k, vs := range r.URL.Query() {
		ev.QueryStringParameters[k] = vs[len(vs)-1]
		ev.MultiValueQueryStringParameters[k] = vs
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev.RequestContext = events.APIGatewayProxyRequestContext{
		AccountID: "000000000000", Stage: "local", DomainName: r.Host, RequestID: id,
		Protocol: r.Proto, HTTPMethod: r.Method, Path: r.URL.Path, ResourcePath: "/{proxy+}",
		RequestTime: now.UTC().Format("02/Jan/2006:15:04:05 -0700"), RequestTimeEpoch: now.UnixMilli(), APIID: "local",
		Identity: events.APIGatewayRequestIdentity{SourceIP: host, UserAgent: r.UserAgent()},
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		ev.RequestContext.Identity.ClientCert = clientCert(r.TLS.PeerCertificates[0])
	}
	return ev
}

// clientCert renders the certificate the way API Gateway documents it.
func clientCert(c *x509.Certificate) *events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert {
	const layout = "Jan _2 15:04:05 2006 GMT"
	serial := c.SerialNumber.Bytes()
	hexPairs := make([]string, len(serial))
	for i, b := range serial {
		hexPairs[i] = hex.EncodeToString([]byte{b})
	}
	return &events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert{
		ClientCertPem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
		SubjectDN:     c.Subject.String(),
		IssuerDN:      c.Issuer.String(),
		SerialNumber:  strings.Join(hexPairs, ":"),
		Validity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCertValidity{
			NotBefore: c.NotBefore.UTC().Format(layout), NotAfter: c.NotAfter.UTC().Format(layout)},
	}
}

// RequestID returns a new request id in API Gateway's form.
func RequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// WriteError writes an answer the gateway gives itself, before any
// function runs, as the gateway responses of template.yaml do: the SPEC 4
// envelope with the request's id ($context.requestId there).
func WriteError(w http.ResponseWriter, id string, status int, code, message string) {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	env.Error.Code, env.Error.Message, env.RequestID = code, message, id
	b, _ := json.Marshal(env) // a struct of strings always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", id)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeProxyResponse writes a proxy response back as HTTP.
func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// readBody reads at most API Gateway's limit; over it the gateway answers 413.
func readBody(r *http.Request) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxGatewayBody+1))
	if err != nil {
		return nil, false, err
	}
	return b, len(b) > maxGatewayBody, nil
}
