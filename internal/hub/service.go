package hub

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
)

// Identifier verifies a presented client certificate and says whose it is.
type Identifier interface {
	Identify(certPEM string) (ca.Identity, error)
}

// Issuer issues agent client certificates from CSRs.
type Issuer interface {
	IssueAgent(csr *x509.CertificateRequest, tenant, agentID string, validity time.Duration) (*x509.Certificate, error)
}

// Config holds the service's settings.
type Config struct {
	// AgentCertValidity is the lifetime of issued agent certificates.
	AgentCertValidity time.Duration
	// PendingLease is how long a batch in flight is left alone before another
	// request may finish or undo it. An ingest request gives up after two
	// thirds of it, so the lease always outlives the request that set it.
	PendingLease time.Duration
	// InsecureNoClientCert accepts requests that carry no client certificate.
	// Only for LocalStack, whose free edition does not do mutual TLS.
	InsecureNoClientCert bool
}

// Metrics counts anomaly occurrences by kind and severity, for alarms
// (CloudWatch Embedded Metric Format in AWS).
type Metrics interface {
	Anomaly(ctx context.Context, k anomaly.Kind, sev anomaly.Severity)
	Cycle(ctx context.Context, s Summary)
}

type noMetrics struct{}

func (noMetrics) Anomaly(context.Context, anomaly.Kind, anomaly.Severity) {}
func (noMetrics) Cycle(context.Context, Summary)                          {}

// Service is the hub core.
type Service struct {
	store   Store
	certs   Identifier
	issuer  Issuer
	cfg     Config
	now     func() time.Time
	rand    io.Reader
	log     *slog.Logger
	metrics Metrics
	idents  identCache
}

// Option tunes a Service.
type Option func(*Service)

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRand sets the randomness source for credentials and ids.
func WithRand(r io.Reader) Option { return func(s *Service) { s.rand = r } }

// WithMetrics sets where anomaly counts go.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New builds the service.
func New(store Store, certs Identifier, issuer Issuer, cfg Config, opts ...Option) (*Service, error) {
	if store == nil || certs == nil || issuer == nil {
		return nil, errors.New("hub: store, certificate identifier and issuer are required")
	}
	if cfg.AgentCertValidity <= 0 {
		cfg.AgentCertValidity = 30 * 24 * time.Hour
	}
	if cfg.PendingLease <= 0 {
		cfg.PendingLease = 15 * time.Second
	}
	s := &Service{store: store, certs: certs, issuer: issuer, cfg: cfg,
		now: func() time.Time { return time.Now().UTC() }, rand: rand.Reader, log: slog.Default(), metrics: noMetrics{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

func (s *Service) clock() time.Time { return s.now().UTC() }

// authAgent resolves an agent token (check 1 of SPEC 4.2). The agent item must
// still carry the token's hash, so a rotated-out token fails even while its
// credential item lingers.
func (s *Service) authAgent(ctx context.Context, token string) (Agent, error) {
	if token == "" {
		return Agent{}, refuse(CodeUnauthorized, "missing bearer token")
	}
	k, err := cred.Classify(token)
	if err != nil || k != cred.KindAgent {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	h := cred.Hash(token)
	c, err := s.store.GetCredential(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	if err != nil {
		return Agent{}, backend("get credential", err)
	}
	if c.Kind != cred.KindAgent {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	a, err := s.store.GetAgent(ctx, c.AgentID)
	if errors.Is(err, ErrNotFound) {
		return Agent{}, refuse(CodeUnauthorized, "unknown agent token")
	}
	if err != nil {
		return Agent{}, backend("get agent", err)
	}
	if a.TokenHash != h || a.TenantID != c.TenantID {
		return Agent{}, refuse(CodeUnauthorized, "agent token was rotated out")
	}
	return a, nil
}

// raise records an anomaly occurrence; failures are logged, never hidden from
// the caller's answer (the refusal stands either way).
func (s *Service) raise(ctx context.Context, a Agent, k anomaly.Kind, sev anomaly.Severity, detail string) {
	e := anomaly.Event{TenantID: a.TenantID, AgentID: a.AgentID, Kind: k, Severity: sev, Detail: detail, At: s.clock()}
	if err := s.Raise(ctx, e, a.AnomalyGen[k]); err != nil {
		s.log.ErrorContext(ctx, "raise anomaly", "tenant_id", a.TenantID, "agent_id", a.AgentID, "kind", k, "err", err)
	}
}

// Raise folds e into the open anomaly of (agent, kind), opening one if none is
// open. gen is the caller's view of the current generation; when that one turns
// out closed the generation is moved on (idempotently) and the raise retried.
func (s *Service) Raise(ctx context.Context, e anomaly.Event, gen int64) error {
	for range 4 {
		_, err := s.store.RaiseAnomaly(ctx, e, gen)
		if err == nil {
			s.metrics.Anomaly(ctx, e.Kind, e.Severity)
			return nil
		}
		if !errors.Is(err, ErrClosed) {
			return fmt.Errorf("raise %s for %s: %w", e.Kind, e.AgentID, err)
		}
		if err := s.store.BumpAnomalyGen(ctx, e.AgentID, e.Kind, gen); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("raise %s for %s: bump generation: %w", e.Kind, e.AgentID, err)
		}
		a, err := s.store.GetAgent(ctx, e.AgentID)
		if err != nil {
			return fmt.Errorf("raise %s for %s: re-read agent: %w", e.Kind, e.AgentID, err)
		}
		gen = a.AnomalyGen[e.Kind]
	}
	return fmt.Errorf("raise %s for %s: generation kept moving", e.Kind, e.AgentID)
}

// audit appends e. A failure fails the request (with 503 when the backend is
// away): every audited step is idempotent, so the caller's retry completes it.
func (s *Service) audit(ctx context.Context, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.clock()
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		return backend("append audit "+e.Action, err)
	}
	return nil
}
