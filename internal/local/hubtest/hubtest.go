// Package hubtest serves the real hub in-process for tests: the core service
// and the API handler over the in-memory store (storetest.Memory), behind
// the local hub's gateway (internal/local/gateway) on a mutual-TLS listener,
// with a CA, tenant "demo", its enrollment and operator certificates and a
// hub.json. Start gives a test everything a client needs in one call, and
// Pack the evidence pack of what the hub holds.
//
// Where a test needs the hub to misbehave, the kit acts at the edge, in
// front of the core, as a load balancer or a network would: a canned error
// answer instead of the core's (SetFault), a hook between the core's answer
// and its delivery (SetAfter), an outage (SetDown). The SPEC's rules are the
// core's alone; the kit only watches what it answered (Exchanges, Agent).
package hubtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/gateway"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/storetest"
)

// Tenant is the tenant Start creates.
const Tenant = "demo"

// Paths of the agent routes, for faults and hooks that pick requests.
const (
	RegisterPath = client.Prefix + "/agents/register"
	IngestPath   = client.Prefix + "/ingest"
)

// config is what Options set.
type config struct {
	now          func() time.Time
	certValidity time.Duration
}

// Option tunes Start.
type Option func(*config)

// Clock sets the hub's clock (real time by default): the core's, and the
// one the TLS listener checks client certificates against, as API Gateway
// would against its own. Clients check the hub's server certificate
// against real time, which it holds for.
func Clock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// CertValidity sets the lifetime of the client certificates the hub issues
// to agents (24h by default).
func CertValidity(d time.Duration) Option { return func(c *config) { c.certValidity = d } }

// Failure is an answer the edge gives instead of the core's: the SPEC 4
// envelope with Code and a Retry-After header when RetryAfter is set.
type Failure struct {
	Status     int
	Code       string
	RetryAfter string
}

// Exchange is one request the edge saw and the answer it gave.
type Exchange struct {
	Method, Path string
	AgentID      string // the agent whose token the request carried, once the hub gave it out
	Status       int
	Code         string // the SPEC 4 envelope's code; "" for a 2xx
	Injected     bool   // answered by a Failure, not by the core
}

// Hub is a running in-process hub.
type Hub struct {
	// URL is the base URL (https://127.0.0.1:port), without /api/v1.
	URL string
	// Profile is hub.json: the URL, tenant, admin key and the absolute paths
	// of the CA certificate and of the tenant's enrollment and operator
	// certificates and keys. ProfilePath is the file.
	Profile     profile.Info
	ProfilePath string
	// Roots verifies the hub's server certificate.
	Roots *x509.CertPool

	store *storetest.Memory
	admin *client.Admin
	// The evidence packs: the core's use case over the kit's in-memory
	// vault, archives and build queue.
	packs   *hub.Packs
	objects *storetest.Objects
	builds  *storetest.Builds
	srv     *http.Server
	gw      http.Handler
	down    atomic.Bool

	mu        sync.Mutex
	conns     map[net.Conn]struct{} // open
	accepted  int
	tokens    map[string]string // agent token → agent id, as the hub gave them out
	exchanges []Exchange
	fault     func(*http.Request) *Failure
	after     func(*http.Request, int)
}

// Start starts a hub with tenant Tenant and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	cfg := config{now: func() time.Time { return time.Now().UTC() }, certValidity: 24 * time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := start(t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	t.Cleanup(h.close)
	return h
}

func start(dir string, cfg config) (*Hub, error) {
	auth, err := newCA(dir, cfg.now())
	if err != nil {
		return nil, err
	}
	h := &Hub{store: storetest.NewMemory(), conns: map[net.Conn]struct{}{}, tokens: map[string]string{},
		objects: storetest.NewObjects(), builds: &storetest.Builds{}}
	fn, adminKey, err := h.core(auth, cfg, dir)
	if err != nil {
		return nil, err
	}
	h.gw = gateway.Handler(fn, cfg.now)

	serverCert, err := issueServer(auth)
	if err != nil {
		return nil, err
	}
	ln, err := gateway.Listen("127.0.0.1:0", serverCert, auth.CertPool(), cfg.now)
	if err != nil {
		return nil, err
	}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: h.track,
		ErrorLog: log.New(io.Discard, "", 0)} // handshakes of killed clients
	go func() { _ = h.srv.Serve(&gate{Listener: ln, down: &h.down}) }()

	h.URL = "https://" + ln.Addr().String()
	tf, err := profile.EnsureTenantFiles(dir, Tenant, &ca.Authority{Cert: auth.Cert, Signer: auth.Signer, Now: cfg.now}, cfg.now())
	if err != nil {
		h.close()
		return nil, err
	}
	h.Profile = profile.Info{URL: h.URL, TenantID: Tenant, AdminKey: adminKey, CACert: filepath.Join(dir, "ca.pem"),
		EnrollCert: tf.EnrollCert, EnrollKey: tf.EnrollKey, OperatorCert: tf.OperatorCert, OperatorKey: tf.OperatorKey}
	h.ProfilePath = filepath.Join(dir, "hub.json")
	if err := profile.Write(h.ProfilePath, h.Profile); err != nil {
		h.close()
		return nil, err
	}
	h.Roots = auth.CertPool()
	if h.admin, err = client.NewAdmin(h.Profile, client.Options{}); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// core builds what runs behind the gateway: the hub service and the API
// handler over the in-memory store, as internal/app builds them over
// DynamoDB. It is the one place that knows how the core is put together.
func (h *Hub) core(auth *ca.Authority, cfg config, dir string) (gateway.Func, string, error) {
	logger := slog.New(slog.DiscardHandler)
	issuer := &ca.Authority{Cert: auth.Cert, Signer: auth.Signer, Now: cfg.now}
	core, err := app.Assemble(h.store.Stores(), issuer, app.CoreConfig{AgentCertValidity: cfg.certValidity},
		hub.Env{Clock: funcClock(cfg.now), Log: logger})
	if err != nil {
		return nil, "", err
	}
	err = core.AddPacks(app.PackPorts{Vault: &storetest.Vault{}, Objects: h.objects, Starter: h.builds}, hub.PackConfig{TempDir: dir})
	if err != nil {
		return nil, "", err
	}
	h.packs = core.Packs
	adminKey, err := core.Tenants.Bootstrap(context.Background(), Tenant)
	if err != nil {
		return nil, "", err
	}
	handler, err := api.New(core.Services(), logger, api.All)
	if err != nil {
		return nil, "", err
	}
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
		resp, _ := handler.Handle(ctx, ev)
		return resp
	}, adminKey, nil
}

// funcClock is the hub's time as the Clock option sets it; timers run in
// real time (nothing the agents' tests drive waits on the hub's clock).
type funcClock func() time.Time

func (f funcClock) Now() time.Time                     { return f() }
func (funcClock) NewTimer(d time.Duration) clock.Timer { return clock.Real{}.NewTimer(d) }

// newCA makes the hub CA, valid in real time and at the hub's time now, and
// writes its certificate to dir/ca.pem. The Authority issues in real time.
func newCA(dir string, now time.Time) (*ca.Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	from, to := time.Now(), now
	if to.Before(from) {
		from, to = to, from
	}
	root, err := ca.NewRoot(key, "monsys hubtest CA", from, to.Sub(from)+10*365*24*time.Hour, nil)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.EncodeCertPEM(root), 0o644); err != nil {
		return nil, err
	}
	return &ca.Authority{Cert: root, Signer: key}, nil
}

func issueServer(auth *ca.Authority) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := auth.IssueServer([]string{"127.0.0.1", "localhost", "::1"}, key.Public(), profile.CertValidity)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}

func (h *Hub) close() {
	if h.admin != nil {
		h.admin.CloseIdle()
	}
	_ = h.srv.Close()
}

// Admin is a client of the operator routes with the profile's operator
// certificate and admin key.
func (h *Hub) Admin() *client.Admin { return h.admin }

// NewAgent creates an agent through POST /agents and returns its id and
// token.
func (h *Hub) NewAgent(t testing.TB) (id, token string) {
	t.Helper()
	a, err := h.admin.CreateAgent(context.Background(), "test-host")
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	return a.AgentID, a.Token
}

// Pack returns the evidence pack of [from, to] (SPEC 8) as the tenant's
// operator gets it: requested through POST /evidence-packs, built by the
// core (the build the request queued), read back from the archives.
func (h *Hub) Pack(t testing.TB, from, to time.Time) []byte {
	t.Helper()
	ctx := context.Background()
	p, err := h.admin.RequestPack(ctx, from, to)
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	for _, b := range h.builds.Take() {
		if err := h.packs.BuildPack(ctx, b[0], b[1]); err != nil {
			t.Fatalf("hubtest: build pack %s: %v", b[1], err)
		}
	}
	stored, err := h.store.GetPack(ctx, Tenant, p.PackID)
	if err != nil || stored.Status != hub.PackReady {
		t.Fatalf("hubtest: pack %s: %+v, %v", p.PackID, stored, err)
	}
	tgz, ok := h.objects.Object(stored.ObjectKey, stored.ObjectVersion)
	if !ok {
		t.Fatalf("hubtest: pack %s: no archive %s", p.PackID, stored.ObjectKey)
	}
	return tgz
}

// SetFault sets what runs before the core for each request; a non-nil
// Failure is answered instead of the core's answer. It may block, to stall
// a request; it must not read the body. nil removes it.
func (h *Hub) SetFault(f func(r *http.Request) *Failure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fault = f
}

// SetAfter sets what runs once the core has answered a request (and so
// stored whatever it stores) and before the answer is sent: it may block, to
// stall the answer, or SetDown, to lose it. nil removes it.
func (h *Hub) SetAfter(f func(r *http.Request, status int)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after = f
}

// SetDown makes the hub unreachable: while down, connections are closed as
// soon as they are accepted, and going down cuts the open ones.
func (h *Hub) SetDown(down bool) {
	h.down.Store(down)
	if !down {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.Close()
	}
}

// Exchanges returns every request the edge saw, in the order answered.
func (h *Hub) Exchanges() []Exchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Exchange(nil), h.exchanges...)
}

// Connections is how many connections the hub has taken since it started.
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted
}

func (h *Hub) track(c net.Conn, s http.ConnState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch s {
	case http.StateNew:
		h.conns[c] = struct{}{}
		h.accepted++
	case http.StateClosed, http.StateHijacked:
		delete(h.conns, c)
	}
}

// ServeHTTP is the edge: the fault, the gateway and the core, the hook
// after, and the record of the exchange.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	fault, after := h.fault, h.after
	agentID := h.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	h.mu.Unlock()
	x := Exchange{Method: r.Method, Path: r.URL.Path, AgentID: agentID}
	if fault != nil {
		if f := fault(r); f != nil {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			gateway.WriteError(w, gateway.RequestID(), f.Status, f.Code, "injected by hubtest")
			x.Status, x.Code, x.Injected = f.Status, f.Code, true
			h.record(x)
			return
		}
	}
	rec := httptest.NewRecorder()
	h.gw.ServeHTTP(rec, r)
	x.Status = rec.Code
	if rec.Code >= 300 {
		x.Code = client.ParseError(rec.Code, rec.Header(), rec.Body.Bytes(), time.Now()).Code
	}
	h.record(x)
	h.learnToken(rec.Code, rec.Body.Bytes())
	if after != nil {
		after(r, rec.Code)
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// learnToken maps the token in an answer of POST /agents or rotate-token
// to its agent, so that later exchanges name the agent.
func (h *Hub) learnToken(status int, body []byte) {
	if status != http.StatusOK && status != http.StatusCreated {
		return
	}
	var a client.AgentToken
	if json.Unmarshal(body, &a) != nil || a.AgentID == "" || !strings.HasPrefix(a.Token, "ms_") {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[a.Token] = a.AgentID
}

func (h *Hub) record(x Exchange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exchanges = append(h.exchanges, x)
}

// gate drops the connections it accepts while down.
type gate struct {
	net.Listener
	down *atomic.Bool
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || !g.down.Load() {
			return c, err
		}
		_ = c.Close()
	}
}

// Agent is what the hub holds for one agent and what it answered it.
type Agent struct {
	ID      string
	Pubkey  ed25519.PublicKey // the pinned signing key; nil without a pin
	CertFP  string            // the pinned client certificate's fingerprint; "" without
	LastSeq int64
	// Records are the stored records, batch headers left out, and Seqs the
	// seq of every stored signed batch, both in the order the hub received
	// their batches.
	Records  []json.RawMessage
	Seqs     []int64
	Batches  int // stored batches
	Unsigned int // of which stored without a signing pin (SPEC 4.2 check 4)
	// Unchained are the seqs of the stored signed batches, in seq order,
	// whose header "prev" is not the SHA-256 of the signed batch before
	// (absent on any but the first counts too); Forks is the count of the
	// agent's chain_fork anomaly (SPEC 4.2 check 10).
	Unchained []int64
	Forks     int64

	// Counts of the core's answers to this agent's token.
	Registrations int // 200 to register
	Duplicates    int // 200 to ingest: an idempotent resend
	Replays       int // 409 replay_rejected
	Forged        int // 403 signature_invalid, to register or ingest
}

// unchained returns the seqs of the signed batches whose prev does not
// name the signed batch before them.
func unchained(t testing.TB, stored []hub.StoredBatch) []int64 {
	signed := slices.DeleteFunc(slices.Clone(stored), func(b hub.StoredBatch) bool { return !b.Signed })
	slices.SortFunc(signed, func(x, y hub.StoredBatch) int { return cmp.Compare(x.Seq, y.Seq) })
	var out []int64
	for i, b := range signed {
		parsed, err := batch.Parse(b.Body, true)
		if err != nil {
			t.Fatalf("hubtest: stored batch %s: %v", b.Key, err)
		}
		if i == 0 && parsed.Header.Prev == "" {
			continue
		}
		if i == 0 || parsed.Header.Prev != signed[i-1].SHA {
			out = append(out, b.Seq)
		}
	}
	return out
}

// Agent returns what the hub holds for agent id and what it answered it.
func (h *Hub) Agent(t testing.TB, id string) Agent {
	t.Helper()
	a, err := h.store.GetAgent(context.Background(), id)
	if err != nil {
		t.Fatalf("hubtest: agent %s: %v", id, err)
	}
	v := Agent{ID: id, LastSeq: a.LastSeq}
	if len(a.SigningPubKey) > 0 {
		v.Pubkey = ed25519.PublicKey(bytes.Clone(a.SigningPubKey))
	}
	if a.Cert != nil {
		v.CertFP = a.Cert.Fingerprint
	}
	stored := h.store.Batches(id)
	sort.SliceStable(stored, func(i, j int) bool {
		x, y := stored[i], stored[j]
		return x.ReceivedAt.Before(y.ReceivedAt) || x.ReceivedAt.Equal(y.ReceivedAt) && x.Seq < y.Seq
	})
	for _, b := range stored {
		parsed, err := batch.Parse(b.Body, false)
		if err != nil {
			t.Fatalf("hubtest: stored batch %s of %s: %v", b.Key, id, err)
		}
		for _, r := range parsed.Records {
			v.Records = append(v.Records, r.Raw)
		}
		v.Batches++
		if b.Signed {
			v.Seqs = append(v.Seqs, b.Seq)
		} else {
			v.Unsigned++
		}
	}
	v.Unchained = unchained(t, stored)
	p, err := h.store.ListAnomalies(context.Background(), a.TenantID, anomaly.Filter{AgentID: id, Kind: anomaly.ChainFork}, "", 10)
	if err != nil {
		t.Fatalf("hubtest: anomalies of %s: %v", id, err)
	}
	for _, an := range p.Anomalies {
		v.Forks += an.Count
	}
	for _, x := range h.Exchanges() {
		if x.AgentID != id || x.Injected {
			continue
		}
		switch {
		case x.Path == RegisterPath && x.Status == http.StatusOK:
			v.Registrations++
		case x.Path == IngestPath && x.Status == http.StatusOK:
			v.Duplicates++
		case x.Code == client.CodeReplayRejected:
			v.Replays++
		case x.Code == client.CodeSignatureInvalid:
			v.Forged++
		}
	}
	return v
}
