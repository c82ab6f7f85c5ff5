package client

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/monsys/hub/internal/sig"
)

// AgentConfig configures an Agent.
type AgentConfig struct {
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

// Agent calls the agent routes of SPEC 4.1 and 4.2. It is safe for
// concurrent use.
type Agent struct {
	base string
	cfg  AgentConfig

	mu      sync.Mutex
	clients map[[32]byte]*http.Client // by client certificate
}

// NewAgent checks cfg and returns a client.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	base, err := baseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("new agent client: %w", err)
	}
	if !strings.HasPrefix(cfg.Token, "ms_") {
		return nil, fmt.Errorf("new agent client: agent token must start with \"ms_\": %w", ErrConfig)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Agent{base: base, cfg: cfg, clients: map[[32]byte]*http.Client{}}, nil
}

// httpClient returns an HTTP client presenting cert; one per certificate, so
// connections made with the enrollment certificate never carry ingest.
func (c *Agent) httpClient(cert tls.Certificate) (*http.Client, error) {
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
	hc := newHTTP(c.cfg.Roots, cert, c.cfg.Timeout)
	c.clients[key] = hc
	return hc, nil
}

// CloseIdle closes idle connections of every identity.
func (c *Agent) CloseIdle() {
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
func (c *Agent) Register(ctx context.Context, cert tls.Certificate, req RegisterRequest) (RegisterResponse, error) {
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
func (c *Agent) Ingest(ctx context.Context, cert tls.Certificate, body []byte, signature string) (IngestResponse, error) {
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

func (c *Agent) do(ctx context.Context, cert tls.Certificate, path string, body []byte, hdr http.Header, out any) (int, error) {
	hc, err := c.httpClient(cert)
	if err != nil {
		return 0, err
	}
	return do(ctx, hc, c.base, request{method: http.MethodPost, path: path, bearer: c.cfg.Token, body: body,
		header: hdr, userAgent: c.cfg.UserAgent}, c.cfg.Now, out)
}
