// Package client speaks the hub's HTTP API (SPEC 4) over mutual TLS. Agent
// calls the agent routes (register, ingest) with the certificate the caller
// presents; Admin calls the operator routes with the operator certificate
// and admin key of a hub profile (hub.json, SPEC 1.1 and 11). An answer
// outside 2xx is an *Error that carries the status, the SPEC 4 envelope's
// code and message, and the wait Retry-After asks for.
//
// It prints nothing and exits nothing: monsys-agent, the operator's tools
// and tests build on it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prefix is the path prefix of every route (SPEC 4).
const Prefix = "/api/v1"

// maxResponse bounds how much of an answer is read.
const maxResponse = 1 << 20

// Error codes of SPEC 4.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeSignatureMissing = "signature_missing"
	CodeSignatureInvalid = "signature_invalid"
	CodeCertPinMismatch  = "cert_pin_mismatch"
	CodeNotFound         = "not_found"
	CodeReplayRejected   = "replay_rejected"
	CodeConflict         = "conflict"
	CodeTooLarge         = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeThrottled        = "throttled"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// Sentinel errors.
var (
	// ErrConfig means the client configuration cannot work.
	ErrConfig = errors.New("invalid client configuration")
	// ErrResponse means the hub answered with something off contract.
	ErrResponse = errors.New("unexpected hub response")
)

// Error is an answer of the hub outside 2xx.
type Error struct {
	Status     int
	Code       string
	Message    string
	RequestID  string
	LastSeq    int64         // set with HasLastSeq on 409 replay_rejected
	HasLastSeq bool          //
	RetryAfter time.Duration // from the Retry-After header, 0 if absent
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("hub answered %d %s", e.Status, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// Transient reports whether the same request may succeed later unchanged:
// throttling, unavailability, server errors.
func (e *Error) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// NothingDone reports whether SPEC 4 says the request changed nothing and
// may be sent again as it is: 429 throttled and 503 unavailable ("nothing
// was stored"), 409 conflict ("a concurrent change of the same thing won;
// retry").
func (e *Error) NothingDone() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable ||
		e.Status == http.StatusConflict && e.Code == CodeConflict
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// Anything else, or a date in the past, gives 0; delay seconds are capped
// at a day.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// baseURL checks a hub URL and returns it with the API prefix.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("hub url %q must be https://host[:port]: %w", raw, ErrConfig)
	}
	u.Path = strings.TrimRight(u.Path, "/") + Prefix
	return u.String(), nil
}

// newHTTP returns an HTTP client over mutual TLS: roots verify the hub (nil:
// the system pool), cert is presented.
func newHTTP(roots *x509.CertPool, cert tls.Certificate, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
		},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConns:        2,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// request is one call of a route.
type request struct {
	method, path string
	bearer       string
	body         []byte // sent as application/json when not nil
	header       http.Header
	userAgent    string
}

// do sends r and decodes a 2xx answer into out (nil: the body is not read
// as JSON; a *[]byte: the body as it is). Any other answer is an *Error.
func do(ctx context.Context, hc *http.Client, base string, r request, now func() time.Time, out any) (int, error) {
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+r.bearer)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.userAgent != "" {
		req.Header.Set("User-Agent", r.userAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, ParseError(resp.StatusCode, resp.Header, raw, now())
	}
	if b, ok := out.(*[]byte); ok {
		*b = raw
		return resp.StatusCode, nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("status %d, answer is not the expected JSON: %w", resp.StatusCode, ErrResponse)
		}
	}
	return resp.StatusCode, nil
}

// ParseError reads an answer outside 2xx: the SPEC 4 envelope in body and
// the Retry-After header, read at now. An answer that is not an envelope (a
// proxy's HTML page) still gives the status and a code made from it.
func ParseError(status int, header http.Header, body []byte, now time.Time) *Error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
		LastSeq   *int64 `json:"last_seq"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Message, e.RequestID = env.Error.Code, env.Error.Message, env.RequestID
		if env.LastSeq != nil {
			e.LastSeq, e.HasLastSeq = *env.LastSeq, true
		}
	}
	if e.Code == "" {
		e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	}
	e.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), now)
	return e
}
