package ca

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

// issueRaw issues tmpl as is, for subjects and usages the profiles never make.
func issueRaw(t *testing.T, a *Authority, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	c, err := a.issue(tmpl, newKey(t).Public(), leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientTmpl(name pkix.Name, eku ...x509.ExtKeyUsage) *x509.Certificate {
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return &x509.Certificate{Subject: name, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku}
}

func pemOf(c *x509.Certificate) string { return string(EncodeCertPEM(c)) }

func TestIdentify(t *testing.T) {
	ca := newTestCA(t, "monsys hub CA", 10)
	key := newKey(t).Public()
	csr, _ := agentCSR(t)
	agent, err := ca.IssueAgent(csr, "acme", "agent-7", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	enroll, err := ca.IssueEnrollment("acme", key, leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	operator, err := ca.IssueOperator("globex", key, leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	auditor := issueRaw(t, ca.Authority, clientTmpl(pkix.Name{CommonName: "x", Organization: []string{"acme"}, OrganizationalUnit: []string{"auditor"}}))
	noOU := issueRaw(t, ca.Authority, clientTmpl(pkix.Name{CommonName: "x", Organization: []string{"acme"}}))
	agentPEM := pemOf(agent)

	tests := []struct {
		name string
		pem  string
		now  time.Time
		role Role
		tnt  string
		id   string
		cert *x509.Certificate
	}{
		{"ok/agent", agentPEM, t0, RoleAgent, "acme", "agent-7", agent},
		{"ok/enrollment", pemOf(enroll), t0, RoleEnrollment, "acme", "", enroll},
		{"ok/operator", pemOf(operator), t0, RoleOperator, "globex", "", operator},
		{"ok/unknown-ou", pemOf(auditor), t0, RoleUnknown, "acme", "", auditor},
		{"ok/no-ou", pemOf(noOU), t0, RoleUnknown, "acme", "", noOU},
		{"ok/no-trailing-newline", strings.TrimSuffix(agentPEM, "\n"), t0, RoleAgent, "acme", "agent-7", agent},
		{"ok/crlf-and-space", "\r\n  " + strings.ReplaceAll(agentPEM, "\n", "\r\n") + "\r\n\r\n", t0, RoleAgent, "acme", "agent-7", agent},
		{"ok/at-not-before", agentPEM, agent.NotBefore, RoleAgent, "acme", "agent-7", agent},
		{"ok/at-not-after", agentPEM, agent.NotAfter, RoleAgent, "acme", "agent-7", agent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.at(tt.now).Identify(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != tt.role || got.Tenant != tt.tnt || got.AgentID != tt.id {
				t.Errorf("Identify = %s tenant %q agent %q, want %s %q %q", got.Role, got.Tenant, got.AgentID, tt.role, tt.tnt, tt.id)
			}
			if got.Fingerprint != Fingerprint(tt.cert.Raw) {
				t.Errorf("Fingerprint = %s, want %s", got.Fingerprint, Fingerprint(tt.cert.Raw))
			}
			if !got.NotAfter.Equal(tt.cert.NotAfter) || !bytes.Equal(got.Cert.Raw, tt.cert.Raw) {
				t.Errorf("NotAfter = %s, Cert %s; want %s and the presented certificate", got.NotAfter, got.Cert.Subject, tt.cert.NotAfter)
			}
		})
	}
}

func TestIdentifyFail(t *testing.T) {
	ca := newTestCA(t, "monsys hub CA", 11)
	other := newTestCA(t, "monsys hub CA", 12) // same name, other key
	key := newKey(t).Public()
	csr, _ := agentCSR(t)
	agent, err := ca.IssueAgent(csr, "acme", "a1", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueAgent(csr, "acme", "a1", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer([]string{"localhost"}, key, leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	agentPEM := pemOf(agent)
	raw := func(name pkix.Name, eku ...x509.ExtKeyUsage) string {
		return pemOf(issueRaw(t, ca.Authority, clientTmpl(name, eku...)))
	}
	// pkix.Name.ExtraNames would replace the CN, so two CNs need a raw subject.
	twoCN, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidCommonName, Value: "a1"}},
		{{Type: oidCommonName, Value: "a2"}},
		{{Type: oidOrg, Value: "acme"}},
		{{Type: oidOrgUnit, Value: "agent"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	twoCNTmpl := clientTmpl(pkix.Name{})
	twoCNTmpl.RawSubject = twoCN

	tests := []struct {
		name string
		pem  string
		now  time.Time
		want error
		msg  string
	}{
		{"fail/other-ca", pemOf(foreign), t0, ErrUntrusted, "verify chain"},
		{"fail/expired", agentPEM, agent.NotAfter.Add(time.Second), ErrUntrusted, "expired at"},
		{"fail/not-yet-valid", agentPEM, agent.NotBefore.Add(-time.Second), ErrUntrusted, "not valid before"},
		{"fail/server-cert-as-client", pemOf(server), t0, ErrUntrusted, "usage"},
		{"fail/ca-cert-as-client", pemOf(ca.Cert), t0, ErrUntrusted, "is a CA"},
		{"fail/eku-any", raw(pkix.Name{Organization: []string{"acme"}, OrganizationalUnit: []string{"operator"}}, x509.ExtKeyUsageAny), t0, ErrUntrusted, "lacks extended key usage clientAuth"},
		{"fail/two-ou", raw(pkix.Name{Organization: []string{"acme"}, OrganizationalUnit: []string{"agent", "operator"}}), t0, ErrUntrusted, "2 OU values"},
		{"fail/two-o", raw(pkix.Name{Organization: []string{"acme", "globex"}, OrganizationalUnit: []string{"operator"}}), t0, ErrUntrusted, "2 O values"},
		{"fail/two-cn", pemOf(issueRaw(t, ca.Authority, twoCNTmpl)), t0, ErrUntrusted, "2 CN values"},
		{"fail/no-o", raw(pkix.Name{CommonName: "a1", OrganizationalUnit: []string{"agent"}}), t0, ErrUntrusted, "no O"},
		{"fail/bad-tenant", raw(pkix.Name{Organization: []string{"Acme Corp"}, OrganizationalUnit: []string{"operator"}}), t0, ErrBadID, `"Acme Corp"`},
		{"fail/bad-agent-id", raw(pkix.Name{CommonName: "a 1", Organization: []string{"acme"}, OrganizationalUnit: []string{"agent"}}), t0, ErrBadID, `"a 1"`},
		{"fail/agent-no-cn", raw(pkix.Name{Organization: []string{"acme"}, OrganizationalUnit: []string{"agent"}}), t0, ErrBadID, `agent id ""`},
		{"fail/empty", "", t0, ErrBadCert, "empty"},
		{"fail/garbage", "hello", t0, ErrBadCert, `"hello"`},
		{"fail/garbage-in-block", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", t0, ErrBadCert, "decode DER"},
		{"fail/two-blocks", agentPEM + pemOf(ca.Cert), t0, ErrBadCert, "second PEM block"},
		{"fail/csr-block", string(readCSRVector(t, "p256")), t0, ErrBadCert, `"CERTIFICATE REQUEST"`},
		{"fail/leading-text", "subject=CN=a1\n" + agentPEM, t0, ErrBadCert, "before the PEM block"},
		{"fail/trailing-text", agentPEM + "junk", t0, ErrBadCert, `"junk"`},
		{"fail/headers", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"X": "y"}, Bytes: agent.Raw})), t0, ErrBadCert, "headers"},
		{"fail/oversize", agentPEM + strings.Repeat(" ", MaxCertPEM), t0, ErrBadCert, "exceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.at(tt.now).Identify(tt.pem)
			if err == nil {
				t.Fatalf("Identify = %s %q, want error", got.Role, got.Tenant)
			}
			if !errors.Is(err, ErrUntrusted) || !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want ErrUntrusted and %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
			if got != (Identity{}) {
				t.Errorf("Identity = %+v with an error, want zero", got)
			}
		})
	}
}

func TestIdentifyWithoutSigner(t *testing.T) {
	ca := newTestCA(t, "ca", 13)
	c, err := ca.IssueEnrollment("acme", newKey(t).Public(), leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	verifier := &Authority{Cert: ca.Cert, Now: fixedClock(t0)}
	if id, err := verifier.Identify(pemOf(c)); err != nil || id.Role != RoleEnrollment {
		t.Errorf("Identify = %v, %v; want enrollment", id.Role, err)
	}
	if _, err := (&Authority{}).Identify(pemOf(c)); !errors.Is(err, ErrBadAuthority) {
		t.Errorf("Identify without CA certificate: err = %v, want ErrBadAuthority", err)
	}
}

// TestIdentifyExpiredRoot presents a valid leaf while the truststore holds an
// expired root with the same name and key.
func TestIdentifyExpiredRoot(t *testing.T) {
	ca := newTestCA(t, "monsys hub CA", 14)
	c, err := ca.IssueOperator("acme", newKey(t).Public(), leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	old, err := NewRoot(ca.signer, "monsys hub CA", t0.Add(-48*time.Hour), 47*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Authority{Cert: old, Now: fixedClock(t0)}
	_, err = a.Identify(pemOf(c))
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("err = %v, want ErrUntrusted mentioning expired", err)
	}
}
