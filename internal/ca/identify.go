package ca

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"time"
)

// Object identifiers of the subject attributes Identify reads.
var (
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrg        = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrgUnit    = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// Identify verifies the client certificate in certPEM (one CERTIFICATE block,
// as API Gateway hands it to handlers) against a.Cert at a.Now() and
// classifies it. The steps, each a function below, run in this order:
//
//  1. parse: exactly one certificate (ParseCertPEM);
//  2. checkValidity: a.Now() within [NotBefore, NotAfter];
//  3. verifyChain: signed by a.Cert, which is valid too;
//  4. checkClientLeaf: an end-entity certificate whose EKU names ClientAuth;
//  5. classify: exactly one O (a valid tenant id), at most one OU and CN; the
//     OU gives the role, and an agent's CN must be a valid agent id.
//
// Any failure is ErrUntrusted wrapped with the reason. A trusted certificate
// whose OU is none of the three roles gives RoleUnknown with Tenant from O;
// callers must refuse it wherever a role is required.
func (a *Authority) Identify(certPEM string) (Identity, error) {
	if a.Cert == nil {
		return Identity{}, fmt.Errorf("identify: %w: no CA certificate", ErrBadAuthority)
	}
	c, err := ParseCertPEM(certPEM)
	if err != nil {
		return Identity{}, fmt.Errorf("identify: %w: %w", ErrUntrusted, err)
	}
	now := a.now()
	untrusted := func(err error) (Identity, error) {
		return Identity{}, fmt.Errorf("identify %s: %w: %w", Fingerprint(c.Raw), ErrUntrusted, err)
	}
	if err := checkValidity(c, now); err != nil {
		return untrusted(err)
	}
	if err := verifyChain(c, a.Cert, now); err != nil {
		return untrusted(err)
	}
	if err := checkClientLeaf(c); err != nil {
		return untrusted(err)
	}
	id, err := classify(c)
	if err != nil {
		return untrusted(err)
	}
	return id, nil
}

// checkValidity rejects a certificate outside its validity window at now. It
// runs before verifyChain only to give a clearer message than x509's.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("not valid before %s (now %s)", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("expired at %s (now %s)", c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyChain checks that c is signed by root and that both are valid at now.
// The hub issues no intermediates, so none are accepted.
func verifyChain(c, root *x509.Certificate, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(root)
	_, err := c.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("verify chain: %w", err)
	}
	return nil
}

// checkClientLeaf demands an end-entity certificate that names ClientAuth
// explicitly. x509.Verify alone would accept a certificate without any EKU
// (the CA certificate itself, say) for every usage.
func checkClientLeaf(c *x509.Certificate) error {
	if c.IsCA {
		return fmt.Errorf("certificate %q is a CA", c.Subject.String())
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return fmt.Errorf("certificate %q lacks extended key usage clientAuth", c.Subject.String())
	}
	return nil
}

// classify reads role, tenant and agent id from the subject. It counts the
// raw attributes, because pkix.Name keeps only the last CN of several.
func classify(c *x509.Certificate) (Identity, error) {
	count := map[string]int{}
	for _, atv := range c.Subject.Names {
		count[atv.Type.String()]++
	}
	for _, attr := range []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{{oidCommonName, "CN"}, {oidOrg, "O"}, {oidOrgUnit, "OU"}} {
		if n := count[attr.oid.String()]; n > 1 {
			return Identity{}, fmt.Errorf("ambiguous subject %q: %d %s values", c.Subject.String(), n, attr.name)
		}
	}
	if len(c.Subject.Organization) != 1 {
		return Identity{}, fmt.Errorf("subject %q has no O (tenant)", c.Subject.String())
	}
	tenant := c.Subject.Organization[0]
	if err := checkTenant(tenant); err != nil {
		return Identity{}, fmt.Errorf("subject %q: %w", c.Subject.String(), err)
	}
	role := RoleUnknown
	if len(c.Subject.OrganizationalUnit) == 1 {
		role = roleOf(c.Subject.OrganizationalUnit[0])
	}
	id := Identity{
		Role:        role,
		Tenant:      tenant,
		Fingerprint: Fingerprint(c.Raw),
		NotAfter:    c.NotAfter,
		Cert:        c,
	}
	if role == RoleAgent {
		if !ValidAgentID(c.Subject.CommonName) {
			return Identity{}, fmt.Errorf("subject %q: %w: agent id %q", c.Subject.String(), ErrBadID, c.Subject.CommonName)
		}
		id.AgentID = c.Subject.CommonName
	}
	return id, nil
}
