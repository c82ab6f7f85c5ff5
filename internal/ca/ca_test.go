package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// Extension OIDs a certificate of ours may carry.
var (
	oidSKI   = "2.5.29.14"
	oidKU    = "2.5.29.15"
	oidSAN   = "2.5.29.17"
	oidBC    = "2.5.29.19"
	oidAKI   = "2.5.29.35"
	oidEKU   = "2.5.29.37"
	critical = map[string]bool{oidKU: true, oidBC: true}
)

func skid(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := pub.(*ecdsa.PublicKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return h[:20]
}

// checkExtensions demands exactly the extensions in want, with keyUsage and
// basicConstraints critical and the others not.
func checkExtensions(t *testing.T, c *x509.Certificate, want ...string) {
	t.Helper()
	var got []string
	for _, e := range c.Extensions {
		id := e.Id.String()
		got = append(got, id)
		if e.Critical != critical[id] {
			t.Errorf("extension %s critical = %v, want %v", id, e.Critical, critical[id])
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("extensions = %v, want %v", got, want)
	}
}

func TestNewRoot(t *testing.T) {
	s := newOpaqueSigner(newKey(t))
	serial := bytes.Repeat([]byte{0xa5}, 16)
	root, err := NewRoot(s, "monsys hub CA", t0, rootValidity, bytes.NewReader(serial))
	if err != nil {
		t.Fatal(err)
	}
	if root.Version != 3 {
		t.Errorf("Version = %d, want 3", root.Version)
	}
	if want := new(big.Int).SetBytes(serial); root.SerialNumber.Cmp(want) != 0 {
		t.Errorf("SerialNumber = %x, want %x", root.SerialNumber, want)
	}
	if root.Subject.String() != "CN=monsys hub CA" || !bytes.Equal(root.RawIssuer, root.RawSubject) {
		t.Errorf("Subject = %q, Issuer = %q, want CN=monsys hub CA for both", root.Subject, root.Issuer)
	}
	if !root.NotBefore.Equal(t0.Add(-Backdate)) || !root.NotAfter.Equal(t0.Add(rootValidity)) {
		t.Errorf("validity = %s..%s, want %s..%s", root.NotBefore, root.NotAfter, t0.Add(-Backdate), t0.Add(rootValidity))
	}
	if !root.BasicConstraintsValid || !root.IsCA || root.MaxPathLen != 0 || !root.MaxPathLenZero {
		t.Errorf("basic constraints valid=%v ca=%v maxPathLen=%d zero=%v, want true true 0 true",
			root.BasicConstraintsValid, root.IsCA, root.MaxPathLen, root.MaxPathLenZero)
	}
	if root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %b, want CertSign|CRLSign", root.KeyUsage)
	}
	if len(root.ExtKeyUsage) != 0 || len(root.UnknownExtKeyUsage) != 0 {
		t.Errorf("ExtKeyUsage = %v %v, want none", root.ExtKeyUsage, root.UnknownExtKeyUsage)
	}
	if !bytes.Equal(root.SubjectKeyId, skid(t, s.Public())) {
		t.Errorf("SubjectKeyId = %x, want %x", root.SubjectKeyId, skid(t, s.Public()))
	}
	if len(root.AuthorityKeyId) != 0 {
		t.Errorf("AuthorityKeyId = %x, want none on a self-signed root", root.AuthorityKeyId)
	}
	if root.SignatureAlgorithm != x509.ECDSAWithSHA256 || !s.Public().(*ecdsa.PublicKey).Equal(root.PublicKey) {
		t.Errorf("SignatureAlgorithm = %s, want ECDSA-SHA256 with the signer's key", root.SignatureAlgorithm)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	checkExtensions(t, root, oidKU, oidBC, oidSKI)
}

func TestNewRootFail(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := newOpaqueSigner(newKey(t))
	tests := []struct {
		name     string
		signer   crypto.Signer
		cn       string
		validity time.Duration
		rand     io.Reader
		want     error
		msg      string
	}{
		{"fail/nil-signer", nil, "ca", time.Hour, nil, ErrBadAuthority, "nil signer"},
		{"fail/p384-signer", newOpaqueSigner(p384), "ca", time.Hour, nil, ErrBadKey, "ECDSA P-384"},
		{"fail/ed25519-signer", ed, "ca", time.Hour, nil, ErrBadKey, "Ed25519"},
		{"fail/empty-cn", p256, "", time.Hour, nil, ErrBadID, `""`},
		{"fail/long-cn", p256, strings.Repeat("c", 65), time.Hour, nil, ErrBadID, "ccc"},
		{"fail/control-char-cn", p256, "ca\n", time.Hour, nil, ErrBadID, `"ca\n"`},
		{"fail/zero-validity", p256, "ca", 0, nil, ErrBadValidity, "0s"},
		{"fail/negative-validity", p256, "ca", -time.Hour, nil, ErrBadValidity, "-1h"},
		{"fail/rand-error", p256, "ca", time.Hour, iotest.ErrReader(io.ErrClosedPipe), ErrBadAuthority, "serial"},
		{"fail/zero-serial", p256, "ca", time.Hour, bytes.NewReader(make([]byte, 16)), ErrBadAuthority, "zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewRoot(tt.signer, tt.cn, t0, tt.validity, tt.rand)
			if err == nil {
				t.Fatalf("NewRoot = %v, want error", c.Subject)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

// wantLeaf is what a profile must produce beyond the fields all leaves share.
type wantLeaf struct {
	subject string // RFC 2253 form
	cn      string
	o, ou   []string
	eku     []x509.ExtKeyUsage
	dns     []string
	ips     []net.IP
}

// checkLeaf checks every field of a leaf issued by ca at t0 for pub.
func checkLeaf(t *testing.T, ca *Authority, c *x509.Certificate, pub crypto.PublicKey, want wantLeaf) {
	t.Helper()
	if c.Version != 3 {
		t.Errorf("Version = %d, want 3", c.Version)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("SerialNumber = %x, want positive and at most 128 bits", c.SerialNumber)
	}
	if !bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) {
		t.Errorf("Issuer = %q, want %q", c.Issuer, ca.Cert.Subject)
	}
	if c.Subject.String() != want.subject {
		t.Errorf("Subject = %q, want %q", c.Subject, want.subject)
	}
	if c.Subject.CommonName != want.cn || !slices.Equal(c.Subject.Organization, want.o) || !slices.Equal(c.Subject.OrganizationalUnit, want.ou) {
		t.Errorf("Subject CN=%q O=%q OU=%q, want CN=%q O=%q OU=%q",
			c.Subject.CommonName, c.Subject.Organization, c.Subject.OrganizationalUnit, want.cn, want.o, want.ou)
	}
	if !c.NotBefore.Equal(t0.Add(-Backdate)) || !c.NotAfter.Equal(t0.Add(leafValidity)) {
		t.Errorf("validity = %s..%s, want %s..%s", c.NotBefore, c.NotAfter, t0.Add(-Backdate), t0.Add(leafValidity))
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %b, want DigitalSignature", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, want.eku) || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("ExtKeyUsage = %v %v, want %v", c.ExtKeyUsage, c.UnknownExtKeyUsage, want.eku)
	}
	if !c.BasicConstraintsValid || c.IsCA {
		t.Errorf("basic constraints valid=%v ca=%v, want true false", c.BasicConstraintsValid, c.IsCA)
	}
	if !slices.Equal(c.DNSNames, want.dns) || len(c.EmailAddresses) != 0 || len(c.URIs) != 0 {
		t.Errorf("SANs dns=%q email=%q uri=%v, want dns=%q only", c.DNSNames, c.EmailAddresses, c.URIs, want.dns)
	}
	if !slices.EqualFunc(c.IPAddresses, want.ips, net.IP.Equal) {
		t.Errorf("IPAddresses = %v, want %v", c.IPAddresses, want.ips)
	}
	if !bytes.Equal(c.SubjectKeyId, skid(t, pub)) || !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Errorf("key ids subject=%x authority=%x, want %x %x", c.SubjectKeyId, c.AuthorityKeyId, skid(t, pub), ca.Cert.SubjectKeyId)
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("algorithms = %s %s, want ECDSA-SHA256 ECDSA", c.SignatureAlgorithm, c.PublicKeyAlgorithm)
	}
	if !pub.(*ecdsa.PublicKey).Equal(c.PublicKey) {
		t.Error("PublicKey is not the requested key")
	}
	if err := c.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("signature from CA: %v", err)
	}
	exts := []string{oidKU, oidEKU, oidBC, oidSKI, oidAKI}
	if len(want.dns)+len(want.ips) > 0 {
		exts = append(exts, oidSAN)
	}
	checkExtensions(t, c, exts...)
}

func TestIssue(t *testing.T) {
	ca := newTestCA(t, "monsys hub CA", 1)
	key := newKey(t)
	csr, csrKey := agentCSR(t)
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name  string
		issue func() (*x509.Certificate, error)
		pub   crypto.PublicKey
		want  wantLeaf
	}{
		{
			"ok/agent",
			func() (*x509.Certificate, error) { return ca.IssueAgent(csr, "acme", "agent_01-X", leafValidity) },
			csrKey.Public(),
			wantLeaf{subject: "CN=agent_01-X,OU=agent,O=acme", cn: "agent_01-X", o: []string{"acme"}, ou: []string{"agent"}, eku: client},
		},
		{
			"ok/agent-csr-claims-other-tenant",
			func() (*x509.Certificate, error) {
				return ca.IssueAgent(mustParseCSR(t, "other-tenant"), "acme", "a1", leafValidity)
			},
			mustParseCSR(t, "other-tenant").PublicKey,
			wantLeaf{subject: "CN=a1,OU=agent,O=acme", cn: "a1", o: []string{"acme"}, ou: []string{"agent"}, eku: client},
		},
		{
			"ok/enrollment",
			func() (*x509.Certificate, error) { return ca.IssueEnrollment("acme", key.Public(), leafValidity) },
			key.Public(),
			wantLeaf{subject: "OU=enrollment,O=acme", o: []string{"acme"}, ou: []string{"enrollment"}, eku: client},
		},
		{
			"ok/operator",
			func() (*x509.Certificate, error) { return ca.IssueOperator("acme-2", key.Public(), leafValidity) },
			key.Public(),
			wantLeaf{subject: "OU=operator,O=acme-2", o: []string{"acme-2"}, ou: []string{"operator"}, eku: client},
		},
		{
			"ok/server",
			func() (*x509.Certificate, error) {
				return ca.IssueServer([]string{"localhost", "127.0.0.1", "hub.example.com", "::1"}, key.Public(), leafValidity)
			},
			key.Public(),
			wantLeaf{
				subject: "CN=localhost", cn: "localhost",
				eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				dns: []string{"localhost", "hub.example.com"},
				ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
			},
		},
		{
			"ok/server-ip-only",
			func() (*x509.Certificate, error) {
				return ca.IssueServer([]string{"10.1.2.3"}, key.Public(), leafValidity)
			},
			key.Public(),
			wantLeaf{
				subject: "CN=10.1.2.3", cn: "10.1.2.3",
				eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				ips: []net.IP{net.ParseIP("10.1.2.3")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.issue()
			if err != nil {
				t.Fatal(err)
			}
			checkLeaf(t, ca.Authority, c, tt.pub, tt.want)
		})
	}
}

func TestIssueSerial(t *testing.T) {
	ca := newTestCA(t, "ca", 2)
	want := bytes.Repeat([]byte{0x80, 0x01}, 8) // top bit set: still positive, 128 bits
	a := *ca.Authority
	a.Rand = io.MultiReader(bytes.NewReader(want), rand.Reader)
	c, err := a.IssueEnrollment("acme", newKey(t).Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if w := new(big.Int).SetBytes(want); c.SerialNumber.Cmp(w) != 0 || c.SerialNumber.BitLen() != 128 {
		t.Errorf("SerialNumber = %x, want %x", c.SerialNumber, w)
	}

	seen := map[string]bool{}
	for range 20 {
		c, err := ca.IssueOperator("acme", newKey(t).Public(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if s := c.SerialNumber.String(); seen[s] {
			t.Fatalf("serial %s issued twice", s)
		} else {
			seen[s] = true
		}
	}
}

func TestIssueBackdateClampedToCA(t *testing.T) {
	ca := newTestCA(t, "ca", 3)
	now := ca.Cert.NotBefore.Add(time.Minute)
	c, err := ca.at(now).IssueOperator("acme", newKey(t).Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotBefore.Equal(ca.Cert.NotBefore) || !c.NotAfter.Equal(now.Add(time.Hour)) {
		t.Errorf("validity = %s..%s, want %s..%s", c.NotBefore, c.NotAfter, ca.Cert.NotBefore, now.Add(time.Hour))
	}
}

func TestIssueFail(t *testing.T) {
	ca := newTestCA(t, "ca", 4)
	other := newTestCA(t, "other", 5)
	pub := newKey(t).Public()
	csr, _ := agentCSR(t)
	badSig, err := x509.ParseCertificateRequest(pemBytes(t, flipSignatureByte(t, readCSRVector(t, "p256"))))
	if err != nil {
		t.Fatal(err)
	}
	rsaCSR, err := x509.ParseCertificateRequest(pemBytes(t, readCSRVector(t, "rsa2048")))
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mismatched := *ca.Authority
	mismatched.Signer = other.signer
	noSigner := *ca.Authority
	noSigner.Signer = nil
	noCert := *ca.Authority
	noCert.Cert = nil
	leafCA := *ca.Authority
	if leafCA.Cert, err = ca.IssueOperator("acme", ca.signer.Public(), time.Hour); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		issue func() (*x509.Certificate, error)
		want  error
		msg   string
	}{
		{"fail/tenant-uppercase", func() (*x509.Certificate, error) { return ca.IssueEnrollment("Acme", pub, time.Hour) }, ErrBadID, `"Acme"`},
		{"fail/tenant-empty", func() (*x509.Certificate, error) { return ca.IssueOperator("", pub, time.Hour) }, ErrBadID, `tenant id ""`},
		{"fail/tenant-leading-hyphen", func() (*x509.Certificate, error) { return ca.IssueAgent(csr, "-acme", "a1", time.Hour) }, ErrBadID, `"-acme"`},
		{"fail/tenant-64-chars", func() (*x509.Certificate, error) { return ca.IssueOperator(strings.Repeat("a", 64), pub, time.Hour) }, ErrBadID, "aaaa"},
		{"fail/tenant-space", func() (*x509.Certificate, error) { return ca.IssueOperator("ac me", pub, time.Hour) }, ErrBadID, `"ac me"`},
		{"fail/agent-id-empty", func() (*x509.Certificate, error) { return ca.IssueAgent(csr, "acme", "", time.Hour) }, ErrBadID, `agent id ""`},
		{"fail/agent-id-slash", func() (*x509.Certificate, error) { return ca.IssueAgent(csr, "acme", "a/b", time.Hour) }, ErrBadID, `"a/b"`},
		{"fail/agent-id-65-chars", func() (*x509.Certificate, error) {
			return ca.IssueAgent(csr, "acme", strings.Repeat("x", 65), time.Hour)
		}, ErrBadID, "xxxx"},
		{"fail/agent-id-comma", func() (*x509.Certificate, error) { return ca.IssueAgent(csr, "acme", "a1,OU=operator", time.Hour) }, ErrBadID, `"a1,OU=operator"`},
		{"fail/agent-nil-csr", func() (*x509.Certificate, error) { return ca.IssueAgent(nil, "acme", "a1", time.Hour) }, ErrBadCSR, "nil"},
		{"fail/agent-csr-bad-signature", func() (*x509.Certificate, error) { return ca.IssueAgent(badSig, "acme", "a1", time.Hour) }, ErrBadCSR, "signature"},
		{"fail/agent-csr-rsa", func() (*x509.Certificate, error) { return ca.IssueAgent(rsaCSR, "acme", "a1", time.Hour) }, ErrBadKey, "RSA 2048-bit"},
		{"fail/key-p384", func() (*x509.Certificate, error) { return ca.IssueOperator("acme", p384.Public(), time.Hour) }, ErrBadKey, "ECDSA P-384"},
		{"fail/key-ed25519", func() (*x509.Certificate, error) { return ca.IssueEnrollment("acme", edPub, time.Hour) }, ErrBadKey, "Ed25519"},
		{"fail/key-nil", func() (*x509.Certificate, error) { return ca.IssueEnrollment("acme", nil, time.Hour) }, ErrBadKey, "no public key"},
		{"fail/validity-zero", func() (*x509.Certificate, error) { return ca.IssueEnrollment("acme", pub, 0) }, ErrBadValidity, "0s"},
		{"fail/validity-outlives-ca", func() (*x509.Certificate, error) { return ca.IssueEnrollment("acme", pub, rootValidity) }, ErrBadValidity, "ends after the CA"},
		{"fail/ca-expired", func() (*x509.Certificate, error) {
			return ca.at(ca.Cert.NotAfter.Add(time.Second)).IssueEnrollment("acme", pub, time.Hour)
		}, ErrBadAuthority, "not valid at"},
		{"fail/ca-not-yet-valid", func() (*x509.Certificate, error) {
			return ca.at(ca.Cert.NotBefore.Add(-time.Second)).IssueEnrollment("acme", pub, time.Hour)
		}, ErrBadAuthority, "not valid at"},
		{"fail/signer-mismatch", func() (*x509.Certificate, error) { return mismatched.IssueEnrollment("acme", pub, time.Hour) }, ErrBadAuthority, "does not match"},
		{"fail/no-signer", func() (*x509.Certificate, error) { return noSigner.IssueEnrollment("acme", pub, time.Hour) }, ErrBadAuthority, "nil signer"},
		{"fail/no-cert", func() (*x509.Certificate, error) { return noCert.IssueEnrollment("acme", pub, time.Hour) }, ErrBadAuthority, "no CA certificate"},
		{"fail/cert-not-ca", func() (*x509.Certificate, error) { return leafCA.IssueEnrollment("acme", pub, time.Hour) }, ErrBadAuthority, "not a CA"},
		{"fail/server-no-hosts", func() (*x509.Certificate, error) { return ca.IssueServer(nil, pub, time.Hour) }, ErrBadID, "no hosts"},
		{"fail/server-uppercase", func() (*x509.Certificate, error) { return ca.IssueServer([]string{"Hub.example.com"}, pub, time.Hour) }, ErrBadID, `"Hub.example.com"`},
		{"fail/server-wildcard", func() (*x509.Certificate, error) { return ca.IssueServer([]string{"*.example.com"}, pub, time.Hour) }, ErrBadID, `"*.example.com"`},
		{"fail/server-empty-label", func() (*x509.Certificate, error) { return ca.IssueServer([]string{"a..b"}, pub, time.Hour) }, ErrBadID, `"a..b"`},
		{"fail/server-ip-zone", func() (*x509.Certificate, error) { return ca.IssueServer([]string{"fe80::1%eth0"}, pub, time.Hour) }, ErrBadID, "zone"},
		{"fail/server-duplicate", func() (*x509.Certificate, error) {
			return ca.IssueServer([]string{"localhost", "localhost"}, pub, time.Hour)
		}, ErrBadID, "twice"},
		{"fail/server-key-p384", func() (*x509.Certificate, error) {
			return ca.IssueServer([]string{"localhost"}, p384.Public(), time.Hour)
		}, ErrBadKey, "P-384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.issue()
			if err == nil {
				t.Fatalf("issued %q, want error", c.Subject)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

// TestOpaqueSigner checks that the CA signer is only handed SHA-256 digests
// through Sign, even when it also offers crypto.MessageSigner.
func TestOpaqueSigner(t *testing.T) {
	inner := newOpaqueSigner(newKey(t))
	s := messageSigner{inner, t}
	root, err := NewRoot(s, "kms-like", t0, rootValidity, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Authority{Cert: root, Signer: s, Now: fixedClock(t0)}
	csr, _ := agentCSR(t)
	key := newKey(t).Public()
	if _, err := a.IssueAgent(csr, "acme", "a1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := a.IssueEnrollment("acme", key, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := a.IssueOperator("acme", key, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := a.IssueServer([]string{"localhost"}, key, time.Hour); err != nil {
		t.Fatal(err)
	}
	calls := inner.Calls()
	if len(calls) != 5 {
		t.Errorf("Sign called %d times, want 5 (root and four leaves)", len(calls))
	}
	for i, c := range calls {
		if c.digestLen != sha256.Size || c.hash != crypto.SHA256 {
			t.Errorf("call %d: digest of %d bytes with %v, want 32 bytes with SHA-256", i, c.digestLen, c.hash)
		}
	}
}

// failingSigner returns a signature that does not verify: x509 must refuse it.
type failingSigner struct{ crypto.Signer }

func (f failingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := f.Signer.Sign(r, d, o)
	if err != nil {
		return nil, err
	}
	sig[len(sig)-1] ^= 1
	return sig, nil
}

func TestIssueSignerErrors(t *testing.T) {
	ca := newTestCA(t, "ca", 6)
	pub := newKey(t).Public()
	errSigner := &opaqueSigner{pub: ca.signer.Public(), sign: func(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
		return nil, errors.New("kms: throttled")
	}}
	tests := []struct {
		name   string
		signer crypto.Signer
		msg    string
	}{
		{"fail/signer-error", errSigner, "kms: throttled"},
		{"fail/bad-signature", failingSigner{ca.signer}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := *ca.Authority
			a.Signer = tt.signer
			_, err := a.IssueEnrollment("acme", pub, time.Hour)
			if !errors.Is(err, ErrBadAuthority) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want ErrBadAuthority mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{
		RoleUnknown: "unknown", RoleEnrollment: "enrollment", RoleOperator: "operator", RoleAgent: "agent", Role(42): "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestValidIDs(t *testing.T) {
	tests := []struct {
		name  string
		valid func(string) bool
		in    string
		want  bool
	}{
		{"ok/tenant", ValidTenantID, "demo", true},
		{"ok/tenant-digits-hyphen", ValidTenantID, "0acme-2", true},
		{"ok/tenant-63", ValidTenantID, strings.Repeat("a", 63), true},
		{"fail/tenant-64", ValidTenantID, strings.Repeat("a", 64), false},
		{"fail/tenant-empty", ValidTenantID, "", false},
		{"fail/tenant-upper", ValidTenantID, "Demo", false},
		{"fail/tenant-leading-hyphen", ValidTenantID, "-demo", false},
		{"fail/tenant-underscore", ValidTenantID, "de_mo", false},
		{"fail/tenant-newline", ValidTenantID, "demo\n", false},
		{"ok/agent", ValidAgentID, "Agent_01-x", true},
		{"ok/agent-64", ValidAgentID, strings.Repeat("A", 64), true},
		{"ok/agent-leading-hyphen", ValidAgentID, "-a", true},
		{"fail/agent-65", ValidAgentID, strings.Repeat("A", 65), false},
		{"fail/agent-empty", ValidAgentID, "", false},
		{"fail/agent-dot", ValidAgentID, "a.b", false},
		{"fail/agent-newline", ValidAgentID, "a\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.valid(tt.in); got != tt.want {
				t.Errorf("valid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
