package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/profile"
)

// Options tune an Admin. Zero values take the defaults.
type Options struct {
	// Timeout bounds one request; 30s when zero.
	Timeout time.Duration
	// UserAgent names the tool and its version.
	UserAgent string
	// Now is the clock used to read an HTTP-date Retry-After.
	Now func() time.Time
	// Attempts is how many times a call is sent while the hub answers that
	// it did nothing (Error.NothingDone), waiting its Retry-After (at least
	// a second) in between; 0 or 1 sends once.
	Attempts int
	// Wait waits d unless ctx ends first; nil uses a timer.
	Wait func(ctx context.Context, d time.Duration) error
}

// Admin calls the operator routes of SPEC 4 with a tenant's operator
// certificate and admin key. It is safe for concurrent use.
type Admin struct {
	base   string
	tenant string
	key    string
	hc     *http.Client
	opts   Options
}

// OpenAdmin reads the hub profile at path (hub.json) and returns a client
// for it.
func OpenAdmin(path string, opts Options) (*Admin, error) {
	info, err := profile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("open admin client: %w", err)
	}
	return NewAdmin(info, opts)
}

// NewAdmin returns a client for the hub and tenant of a profile: its url,
// admin key, CA certificate and operator certificate and key.
func NewAdmin(p profile.Info, opts Options) (*Admin, error) {
	base, err := baseURL(p.URL)
	if err != nil {
		return nil, fmt.Errorf("new admin client: %w", err)
	}
	if !strings.HasPrefix(p.AdminKey, "msa_") {
		return nil, fmt.Errorf("new admin client: admin_key must start with \"msa_\": %w", ErrConfig)
	}
	if p.CACert == "" || p.OperatorCert == "" || p.OperatorKey == "" {
		return nil, fmt.Errorf("new admin client: the profile needs ca_cert, operator_cert and operator_key: %w", ErrConfig)
	}
	roots, err := loadRoots(p.CACert)
	if err != nil {
		return nil, fmt.Errorf("new admin client: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(p.OperatorCert, p.OperatorKey)
	if err != nil {
		return nil, fmt.Errorf("new admin client: operator certificate: %w: %w", err, ErrConfig)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Admin{base: base, tenant: p.TenantID, key: p.AdminKey, hc: newHTTP(roots, cert, opts.Timeout), opts: opts}, nil
}

func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_cert %s holds no PEM certificate: %w", path, ErrConfig)
	}
	return pool, nil
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Tenant is the profile's tenant.
func (a *Admin) Tenant() string { return a.tenant }

// CloseIdle closes idle connections.
func (a *Admin) CloseIdle() { a.hc.CloseIdleConnections() }

// call sends one route, again while the hub did nothing and attempts are
// left (Retry), and checks that the answer has the status the route gives.
func (a *Admin) call(ctx context.Context, method, path string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = b
	}
	r := request{method: method, path: path, bearer: a.key, body: body, userAgent: a.opts.UserAgent}
	var status int
	err := Retry(ctx, a.opts.Attempts, a.opts.Wait, func() error {
		var err error
		status, err = do(ctx, a.hc, a.base, r, a.opts.Now, out)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status != want {
		return fmt.Errorf("%s %s: status %d, want %d: %w", method, path, status, want, ErrResponse)
	}
	return nil
}

// Retry calls fn until it succeeds, fails otherwise than with an *Error
// for which NothingDone holds, or has run attempts times (at least once).
// In between it waits the Retry-After of the last answer, at least a
// second, through wait (nil: a timer). If the wait ends early, Retry
// returns the last error joined with why.
func Retry(ctx context.Context, attempts int, wait func(context.Context, time.Duration) error, fn func() error) error {
	if wait == nil {
		wait = sleep
	}
	for try := 1; ; try++ {
		err := fn()
		var e *Error
		if !errors.As(err, &e) || !e.NothingDone() || try >= attempts {
			return err
		}
		if werr := wait(ctx, max(e.RetryAfter, time.Second)); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

// agentPath is the path of an agent route; the id is escaped, so that no
// id names another route.
func agentPath(id string, rest ...string) string {
	return "/agents/" + url.PathEscape(id) + strings.Join(rest, "")
}

// AgentToken is the answer of POST /agents and of rotate-token: the token
// is shown only here.
type AgentToken struct {
	AgentID string `json:"agent_id"`
	Token   string `json:"token"`
}

// CreateAgent creates an agent (POST /agents) and returns its token.
func (a *Admin) CreateAgent(ctx context.Context, hostname string) (AgentToken, error) {
	var in any
	if hostname != "" {
		in = map[string]string{"hostname": hostname}
	}
	var out AgentToken
	if err := a.call(ctx, http.MethodPost, "/agents", in, http.StatusCreated, &out); err != nil {
		return AgentToken{}, fmt.Errorf("create agent: %w", err)
	}
	if out.AgentID == "" || !strings.HasPrefix(out.Token, "ms_") {
		return AgentToken{}, fmt.Errorf("create agent: no agent_id and ms_ token: %w", ErrResponse)
	}
	return out, nil
}

// AgentView is the hub's record of an agent (GET /agents/{id}).
type AgentView struct {
	AgentID             string     `json:"agent_id"`
	TenantID            string     `json:"tenant_id"`
	Hostname            string     `json:"hostname"`
	OS                  string     `json:"os"`
	Arch                string     `json:"arch"`
	AgentVersion        string     `json:"agent_version"`
	MaxAgentVersion     string     `json:"max_agent_version"`
	SigningPubKeyPinned bool       `json:"signing_pubkey_pinned"`
	SigningPubKey       string     `json:"signing_pubkey"`          // "" without a pin
	SigningKeyFP        string     `json:"signing_key_fingerprint"` // SPEC 7 form
	SigningSetAt        *time.Time `json:"signing_set_at"`
	ClientCertPinned    bool       `json:"client_cert_pinned"`
	ClientCertFP        string     `json:"client_cert_fingerprint"` // SHA-256 of the DER, hex
	ClientCertNotAfter  *time.Time `json:"client_cert_not_after"`
	LastSeq             int64      `json:"last_seq"`
	LastSeen            *time.Time `json:"last_seen"`
	LastSignedAt        *time.Time `json:"last_signed_at"`
	LastUnsignedAt      *time.Time `json:"last_unsigned_at"`
	SendsUnsigned       bool       `json:"sends_unsigned"`
	RegisteredAt        *time.Time `json:"registered_at"`
	CreatedAt           time.Time  `json:"created_at"`
}

func (a *Admin) agentCall(ctx context.Context, op, method, id, rest string, out any) error {
	if err := a.call(ctx, method, agentPath(id, rest), nil, http.StatusOK, out); err != nil {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	return nil
}

// GetAgent returns an agent's record (GET /agents/{id}).
func (a *Admin) GetAgent(ctx context.Context, id string) (AgentView, error) {
	var v AgentView
	return v, a.agentCall(ctx, "get agent", http.MethodGet, id, "", &v)
}

// RotateSigningKey unsets the agent's signing-key pin (POST
// /agents/{id}/rotate-signing-key).
func (a *Admin) RotateSigningKey(ctx context.Context, id string) (AgentView, error) {
	var v AgentView
	return v, a.agentCall(ctx, "rotate signing key", http.MethodPost, id, "/rotate-signing-key", &v)
}

// RotateClientCert unpins the agent's client certificate (POST
// /agents/{id}/rotate-client-cert).
func (a *Admin) RotateClientCert(ctx context.Context, id string) (AgentView, error) {
	var v AgentView
	return v, a.agentCall(ctx, "rotate client certificate", http.MethodPost, id, "/rotate-client-cert", &v)
}

// RotateToken gives the agent a new token; the old one stops working
// (POST /agents/{id}/rotate-token).
func (a *Admin) RotateToken(ctx context.Context, id string) (AgentToken, error) {
	var v AgentToken
	if err := a.agentCall(ctx, "rotate token", http.MethodPost, id, "/rotate-token", &v); err != nil {
		return AgentToken{}, err
	}
	if !strings.HasPrefix(v.Token, "ms_") {
		return AgentToken{}, fmt.Errorf("rotate token %s: no ms_ token: %w", id, ErrResponse)
	}
	return v, nil
}

// AnomalyQuery selects anomalies; zero fields select all.
type AnomalyQuery struct {
	Status  anomaly.Status // open or closed
	Kind    anomaly.Kind
	AgentID string
	Cursor  string // a page's NextCursor
	Limit   int    // 0: the hub's default
}

// AnomalyPage is one page of anomalies; NextCursor is "" on the last.
type AnomalyPage struct {
	Anomalies  []anomaly.Anomaly `json:"anomalies"`
	NextCursor string            `json:"next_cursor"`
}

// Anomalies lists one page of the tenant's anomalies (GET /anomalies).
func (a *Admin) Anomalies(ctx context.Context, q AnomalyQuery) (AnomalyPage, error) {
	path := listPath("/anomalies", map[string]string{"status": string(q.Status), "kind": string(q.Kind), "agent_id": q.AgentID, "cursor": q.Cursor}, q.Limit)
	var p AnomalyPage
	if err := a.call(ctx, http.MethodGet, path, nil, http.StatusOK, &p); err != nil {
		return AnomalyPage{}, fmt.Errorf("list anomalies: %w", err)
	}
	return p, nil
}

// AgentQuery selects agents; zero fields select all.
type AgentQuery struct {
	Status string // pinned, legacy, stale or attention
	Cursor string // a page's NextCursor
	Limit  int    // 0: the hub's default
}

// AgentPage is one page of agents; NextCursor is "" on the last.
type AgentPage struct {
	Agents     []AgentView `json:"agents"`
	NextCursor string      `json:"next_cursor"`
}

// listPath is path with the query values that are set.
func listPath(path string, q map[string]string, limit int) string {
	v := url.Values{}
	for k, s := range q {
		if s != "" {
			v.Set(k, s)
		}
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return path
}

// ListAgents lists one page of the tenant's agents (GET /agents).
func (a *Admin) ListAgents(ctx context.Context, q AgentQuery) (AgentPage, error) {
	var p AgentPage
	path := listPath("/agents", map[string]string{"status": q.Status, "cursor": q.Cursor}, q.Limit)
	if err := a.call(ctx, http.MethodGet, path, nil, http.StatusOK, &p); err != nil {
		return AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	return p, nil
}

// PackSummary is a pack as GET /evidence-packs lists it: no link.
type PackSummary struct {
	PackID         string `json:"pack_id"`
	Status         string `json:"status"`
	PeriodStart    string `json:"period_start"`
	PeriodEnd      string `json:"period_end"`
	RequestedAt    string `json:"requested_at"`
	GeneratedAt    string `json:"generated_at"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// PackPage is one page of packs, newest first; NextCursor is "" on the last.
type PackPage struct {
	Packs      []PackSummary `json:"packs"`
	NextCursor string        `json:"next_cursor"`
}

// ListPacks lists one page of the tenant's packs (GET /evidence-packs).
func (a *Admin) ListPacks(ctx context.Context, cursor string, limit int) (PackPage, error) {
	var p PackPage
	if err := a.call(ctx, http.MethodGet, listPath("/evidence-packs", map[string]string{"cursor": cursor}, limit), nil, http.StatusOK, &p); err != nil {
		return PackPage{}, fmt.Errorf("list packs: %w", err)
	}
	return p, nil
}

// LogCheckpoint returns the transparency log's checkpoint as the hub serves
// it (GET /log/checkpoint, SPEC 10), byte for byte.
func (a *Admin) LogCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	if err := a.call(ctx, http.MethodGet, "/log/checkpoint", nil, http.StatusOK, &b); err != nil {
		return nil, fmt.Errorf("log checkpoint: %w", err)
	}
	return b, nil
}

// Pack states (SPEC 4).
const (
	PackPending = "pending"
	PackReady   = "ready"
	PackFailed  = "failed"
)

// Pack is an evidence pack as the hub reports it; the fields after
// RequestedAt are set once it is ready (Reason once it failed).
type Pack struct {
	PackID         string     `json:"pack_id"`
	Status         string     `json:"status"`
	PeriodStart    string     `json:"period_start"`
	PeriodEnd      string     `json:"period_end"`
	RequestedAt    time.Time  `json:"requested_at"`
	GeneratedAt    string     `json:"generated_at"`
	FileName       string     `json:"file_name"`
	Size           int64      `json:"size"`
	Records        int64      `json:"records"`
	SigningKeyID   string     `json:"signing_key_id"`
	ManifestSHA256 string     `json:"manifest_sha256"`
	PreviousPack   *PackRef   `json:"previous_pack"`
	DownloadURL    string     `json:"download_url"` // a fresh presigned GET
	ExpiresAt      *time.Time `json:"expires_at"`
	Reason         string     `json:"reason"`
}

// PackRef names the pack before another in the tenant's chain.
type PackRef struct {
	PackID         string `json:"pack_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// RequestPack asks for the evidence pack of a period (POST
// /evidence-packs); the bounds are sent as RFC 3339 UTC, to the second.
func (a *Admin) RequestPack(ctx context.Context, start, end time.Time) (Pack, error) {
	in := map[string]string{"period_start": start.UTC().Format(time.RFC3339), "period_end": end.UTC().Format(time.RFC3339)}
	var p Pack
	if err := a.call(ctx, http.MethodPost, "/evidence-packs", in, http.StatusAccepted, &p); err != nil {
		return Pack{}, fmt.Errorf("request pack: %w", err)
	}
	if p.PackID == "" {
		return Pack{}, fmt.Errorf("request pack: no pack_id: %w", ErrResponse)
	}
	return p, nil
}

// GetPack reports a pack (GET /evidence-packs/{id}); a ready one comes with
// a fresh download link, valid for linkTTL (0: the hub's default).
func (a *Admin) GetPack(ctx context.Context, id string, linkTTL time.Duration) (Pack, error) {
	path := "/evidence-packs/" + url.PathEscape(id)
	if linkTTL > 0 {
		path += "?expires_in=" + strconv.FormatInt(int64((linkTTL+time.Second-1)/time.Second), 10)
	}
	var p Pack
	if err := a.call(ctx, http.MethodGet, path, nil, http.StatusOK, &p); err != nil {
		return Pack{}, fmt.Errorf("get pack %s: %w", id, err)
	}
	if p.Status == PackReady && p.DownloadURL == "" {
		return Pack{}, fmt.Errorf("get pack %s: ready without download_url: %w", id, ErrResponse)
	}
	return p, nil
}

// PackKey is the tenant's pack-signing key after a rotation.
type PackKey struct {
	TenantID     string          `json:"tenant_id"`
	SigningKeyID string          `json:"signing_key_id"`
	Fingerprint  string          `json:"fingerprint"` // what verify.py --expect-fingerprint takes
	Lineage      json.RawMessage `json:"key_lineage"` // key_lineage.json's entries
}

// RotatePackKey rotates the tenant's pack-signing key (POST
// /signing-keys/rotate, SPEC 7).
func (a *Admin) RotatePackKey(ctx context.Context) (PackKey, error) {
	var k PackKey
	if err := a.call(ctx, http.MethodPost, "/signing-keys/rotate", nil, http.StatusOK, &k); err != nil {
		return PackKey{}, fmt.Errorf("rotate pack-signing key: %w", err)
	}
	if k.SigningKeyID == "" || k.Fingerprint == "" {
		return PackKey{}, fmt.Errorf("rotate pack-signing key: no signing_key_id and fingerprint: %w", ErrResponse)
	}
	return k, nil
}

// Download copies what a pack's presigned link (Pack.DownloadURL) serves
// into w and returns how many bytes it wrote. The link is S3's, not the
// hub's: it is fetched without any certificate or admin key.
func Download(ctx context.Context, link string, w io.Writer) (int64, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return 0, fmt.Errorf("download: %q is not a link: %w", link, ErrResponse)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("download: HTTP %d: %.200s: %w", resp.StatusCode, b, ErrResponse)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	return n, nil
}
