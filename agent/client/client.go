// Package client speaks the hub's agent API (SPEC 4) over mutual TLS:
// registration and signed ingest, with the error envelope, 409 last_seq and
// Retry-After turned into a typed *Error.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"sync"
	"time"

	"github.com/monsys/hub/internal/sig"
)

// maxResponse bounds how much of a response the agent reads.
const maxResponse = 1 << 20

// Error codes of SPEC 4 the agent acts on.
const (
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeSignatureMissing = "signature_missing"
	CodeSignatureInvalid = "signature_invalid"
	CodeCertPinMismatch  = "cert_pin_mismatch"
	CodeReplayRejected   = "replay_rejected"
	CodeInvalidRequest   = "invalid_request"
	CodeTooLarge         = "payload_too_large"
	CodeThrottled        = "throttled"
	CodeUnavailable      = "unavailable"
)

// Sentinel errors.
var (
	// ErrConfig means the client configuration cannot work.
	ErrConfig = errors.New("invalid client configuration")
	// ErrResponse means the hub answered with something off contract.
	ErrResponse = errors.New("unexpected hub response")
)

// Error is a non-2xx answer of the hub.
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

// Config configures a Client.
type Config struct {
	// URL is the hub's base URL, e.g. https://hub.example.com; the API
	// prefix /api/v1 is added by the client.
	URL string
	// Token is the agent token ("ms_..."); it is sent, never logged.
	Token string
	// Roots verifies the hub's server certificate; nil uses the system pool.
	Roots *x509.CertPool
	// UserAgent names the agent and its version.
	UserAgent string
	// Timeout bounds one request; 30s when zero.
	Timeout time.Duration
	// Now is the clock used to read an HTTP-date Retry-After.
	Now func() time.Time
}

// Client is safe for concurrent use.
type Client struct {
	base *url.URL
	cfg  Config

	mu      sync.Mutex
	clients map[[32]byte]*http.Client // by client certificate
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("new client: hub url %q must be https://host[:port]: %w", cfg.URL, ErrConfig)
	}
	if !strings.HasPrefix(cfg.Token, "ms_") {
		return nil, fmt.Errorf("new client: agent token must start with \"ms_\": %w", ErrConfig)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1"
	return &Client{base: u, cfg: cfg, clients: map[[32]byte]*http.Client{}}, nil
}

// httpClient returns an HTTP client presenting cert; one per certificate, so
// connections made with the enrollment certificate never carry ingest.
func (c *Client) httpClient(cert tls.Certificate) (*http.Client, error) {
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("no client certificate: %w", ErrConfig)
	}
	key := sha256.Sum256(cert.Certificate[0])
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.clients[key]; ok {
		return hc, nil
	}
	if len(c.clients) >= 4 { // old identities after renewals
		for k, hc := range c.clients {
			hc.CloseIdleConnections()
			delete(c.clients, k)
		}
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      c.cfg.Roots,
			Certificates: []tls.Certificate{cert},
		},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConns:        2,
		ForceAttemptHTTP2:   true,
	}
	hc := &http.Client{Transport: tr, Timeout: c.cfg.Timeout}
	c.clients[key] = hc
	return hc, nil
}

// CloseIdle closes idle connections of every identity.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hc := range c.clients {
		hc.CloseIdleConnections()
	}
}

// RegisterRequest is the body of POST /agents/register (SPEC 4.1).
type RegisterRequest struct {
	Hostname      string `json:"hostname"`
	AgentVersion  string `json:"agent_version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	SigningPubkey string `json:"signing_pubkey,omitempty"`
	CSR           string `json:"csr,omitempty"`
}

// RegisterResponse is the hub's 200 answer to a registration.
type RegisterResponse struct {
	AgentID             string `json:"agent_id"`
	SigningPubkeyPinned bool   `json:"signing_pubkey_pinned"`
	SigningSetAt        string `json:"signing_set_at,omitempty"`
	ClientCert          string `json:"client_cert,omitempty"`
}

// Register registers the agent, presenting cert (the enrollment certificate
// the first time, the agent's own certificate afterwards).
func (c *Client) Register(ctx context.Context, cert tls.Certificate, req RegisterRequest) (RegisterResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return RegisterResponse{}, fmt.Errorf("register: %w", err)
	}
	var out RegisterResponse
	if _, err := c.do(ctx, cert, "/agents/register", body, nil, &out); err != nil {
		return RegisterResponse{}, fmt.Errorf("register: %w", err)
	}
	if out.AgentID == "" {
		return RegisterResponse{}, fmt.Errorf("register: no agent_id: %w", ErrResponse)
	}
	if req.CSR != "" && out.ClientCert == "" {
		return RegisterResponse{}, fmt.Errorf("register: csr sent but no client_cert returned: %w", ErrResponse)
	}
	return out, nil
}

// IngestResponse is the hub's 2xx answer to an ingest.
type IngestResponse struct {
	Status    int  `json:"-"`
	Accepted  int  `json:"accepted"`
	Duplicate bool `json:"duplicate"`
}

// Ingest sends a body with its signature (empty: unsigned) over cert.
func (c *Client) Ingest(ctx context.Context, cert tls.Certificate, body []byte, signature string) (IngestResponse, error) {
	hdr := http.Header{}
	if signature != "" {
		hdr.Set(sig.Header, signature)
	}
	var out IngestResponse
	status, err := c.do(ctx, cert, "/ingest", body, hdr, &out)
	if err != nil {
		return IngestResponse{}, fmt.Errorf("ingest: %w", err)
	}
	out.Status = status
	return out, nil
}

func (c *Client) do(ctx context.Context, cert tls.Certificate, path string, body []byte, hdr http.Header, out any) (int, error) {
	hc, err := c.httpClient(cert)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, c.apiError(resp, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("status %d, body not JSON: %w", resp.StatusCode, ErrResponse)
	}
	return resp.StatusCode, nil
}

func (c *Client) apiError(resp *http.Response, raw []byte) *Error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
		LastSeq   *int64 `json:"last_seq"`
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(raw, &env) == nil {
		e.Code, e.Message, e.RequestID = env.Error.Code, env.Error.Message, env.RequestID
		if env.LastSeq != nil {
			e.LastSeq, e.HasLastSeq = *env.LastSeq, true
		}
	}
	if e.Code == "" {
		e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(resp.StatusCode)), " ", "_")
	}
	e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	return e
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// Anything else, or a date in the past, gives 0.
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
