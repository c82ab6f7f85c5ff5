package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/semver"
	"github.com/monsys/hub/internal/sig"
)

// RegisterRequest is a POST /agents/register as the edge saw it (SPEC 4.1).
type RegisterRequest struct {
	Token         string
	ClientCertPEM string
	ContentType   string
	Body          []byte
}

// registerBody is the JSON body of SPEC 4.1.
type registerBody struct {
	Hostname      string  `json:"hostname"`
	AgentVersion  string  `json:"agent_version"`
	OS            string  `json:"os"`
	Arch          string  `json:"arch"`
	SigningPubKey *string `json:"signing_pubkey"` // nil: a legacy agent without a signing module
	CSR           string  `json:"csr"`
}

// maxRegisterBody bounds the register body: a CSR and a few short strings.
const maxRegisterBody = 64 << 10

// RegisterResult is the answer of SPEC 4.1.
type RegisterResult struct {
	AgentID             string     `json:"agent_id"`
	SigningPubKeyPinned bool       `json:"signing_pubkey_pinned"`
	SigningSetAt        *time.Time `json:"signing_set_at,omitempty"`
	ClientCert          string     `json:"client_cert,omitempty"`
}

// keyDecision is the pin rule of SPEC 4.1.
type keyDecision int

const (
	keyPin   keyDecision = iota // no pin: pin it
	keySame                     // pinned, same key: nothing changes
	keyOther                    // pinned, another key: 403 signature_invalid
)

// decideSigning is the pure signing-key pin table of SPEC 4.1.
func decideSigning(pinned, presented []byte) keyDecision {
	switch {
	case len(pinned) == 0:
		return keyPin
	case bytes.Equal(pinned, presented):
		return keySame
	}
	return keyOther
}

// field limits for the host description.
var registerLimits = []struct {
	name string
	max  int
	get  func(*registerBody) string
}{
	{"hostname", 253, func(r *registerBody) string { return r.Hostname }},
	{"agent_version", 64, func(r *registerBody) string { return r.AgentVersion }},
	{"os", 64, func(r *registerBody) string { return r.OS }},
	{"arch", 64, func(r *registerBody) string { return r.Arch }},
}

func validateRegister(r *registerBody) error {
	for _, l := range registerLimits {
		v := l.get(r)
		if len(v) > l.max {
			return refuse(CodeInvalidRequest, "%s is %d characters long, limit %d", l.name, len(v), l.max)
		}
		for _, c := range v {
			if c < 0x20 || c == 0x7f {
				return refuse(CodeInvalidRequest, "%s contains a control character", l.name)
			}
		}
	}
	return nil
}

// Issuer issues agent client certificates from CSRs (the hub CA, ca.Authority).
type Issuer interface {
	IssueAgent(csr *x509.CertificateRequest, tenant, agentID string, validity time.Duration) (*x509.Certificate, error)
}

// RegisterDeps are what a registration reads and writes, and the components
// it shares with the other agent endpoints.
type RegisterDeps struct {
	Auth   *AgentAuth
	Certs  *Certs
	Alarms *Alarms
	Agents AgentReader
	Pins   PinStore
	Issuer Issuer
	Audit  AuditSink
	// Log, when set, gets the entry of every signing-key pin (SPEC 10).
	Log LogSubmitter
}

// RegisterConfig tunes registrations. Zero values take the defaults.
type RegisterConfig struct {
	// AgentCertValidity is the lifetime of issued agent certificates, default 30 days.
	AgentCertValidity time.Duration
}

// Registrar registers agents (POST /agents/register, SPEC 4.1 and 5): it
// pins their signing keys and client certificates and issues certificates.
type Registrar struct {
	d     RegisterDeps
	cfg   RegisterConfig
	env   Env
	audit auditor
}

// NewRegistrar returns the registration use case.
func NewRegistrar(d RegisterDeps, cfg RegisterConfig, env Env) (*Registrar, error) {
	if d.Auth == nil || d.Certs == nil || d.Alarms == nil || d.Agents == nil || d.Pins == nil || d.Issuer == nil || d.Audit == nil {
		return nil, errors.New("hub: a registrar needs every one of RegisterDeps")
	}
	if cfg.AgentCertValidity <= 0 {
		cfg.AgentCertValidity = 30 * 24 * time.Hour
	}
	env = env.filled()
	return &Registrar{d: d, cfg: cfg, env: env, audit: auditor{d.Audit, env}}, nil
}

// Register registers the host and pins its signing key and client certificate.
func (rg *Registrar) Register(ctx context.Context, req RegisterRequest) (RegisterResult, error) {
	a, err := rg.d.Auth.AuthenticateWithProfile(ctx, req.Token) // the pinned certificate's PEM, for a retried issuance
	if err != nil {
		return RegisterResult{}, err
	}
	p := rg.d.Certs.identify(req.ClientCertPEM)
	verdict, err := rg.d.Certs.check(ctx, rg.d.Alarms, a, p, onRegister)
	if err != nil {
		return RegisterResult{}, err
	}
	body, err := decodeRegister(req)
	if err != nil {
		return RegisterResult{}, err
	}
	var key []byte
	if body.SigningPubKey != nil {
		if key, err = sig.ParsePublicKey(*body.SigningPubKey); err != nil {
			return RegisterResult{}, badSigningKey(err)
		}
	}
	var csr *x509.CertificateRequest
	if body.CSR != "" {
		if csr, err = ca.ParseCSR([]byte(body.CSR)); err != nil {
			return RegisterResult{}, &Error{Code: CodeInvalidRequest, Message: "csr: " + err.Error(), Cause: err}
		}
	}
	// Decided before any write, so that a refused registration pins nothing.
	// Another key than the pinned one is signature_invalid before any rule
	// of the certificate (SPEC 4.1): the late loser of a race of first
	// registrations finds both pins set, and is answered as the others are.
	if key != nil && decideSigning(a.SigningPubKey, key) == keyOther {
		return RegisterResult{}, rg.otherKey(ctx, a, key)
	}
	plan, why := planCert(a, p, verdict, csr)
	if why != "" {
		rg.d.Alarms.raise(ctx, a, anomaly.CertPinMismatch, anomaly.Critical, why)
		return RegisterResult{}, refuse(CodeCertPinMismatch, "the client certificate is not the one pinned for this agent")
	}

	res := RegisterResult{AgentID: a.AgentID}
	if key != nil {
		if a, err = rg.pinSigning(ctx, a, key); err != nil {
			return RegisterResult{}, err
		}
		at := a.SigningSetAt
		res.SigningPubKeyPinned, res.SigningSetAt = true, &at
	}
	if res.ClientCert, err = rg.pinCert(ctx, a, p, plan, csr); err != nil {
		return RegisterResult{}, err
	}
	now := rg.env.now()
	reg := Registration{Hostname: body.Hostname, AgentVersion: body.AgentVersion, OS: body.OS, Arch: body.Arch,
		MaxAgentVersion: semver.Max(a.MaxAgentVersion, body.AgentVersion), At: now}
	if err := rg.d.Pins.RecordRegistration(ctx, a.AgentID, reg); err != nil {
		return RegisterResult{}, backend("record registration", err)
	}
	return res, nil
}

func decodeRegister(req RegisterRequest) (registerBody, error) {
	var b registerBody
	if len(req.Body) > maxRegisterBody {
		return b, refuse(CodePayloadTooLarge, "body is %d bytes, limit %d", len(req.Body), maxRegisterBody)
	}
	if !IsJSON(req.ContentType) {
		return b, refuse(CodeUnsupportedMedia, "Content-Type must be application/json, got %q", req.ContentType)
	}
	if err := DecodeJSONObject(req.Body, &b); err != nil {
		return b, err
	}
	return b, validateRegister(&b)
}

// badSigningKey is the answer to a signing_pubkey SPEC 4.1 refuses.
func badSigningKey(err error) error {
	return &Error{Code: CodeInvalidRequest, Cause: err, Message: "signing_pubkey must be a raw 32-byte Ed25519 public key in standard padded base64, " +
		"nothing else, that is a canonical point encoding and not of small order (" + err.Error() + ")"}
}

// pinSigning applies the SPEC 4.1 table; a lost race is decided again on what
// DynamoDB now holds, so exactly one of many concurrent keys wins. A key that
// SPEC 3 refuses is never pinned, whichever path brings it here.
func (rg *Registrar) pinSigning(ctx context.Context, a Agent, key []byte) (Agent, error) {
	if err := sig.CheckPublicKey(key); err != nil {
		return a, badSigningKey(err)
	}
	for range 3 {
		switch decideSigning(a.SigningPubKey, key) {
		case keySame:
			// A repeated registration repeats what followed the pin, so a
			// request cut after the pin's write is completed by its retry.
			if err := logPin(ctx, rg.d.Log, a); err != nil {
				return a, backend("log signing-key pin", err)
			}
			if m := LogMark(KeyPin, a.SigningSetAt); a.LogMark == m {
				clearLogMark(ctx, rg.env, rg.d.Pins, a.AgentID, m)
			}
			return a, rg.audit.record(ctx, pinAudit(a))
		case keyOther:
			return a, rg.otherKey(ctx, a, key)
		}
		at := rg.env.now()
		c, err := commitKeyChange(ctx, rg.d.Pins, a, KeyPin, key, at)
		if err == nil {
			a.SigningPubKey, a.SigningSetAt, a.LogMark = key, at, c.Mark()
			if err := logPin(ctx, rg.d.Log, a); err != nil {
				return a, backend("log signing-key pin", err)
			}
			clearLogMark(ctx, rg.env, rg.d.Pins, a.AgentID, c.Mark())
			return a, rg.audit.record(ctx, pinAudit(a))
		}
		if !errors.Is(err, ErrConflict) {
			return a, backend("pin signing key", err)
		}
		if a, err = rg.d.Agents.GetAgent(ctx, a.AgentID); err != nil {
			return a, backend("re-read agent", err)
		}
	}
	return a, &Error{Code: CodeConflict, Message: "the signing-key pin is contended; retry", RetryAfter: time.Second}
}

// otherKey refuses a registration with another key than the pinned one.
func (rg *Registrar) otherKey(ctx context.Context, a Agent, key []byte) error {
	rg.d.Alarms.raise(ctx, a, anomaly.SignatureInvalid, anomaly.Critical,
		"registration with a signing key other than the pinned one (fingerprint "+pack.Fingerprint(key)+")")
	return refuse(CodeSignatureInvalid, "a different signing key is pinned for this agent; an admin must rotate it first")
}

func pinAudit(a Agent) AuditEvent {
	fp := pack.Fingerprint(a.SigningPubKey)
	return AuditEvent{TenantID: a.TenantID, AgentID: a.AgentID, Actor: "agent:" + a.AgentID, At: a.SigningSetAt,
		Action: "signing_key_pinned", ID: auditID("signing_key_pinned", a.AgentID, fp, a.SigningSetAt.Format(time.RFC3339Nano)),
		Detail: map[string]string{"fingerprint": fp}}
}

// certPlan is what a registration does to the certificate pin (SPEC 5 steps 3 to 5).
type certPlan struct {
	tofu   bool   // pin the presented certificate
	reuse  string // a retried issuance: answer with this PEM again
	issue  bool   // issue a certificate for the CSR, pinned if the pin is still expect
	expect string // the fingerprint a renewal replaces
}

// planCert is the pure certificate rule of a registration. A non-empty reason
// refuses it with cert_pin_mismatch: once an agent's own certificate is pinned,
// the enrollment certificate only gets a retried issuance answered again, and
// a renewed-away certificate only a retried renewal.
func planCert(a Agent, p presented, v certVerdict, csr *x509.CertificateRequest) (certPlan, string) {
	if csr == nil {
		switch {
		case v == certPrevious:
			return certPlan{}, "a renewed-away client certificate was presented"
		case v == certEnrollment && a.Cert != nil:
			return certPlan{}, "the enrollment certificate was presented for an agent with a pinned certificate"
		case v == certOK && a.Cert == nil && p.err == nil:
			return certPlan{tofu: true}, ""
		}
		return certPlan{}, "" // enrollment without CSR pins nothing; a pinned agent keeps its pin
	}
	csrKey := spkiSHAOf(csr.RawSubjectPublicKeyInfo)
	// A retried issuance: the pin already holds a certificate the hub issued
	// for this very key, so answer with it again rather than issuing another.
	if a.Cert != nil && a.Cert.PEM != "" && a.Cert.PubKeySHA == csrKey && (v == certEnrollment || v == certPrevious) {
		return certPlan{reuse: a.Cert.PEM}, ""
	}
	switch {
	case v == certEnrollment && a.Cert == nil, v == certOK && a.Cert == nil:
		return certPlan{issue: true}, ""
	case v == certOK && a.Cert != nil && p.err == nil && p.id.Fingerprint == a.Cert.Fingerprint:
		return certPlan{issue: true, expect: a.Cert.Fingerprint}, "" // renewal (SPEC 5 step 5)
	}
	return certPlan{}, "certificate request with a certificate that cannot renew the pin"
}

// pinCert carries out plan and returns the issued certificate's PEM, if any.
func (rg *Registrar) pinCert(ctx context.Context, a Agent, p presented, plan certPlan, csr *x509.CertificateRequest) (string, error) {
	switch {
	case plan.reuse != "":
		return plan.reuse, nil
	case plan.tofu:
		pin := CertPin{Fingerprint: p.id.Fingerprint, PubKeySHA: spkiSHA(p.id.Cert), NotAfter: p.id.NotAfter, SetAt: rg.env.now()}
		return "", rg.writeCertPin(ctx, a, pin, "", "client_cert_pinned_tofu")
	case !plan.issue:
		return "", nil
	}
	cert, err := rg.d.Issuer.IssueAgent(csr, a.TenantID, a.AgentID, rg.cfg.AgentCertValidity)
	if err != nil {
		return "", backend("issue agent certificate", err)
	}
	pem := string(ca.EncodeCertPEM(cert))
	expect := plan.expect
	pin := CertPin{Fingerprint: ca.Fingerprint(cert.Raw), PEM: pem, PubKeySHA: spkiSHAOf(csr.RawSubjectPublicKeyInfo),
		NotAfter: cert.NotAfter, SetAt: rg.env.now(), Previous: expect}
	action := "client_cert_issued"
	if expect != "" {
		action = "client_cert_renewed"
	}
	if err := rg.writeCertPin(ctx, a, pin, expect, action); err != nil {
		return "", err
	}
	return pem, nil
}

// writeCertPin pins conditionally; when the race is lost, the winner's pin is
// accepted only if it is for the same key (the same agent retrying).
func (rg *Registrar) writeCertPin(ctx context.Context, a Agent, pin CertPin, expect, action string) error {
	err := rg.d.Pins.PinCert(ctx, a.AgentID, pin, expect)
	if errors.Is(err, ErrConflict) {
		cur, rerr := rg.d.Agents.GetAgent(ctx, a.AgentID)
		if rerr != nil {
			return backend("re-read agent", rerr)
		}
		if cur.Cert != nil && cur.Cert.PubKeySHA == pin.PubKeySHA && cur.Cert.Fingerprint == pin.Fingerprint {
			return nil
		}
		rg.d.Alarms.raise(ctx, a, anomaly.CertPinMismatch, anomaly.Critical, "lost a race to pin a different client certificate")
		return refuse(CodeCertPinMismatch, "another client certificate was pinned for this agent")
	}
	if err != nil {
		return backend("pin client certificate", err)
	}
	return rg.audit.record(ctx, AuditEvent{TenantID: a.TenantID, AgentID: a.AgentID, Actor: "agent:" + a.AgentID, At: pin.SetAt,
		Action: action, ID: auditID(action, a.AgentID, pin.Fingerprint),
		Detail: map[string]string{"fingerprint": pin.Fingerprint, "previous": expect, "not_after": pin.NotAfter.Format(time.RFC3339)}})
}

func spkiSHA(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return spkiSHAOf(c.RawSubjectPublicKeyInfo)
}

func spkiSHAOf(spki []byte) string {
	h := sha256.Sum256(spki)
	return hex.EncodeToString(h[:])
}
