// Package ca is the X.509 core of mutual-TLS enrollment (SPEC section 5): it
// creates the hub's root, issues the enrollment, operator, agent and server
// certificate profiles, and identifies the client certificate a request
// presents. The CA private key is only ever reached through a crypto.Signer,
// so production can keep it in KMS. The profiles are described in docs/mtls.md.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrUntrusted: a presented client certificate is not acceptable.
	ErrUntrusted = errors.New("ca: untrusted certificate")
	// ErrBadCSR: a certificate signing request is malformed or unacceptable.
	ErrBadCSR = errors.New("ca: bad certificate request")
	// ErrBadID: a tenant id, agent id, common name or host name has bad syntax.
	ErrBadID = errors.New("ca: bad identifier")
	// ErrBadCert: certificate PEM that cannot be parsed.
	ErrBadCert = errors.New("ca: bad certificate")
	// ErrBadKey: a subject public key other than ECDSA P-256.
	ErrBadKey = errors.New("ca: unsupported public key")
	// ErrBadValidity: a requested validity that is not positive or outlives the CA.
	ErrBadValidity = errors.New("ca: bad validity")
	// ErrBadAuthority: an Authority (or root signer) that cannot issue.
	ErrBadAuthority = errors.New("ca: bad authority")
)

// Backdate is subtracted from the current time to form every NotBefore, so
// that a peer whose clock runs a little behind the hub's does not reject a
// certificate it has just received.
const Backdate = 5 * time.Minute

// serialBytes is the size of a serial number: 128 bits from Authority.Rand.
const serialBytes = 16

// Role is what a trusted client certificate is for, read from its OU.
type Role int

// Roles. The OU value of each known role is its String.
const (
	RoleUnknown    Role = iota // trusted, but OU is none of the below
	RoleEnrollment             // O=<tenant>, OU=enrollment: shipped with the installer
	RoleOperator               // O=<tenant>, OU=operator: admin requests
	RoleAgent                  // CN=<agent_id>, O=<tenant>, OU=agent: one agent
)

// String returns the OU value of r ("enrollment", "operator", "agent") or "unknown".
func (r Role) String() string {
	switch r {
	case RoleEnrollment:
		return "enrollment"
	case RoleOperator:
		return "operator"
	case RoleAgent:
		return "agent"
	default:
		return "unknown"
	}
}

// roleOf maps an OU value to its Role.
func roleOf(ou string) Role {
	for _, r := range []Role{RoleEnrollment, RoleOperator, RoleAgent} {
		if ou == r.String() {
			return r
		}
	}
	return RoleUnknown
}

// Identity is what Identify learns from a trusted client certificate.
type Identity struct {
	Role        Role
	Tenant      string // O
	AgentID     string // CN, for RoleAgent only
	Fingerprint string // lowercase hex SHA-256 of the DER: what the hub pins
	NotAfter    time.Time
	Cert        *x509.Certificate
}

// Authority issues certificates with the CA key behind Signer and identifies
// client certificates against Cert. Identify needs only Cert; issuing needs
// Signer, an ECDSA P-256 signer whose public key is Cert's. Signer is only
// ever handed SHA-256 digests (never the message), so a KMS key with
// ECDSA_SHA_256 and MessageType=DIGEST can back it.
//
// Every leaf is valid from Now()-Backdate (but not before the CA) to
// Now()+validity, which must end within the CA's validity; its serial number
// is 128 bits read from Rand. An Authority is safe for concurrent use when
// Signer and Rand are.
type Authority struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
	Rand   io.Reader        // serial numbers and signing randomness; nil means crypto/rand
	Now    func() time.Time // nil means time.Now
}

func (a *Authority) rand() io.Reader {
	if a.Rand == nil {
		return rand.Reader
	}
	return a.Rand
}

func (a *Authority) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// CertPool returns a pool holding only the CA certificate, for
// tls.Config.ClientCAs or RootCAs.
func (a *Authority) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	if a.Cert != nil {
		p.AddCert(a.Cert)
	}
	return p
}

// NewRoot creates the self-signed CA certificate for signer, an ECDSA P-256
// key: CN=commonName, valid from now-Backdate to now+validity, IsCA with
// MaxPathLen 0 (it signs leaves only), KeyUsage CertSign|CRLSign and a
// SubjectKeyId. Serial and signing randomness come from rand (nil means
// crypto/rand).
func NewRoot(signer crypto.Signer, commonName string, now time.Time, validity time.Duration, rand io.Reader) (*x509.Certificate, error) {
	if signer == nil {
		return nil, fmt.Errorf("new root: %w: nil signer", ErrBadAuthority)
	}
	pub, err := p256Key(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("new root: %w: signer: %w", ErrBadAuthority, err)
	}
	if !validCommonName(commonName) {
		return nil, fmt.Errorf("new root: %w: common name %q: want 1 to 64 printable characters", ErrBadID, commonName)
	}
	if validity <= 0 {
		return nil, fmt.Errorf("new root: %w: %s is not positive", ErrBadValidity, validity)
	}
	a := &Authority{Rand: rand}
	serial, err := a.serial()
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificate(a.rand(), tmpl, tmpl, pub, digestSigner{signer})
	if err != nil {
		return nil, fmt.Errorf("new root: %w: sign: %w", ErrBadAuthority, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new root: %w: parse issued: %w", ErrBadAuthority, err)
	}
	return c, nil
}

// IssueAgent issues an agent's client certificate for the key in csr, which
// must be ECDSA P-256 with a valid signature (see ParseCSR). The subject is
// chosen by the hub (CN=agentID, O=tenant, OU=agent); nothing else in the CSR
// (subject, SANs, requested extensions) is copied.
func (a *Authority) IssueAgent(csr *x509.CertificateRequest, tenant, agentID string, validity time.Duration) (*x509.Certificate, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("issue agent: %w", err)
	}
	if !ValidAgentID(agentID) {
		return nil, fmt.Errorf("issue agent: %w: agent id %q: want [A-Za-z0-9_-]{1,64}", ErrBadID, agentID)
	}
	if csr == nil {
		return nil, fmt.Errorf("issue agent: %w: nil request", ErrBadCSR)
	}
	if err := checkCSR(csr); err != nil {
		return nil, fmt.Errorf("issue agent: %w", err)
	}
	c, err := a.issue(clientTemplate(agentID, tenant, RoleAgent), csr.PublicKey, validity)
	if err != nil {
		return nil, fmt.Errorf("issue agent: %w", err)
	}
	return c, nil
}

// IssueEnrollment issues a tenant's enrollment certificate (O=tenant,
// OU=enrollment) for pub, an ECDSA P-256 key.
func (a *Authority) IssueEnrollment(tenant string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	return a.issueTenant("issue enrollment", tenant, RoleEnrollment, pub, validity)
}

// IssueOperator issues a tenant's operator certificate (O=tenant,
// OU=operator) for pub, an ECDSA P-256 key.
func (a *Authority) IssueOperator(tenant string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	return a.issueTenant("issue operator", tenant, RoleOperator, pub, validity)
}

func (a *Authority) issueTenant(op, tenant string, role Role, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	c, err := a.issue(clientTemplate("", tenant, role), pub, validity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return c, nil
}

// clientTemplate is the common shape of the three client profiles. Only the
// agent profile has a CN: the agent id. Enrollment and operator certificates
// name the tenant and role alone, as SPEC section 5 writes them.
func clientTemplate(cn, tenant string, role Role) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         cn,
			Organization:       []string{tenant},
			OrganizationalUnit: []string{role.String()},
		},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// IssueServer issues a TLS server certificate for pub, an ECDSA P-256 key,
// naming hosts (DNS names or IP addresses) as SANs; CN is the first host.
// EKU is ServerAuth only, so it is never accepted as a client certificate.
func (a *Authority) IssueServer(hosts []string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	dns, ips, err := splitHosts(hosts)
	if err != nil {
		return nil, fmt.Errorf("issue server: %w", err)
	}
	tmpl := &x509.Certificate{
		DNSNames:    dns,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(hosts[0]) <= maxCommonName {
		tmpl.Subject.CommonName = hosts[0]
	}
	c, err := a.issue(tmpl, pub, validity)
	if err != nil {
		return nil, fmt.Errorf("issue server: %w", err)
	}
	return c, nil
}

// issue completes tmpl with the fields every leaf shares (serial, validity,
// basic constraints, key ids, signature algorithm) and signs it.
func (a *Authority) issue(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	if err := a.checkSigner(); err != nil {
		return nil, err
	}
	key, err := p256Key(pub)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := a.window(validity)
	if err != nil {
		return nil, err
	}
	serial, err := a.serial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.SubjectKeyId = skid
	tmpl.AuthorityKeyId = a.Cert.SubjectKeyId
	tmpl.SignatureAlgorithm = x509.ECDSAWithSHA256
	der, err := x509.CreateCertificate(a.rand(), tmpl, a.Cert, key, digestSigner{a.Signer})
	if err != nil {
		return nil, fmt.Errorf("%w: sign: %w", ErrBadAuthority, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse issued: %w", ErrBadAuthority, err)
	}
	return c, nil
}

// window returns the validity of a leaf issued now: from now-Backdate (but
// not before the CA) to now+validity, which must not outlive the CA.
func (a *Authority) window(validity time.Duration) (time.Time, time.Time, error) {
	if validity <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %s is not positive", ErrBadValidity, validity)
	}
	now := a.now().UTC().Truncate(time.Second)
	if now.Before(a.Cert.NotBefore) || now.After(a.Cert.NotAfter) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: CA certificate is not valid at %s (valid %s to %s)",
			ErrBadAuthority, now.Format(time.RFC3339), a.Cert.NotBefore.Format(time.RFC3339), a.Cert.NotAfter.Format(time.RFC3339))
	}
	notBefore := now.Add(-Backdate)
	if notBefore.Before(a.Cert.NotBefore) {
		notBefore = a.Cert.NotBefore
	}
	notAfter := now.Add(validity)
	if notAfter.After(a.Cert.NotAfter) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %s from %s ends after the CA certificate (%s)",
			ErrBadValidity, validity, now.Format(time.RFC3339), a.Cert.NotAfter.Format(time.RFC3339))
	}
	return notBefore, notAfter, nil
}

// serial returns 128 bits from Rand as a positive serial number.
func (a *Authority) serial() (*big.Int, error) {
	b := make([]byte, serialBytes)
	if _, err := io.ReadFull(a.rand(), b); err != nil {
		return nil, fmt.Errorf("%w: serial number: read rand: %w", ErrBadAuthority, err)
	}
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		return nil, fmt.Errorf("%w: serial number: rand returned all zero bytes", ErrBadAuthority)
	}
	return n, nil
}

// checkSigner reports whether a can issue: a CA certificate and an ECDSA
// P-256 signer holding its key.
func (a *Authority) checkSigner() error {
	if a.Cert == nil {
		return fmt.Errorf("%w: no CA certificate", ErrBadAuthority)
	}
	if !a.Cert.IsCA || a.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%w: certificate %q is not a CA", ErrBadAuthority, a.Cert.Subject.String())
	}
	if a.Signer == nil {
		return fmt.Errorf("%w: nil signer", ErrBadAuthority)
	}
	pub, err := p256Key(a.Signer.Public())
	if err != nil {
		return fmt.Errorf("%w: signer: %w", ErrBadAuthority, err)
	}
	if !pub.Equal(a.Cert.PublicKey) {
		return fmt.Errorf("%w: signer key does not match CA certificate %q", ErrBadAuthority, a.Cert.Subject.String())
	}
	return nil
}

// p256Key returns pub if it is an ECDSA P-256 public key.
func p256Key(pub crypto.PublicKey) (*ecdsa.PublicKey, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k == nil {
		return nil, fmt.Errorf("%w: %s, want ECDSA P-256", ErrBadKey, describeKey(pub))
	}
	if k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s, want ECDSA P-256", ErrBadKey, describeKey(pub))
	}
	return k, nil
}

// subjectKeyID is method 1 of RFC 7093 section 2: the leftmost 160 bits of
// the SHA-256 of the subjectPublicKey bits.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	b, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	h := sha256.Sum256(b)
	return h[:20], nil
}

// digestSigner exposes only Public and Sign of the CA signer. Hiding any
// crypto.MessageSigner method makes x509 hash the TBS itself and hand over a
// SHA-256 digest, which is what a KMS ECDSA_SHA_256 key signs.
type digestSigner struct{ s crypto.Signer }

var _ crypto.Signer = digestSigner{}

func (d digestSigner) Public() crypto.PublicKey { return d.s.Public() }

func (d digestSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("ca signer: want a SHA-256 digest, got %d bytes", len(digest))
	}
	return d.s.Sign(rand, digest, opts)
}
