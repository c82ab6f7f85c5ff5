// Package hubtest is a test double of the monsys hub's agent surface: a real
// TLS listener that demands client certificates, and just enough of SPEC 4
// and 5 (register with TOFU pinning and CSR issuance, signed ingest with the
// checks of SPEC 4.2 in order) to exercise the agent end to end. It keeps
// every accepted record so tests can count them. It is not the hub.
package hubtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsys/hub/internal/sig"
)

// Tenant is the fake hub's only tenant.
const Tenant = "demo"

const maxBody = 256 << 10

// Failure is an error answer a test injects.
type Failure struct {
	Status     int
	Code       string
	RetryAfter string
}

// Agent is the hub's record of one agent.
type Agent struct {
	ID            string
	Token         string
	Pubkey        ed25519.PublicKey // nil: no signing pin
	SigningSetAt  time.Time
	PinRotated    bool // the admin unset the pin and no key was pinned since
	CertFP        string
	LastSeq       int64
	LastBody      []byte
	Records       []json.RawMessage // every accepted record, headers excluded
	Seqs          []int64           // seq of every accepted batch, in order
	Batches       int
	Duplicates    int
	Replays       int
	Unsigned      int
	Registrations int
	Forged        int // ingests refused for a bad signature
}

// Hub is a running fake hub.
type Hub struct {
	// URL is the base URL (https://127.0.0.1:port), without /api/v1.
	URL string
	// CAFile verifies the server and issued the enrollment certificate.
	CAFile, EnrollCertFile, EnrollKeyFile string

	srv  *httptest.Server
	ca   *ca
	down atomic.Bool

	mu     sync.Mutex
	agents map[string]*Agent // by token
	nextID int
	now    func() time.Time

	certLifetime time.Duration
	strict       bool
	before       func(kind string) *Failure
	afterStore   func()
}

// SetCertLifetime sets the lifetime of issued client certificates (24h).
func (h *Hub) SetCertLifetime(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.certLifetime = d
}

// SetStrictAfterRotation makes ingest of an agent whose pin the admin unset
// answer 403 forbidden until it registers again, instead of accepting the
// batch as unsigned (SPEC 4.2 check 4).
func (h *Hub) SetStrictAfterRotation(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.strict = on
}

// SetBefore sets a hook run before each request is handled ("register",
// "ingest"); a non-nil Failure is answered instead. It may block to stall.
func (h *Hub) SetBefore(f func(kind string) *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.before = f
}

// SetAfterStore sets a hook run after an ingest was stored, before it is
// answered; it may block to stall the answer.
func (h *Hub) SetAfterStore(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.afterStore = f
}

// Start starts a fake hub whose files are written to dir.
func Start(dir string) (*Hub, error) {
	c, err := newCA()
	if err != nil {
		return nil, fmt.Errorf("hubtest: %w", err)
	}
	h := &Hub{ca: c, agents: map[string]*Agent{}, now: time.Now, certLifetime: 24 * time.Hour}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvCert, err := c.issue(&srvKey.PublicKey, pkix.Name{CommonName: "127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), true)
	if err != nil {
		return nil, err
	}
	enrollKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	enrollCert, err := c.issue(&enrollKey.PublicKey, pkix.Name{CommonName: "enroll " + Tenant, Organization: []string{Tenant}, OrganizationalUnit: []string{"enrollment"}}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), false)
	if err != nil {
		return nil, err
	}
	if h.CAFile, err = writeFile(dir, "ca.pem", certPEM(c.cert)); err != nil {
		return nil, err
	}
	if h.EnrollCertFile, err = writeFile(dir, "enroll.pem", certPEM(enrollCert)); err != nil {
		return nil, err
	}
	kp, err := keyPEM(enrollKey)
	if err != nil {
		return nil, err
	}
	if h.EnrollKeyFile, err = writeFile(dir, "enroll.key", kp); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/agents/register", h.register)
	mux.HandleFunc("POST /api/v1/ingest", h.ingest)
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.Listener = &gateListener{Listener: h.srv.Listener, down: &h.down}
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	h.srv.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey, Leaf: srvCert}},
	}
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake noise of killed clients
	h.srv.StartTLS()
	h.URL = h.srv.URL
	return h, nil
}

// Close stops the hub.
func (h *Hub) Close() { h.srv.Close() }

// SetDown simulates an outage: while down, connections are closed as soon
// as they are accepted, and open ones are cut.
func (h *Hub) SetDown(down bool) {
	h.down.Store(down)
	if down {
		h.srv.CloseClientConnections()
	}
}

// SetNow replaces the hub's clock (certificate validity).
func (h *Hub) SetNow(now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = now
}

// NewAgent creates an agent and returns its token, as POST /agents would.
func (h *Hub) NewAgent() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := "ms_" + base64.RawURLEncoding.EncodeToString(b[:])
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	h.agents[tok] = &Agent{ID: fmt.Sprintf("agt_%03d", h.nextID), Token: tok}
	return tok
}

// Agent returns a copy of the agent record for token.
func (h *Hub) Agent(token string) Agent {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[token]
	if a == nil {
		return Agent{}
	}
	cp := *a
	cp.Records = slices.Clone(a.Records)
	cp.Seqs = slices.Clone(a.Seqs)
	return cp
}

// RotateSigningKey unsets the agent's signing pin (the admin endpoint).
func (h *Hub) RotateSigningKey(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[token]
	a.Pubkey, a.SigningSetAt, a.PinRotated = nil, time.Time{}, true
}

// RotateClientCert unpins the agent's client certificate (the admin endpoint).
func (h *Hub) RotateClientCert(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.agents[token].CertFP = ""
}

// SetLastSeq moves the agent's last accepted seq, as if batches had been
// accepted that the agent does not know of.
func (h *Hub) SetLastSeq(token string, seq int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[token]
	a.LastSeq, a.LastBody = seq, nil
}

type gateListener struct {
	net.Listener
	down *atomic.Bool
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		_ = c.Close()
	}
}

func fail(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"error": map[string]string{"code": code, "message": msg}, "request_id": "req-test"}
	for k, v := range extra {
		body[k] = v
	}
	reply(w, status, body)
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func isEnrollment(c *x509.Certificate) bool {
	return slices.Contains(c.Subject.OrganizationalUnit, "enrollment")
}

// preamble runs the injected failure hook and the token check.
func (h *Hub) preamble(w http.ResponseWriter, r *http.Request, kind string) (*Agent, *x509.Certificate, bool) {
	h.mu.Lock()
	before := h.before
	h.mu.Unlock()
	if before != nil {
		if f := before(kind); f != nil {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			fail(w, f.Status, f.Code, "injected failure", nil)
			return nil, nil, false
		}
	}
	tok, ok := bytes.CutPrefix([]byte(r.Header.Get("Authorization")), []byte("Bearer "))
	h.mu.Lock()
	a := h.agents[string(tok)]
	h.mu.Unlock()
	if !ok || a == nil {
		fail(w, http.StatusUnauthorized, "unauthorized", "missing or unknown token", nil)
		return nil, nil, false
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		fail(w, http.StatusForbidden, "cert_pin_mismatch", "no client certificate", nil)
		return nil, nil, false
	}
	if r.Header.Get("Content-Type") != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "body must be application/json", nil)
		return nil, nil, false
	}
	return a, r.TLS.PeerCertificates[0], true
}

type registerReq struct {
	Hostname      string `json:"hostname"`
	AgentVersion  string `json:"agent_version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	SigningPubkey string `json:"signing_pubkey"`
	CSR           string `json:"csr"`
}

func (h *Hub) register(w http.ResponseWriter, r *http.Request) {
	a, cert, ok := h.preamble(w, r, "register")
	if !ok {
		return
	}
	var req registerReq
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Hostname == "" || req.AgentVersion == "" {
		fail(w, http.StatusBadRequest, "invalid_request", "bad register body", nil)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fp := fingerprint(cert)
	switch {
	case isEnrollment(cert) && a.CertFP != "":
		fail(w, http.StatusForbidden, "cert_pin_mismatch", "agent already has a pinned certificate", nil)
		return
	case !isEnrollment(cert) && a.CertFP != "" && fp != a.CertFP:
		fail(w, http.StatusForbidden, "cert_pin_mismatch", "client certificate is not the pinned one", nil)
		return
	}
	var pub ed25519.PublicKey
	if req.SigningPubkey != "" {
		raw, err := sig.ParsePublicKey(req.SigningPubkey)
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", "signing_pubkey must be a raw 32-byte Ed25519 public key in standard base64", nil)
			return
		}
		pub = raw
		if a.Pubkey != nil && !a.Pubkey.Equal(pub) {
			a.Forged++
			fail(w, http.StatusForbidden, "signature_invalid", "another signing key is pinned", nil)
			return
		}
	}
	var issued []byte
	if req.CSR != "" {
		blk, _ := pem.Decode([]byte(req.CSR))
		if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
			fail(w, http.StatusBadRequest, "invalid_request", "csr is not PEM", nil)
			return
		}
		csr, err := x509.ParseCertificateRequest(blk.Bytes)
		if err != nil || csr.CheckSignature() != nil {
			fail(w, http.StatusBadRequest, "invalid_request", "bad csr", nil)
			return
		}
		now := h.now()
		c, err := h.ca.issue(csr.PublicKey, pkix.Name{CommonName: a.ID, Organization: []string{Tenant}}, now.Add(-time.Minute), now.Add(h.certLifetime), false)
		if err != nil {
			fail(w, http.StatusInternalServerError, "internal", "internal error", nil)
			return
		}
		a.CertFP = fingerprint(c)
		issued = certPEM(c)
	} else if !isEnrollment(cert) && a.CertFP == "" {
		a.CertFP = fp // SPEC 5.4: TOFU on the presented certificate
	}
	if pub != nil && a.Pubkey == nil {
		a.Pubkey, a.SigningSetAt, a.PinRotated = pub, h.now().UTC(), false
	}
	a.Registrations++
	out := map[string]any{"agent_id": a.ID, "signing_pubkey_pinned": a.Pubkey != nil}
	if a.Pubkey != nil {
		out["signing_set_at"] = a.SigningSetAt.Format(time.RFC3339)
	}
	if issued != nil {
		out["client_cert"] = string(issued)
	}
	reply(w, http.StatusOK, out)
}

var typeRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

func (h *Hub) ingest(w http.ResponseWriter, r *http.Request) {
	a, cert, ok := h.preamble(w, r, "ingest")
	if !ok {
		return
	}
	h.mu.Lock()
	pinned := a.CertFP
	h.mu.Unlock()
	if isEnrollment(cert) || fingerprint(cert) != pinned {
		fail(w, http.StatusForbidden, "cert_pin_mismatch", "client certificate is not the pinned one", nil)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "unreadable body", nil)
		return
	}
	if len(body) > maxBody {
		fail(w, http.StatusRequestEntityTooLarge, "payload_too_large", "body over 256 KiB", nil)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	signature := r.Header.Get(sig.Header)
	switch {
	case a.Pubkey == nil && a.PinRotated && h.strict:
		fail(w, http.StatusForbidden, "forbidden", "signing key pin was reset; register again", nil)
		return
	case a.Pubkey == nil:
		a.Unsigned++
	case signature == "":
		fail(w, http.StatusForbidden, "signature_missing", "missing signature", nil)
		return
	default:
		if sig.VerifyHeader(a.Pubkey, body, signature) != nil {
			a.Forged++
			fail(w, http.StatusForbidden, "signature_invalid", "signature does not verify", nil)
			return
		}
	}
	var elems []map[string]json.RawMessage
	var raws []json.RawMessage
	if json.Unmarshal(body, &elems) != nil || json.Unmarshal(body, &raws) != nil || len(elems) < 1 || len(elems) > 1000 {
		fail(w, http.StatusBadRequest, "invalid_request", "body must be an array of 1 to 1000 objects", nil)
		return
	}
	for _, e := range elems {
		var typ, ts string
		if json.Unmarshal(e["type"], &typ) != nil || !typeRE.MatchString(typ) || json.Unmarshal(e["ts"], &ts) != nil {
			fail(w, http.StatusBadRequest, "invalid_request", "every object needs type and ts", nil)
			return
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", "ts is not RFC 3339", nil)
			return
		}
	}
	var hdr struct {
		Type string `json:"type"`
		Seq  *int64 `json:"seq"`
	}
	_ = json.Unmarshal(raws[0], &hdr)
	isBatch := hdr.Type == "batch" && hdr.Seq != nil
	if a.Pubkey != nil && !isBatch {
		fail(w, http.StatusBadRequest, "invalid_request", "signed batch needs a batch header", nil)
		return
	}
	if isBatch && a.Pubkey != nil && *hdr.Seq <= a.LastSeq {
		if bytes.Equal(body, a.LastBody) {
			a.Duplicates++
			reply(w, http.StatusOK, map[string]any{"accepted": 0, "duplicate": true})
			return
		}
		a.Replays++
		fail(w, http.StatusConflict, "replay_rejected", "seq not above the last accepted", map[string]any{"last_seq": a.LastSeq})
		return
	}
	recs := raws
	if isBatch {
		recs = raws[1:]
		a.LastSeq = max(a.LastSeq, *hdr.Seq)
		a.Seqs = append(a.Seqs, *hdr.Seq)
	}
	a.LastBody = body
	a.Records = append(a.Records, recs...)
	a.Batches++
	if after := h.afterStore; after != nil {
		h.mu.Unlock()
		after()
		h.mu.Lock()
	}
	reply(w, http.StatusAccepted, map[string]any{"accepted": len(recs)})
}
