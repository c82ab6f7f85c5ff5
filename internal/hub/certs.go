package hub

import (
	"context"
	"errors"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/ca"
)

// endpoint says which kind of agent endpoint a certificate is presented on.
type endpoint int

const (
	onRegister endpoint = iota
	onIngest
)

// certVerdict is the outcome of checking a presented client certificate
// against an agent (SPEC 5 and check 2 of SPEC 4.2).
type certVerdict int

const (
	certOK         certVerdict = iota // the pinned certificate, or an acceptable one while unpinned
	certEnrollment                    // the tenant's enrollment certificate on register
	certPrevious                      // on register, the certificate pinned before the last renewal
	certMismatch                      // 403 cert_pin_mismatch and an anomaly
	certForbidden                     // 403 forbidden: no certificate, or an operator one
)

// presented is what the edge knows about the client certificate.
type presented struct {
	id  ca.Identity
	err error // non-nil: missing or untrusted
	pem string
}

// Identifier verifies a presented client certificate and says whose it is
// (the hub CA, ca.Authority).
type Identifier interface {
	Identify(certPEM string) (ca.Identity, error)
}

// CertConfig tunes the certificate check.
type CertConfig struct {
	// InsecureNoClientCert accepts requests that carry no client certificate.
	// Only for LocalStack, whose free edition does not do mutual TLS.
	InsecureNoClientCert bool
}

// Certs identifies presented client certificates (SPEC 5) for the agent and
// admin endpoints, remembering recent successes (identCache), and holds
// them to an agent's pin.
type Certs struct {
	id       Identifier
	insecure bool
	env      Env
	idents   identCache
}

// NewCerts returns the certificate check over the hub CA.
func NewCerts(id Identifier, cfg CertConfig, env Env) (*Certs, error) {
	if id == nil {
		return nil, errors.New("hub: the certificate check needs the hub CA")
	}
	return &Certs{id: id, insecure: cfg.InsecureNoClientCert, env: env.filled()}, nil
}

func (c *Certs) identify(pem string) presented {
	if pem == "" {
		return presented{err: errNoCert}
	}
	now := c.env.now()
	if id, ok := c.idents.get(pem, now); ok {
		return presented{id: id, pem: pem}
	}
	id, err := c.id.Identify(pem)
	if err == nil {
		c.idents.put(pem, id, now)
	}
	return presented{id: id, err: err, pem: pem}
}

var errNoCert = errors.New("no client certificate")

// judgeCert is the pure pin rule. On register, an agent with a pinned
// certificate must present it (renewal) or, for an idempotent retry of an
// issuance, the one pinned before it; the enrollment certificate stops working
// for an agent once its own certificate is pinned (docs/mtls.md).
func judgeCert(a Agent, p presented, ep endpoint, insecure bool) (certVerdict, string) {
	if p.err != nil {
		if errors.Is(p.err, errNoCert) && insecure {
			return certOK, ""
		}
		if errors.Is(p.err, errNoCert) {
			return certForbidden, "a client certificate is required"
		}
		return certForbidden, "the client certificate is not trusted"
	}
	if p.id.Tenant != a.TenantID {
		return certMismatch, "the client certificate belongs to another tenant"
	}
	switch p.id.Role {
	case ca.RoleOperator:
		return certForbidden, "an operator certificate cannot act as an agent"
	case ca.RoleEnrollment:
		if ep != onRegister {
			return certMismatch, "the enrollment certificate is accepted on registration only"
		}
		return certEnrollment, "" // once pinned, only a retried issuance; decided with the CSR
	case ca.RoleAgent:
		if p.id.AgentID != a.AgentID {
			return certMismatch, "the client certificate was issued to another agent"
		}
	default:
		// The hub issues no other client profile: fail closed.
		return certForbidden, "the client certificate has no agent role"
	}
	if a.Cert == nil {
		return certOK, ""
	}
	if p.id.Fingerprint == a.Cert.Fingerprint {
		return certOK, ""
	}
	if ep == onRegister && a.Cert.Previous != "" && p.id.Fingerprint == a.Cert.Previous {
		return certPrevious, "" // a renewal retried: decided with the CSR
	}
	return certMismatch, "the client certificate is not the one pinned for this agent"
}

// check applies judgeCert and turns a refusal into its error and anomaly.
func (c *Certs) check(ctx context.Context, al *Alarms, a Agent, p presented, ep endpoint) (certVerdict, error) {
	v, why := judgeCert(a, p, ep, c.insecure)
	switch v {
	case certMismatch:
		al.raise(ctx, a, anomaly.CertPinMismatch, anomaly.Critical, why)
		return v, refuse(CodeCertPinMismatch, "%s", why)
	case certForbidden:
		return v, refuse(CodeForbidden, "%s", why)
	}
	return v, nil
}
