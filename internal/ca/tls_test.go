package ca

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// handshake runs a mutual-TLS handshake over an in-memory pipe: the server
// presents srv and demands a client certificate from ca; the client trusts
// ca and presents cli. It returns the server's error and, when the server
// accepted, the identity of the client certificate it saw.
func handshake(t *testing.T, ca *Authority, srv, cli tls.Certificate) (Identity, error, error) {
	t.Helper()
	clock := func() time.Time { return t0 }
	sConn, cConn := net.Pipe()
	defer sConn.Close()
	defer cConn.Close()
	// The deadline only stops a broken handshake from hanging the test.
	deadline := time.Now().Add(30 * time.Second)
	sConn.SetDeadline(deadline)
	cConn.SetDeadline(deadline)

	type result struct {
		id  Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		s := tls.Server(sConn, &tls.Config{
			Certificates: []tls.Certificate{srv},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    ca.CertPool(),
			MinVersion:   tls.VersionTLS12,
			Time:         clock,
		})
		// No Close on the TLS connections: a close_notify would block on the
		// unbuffered pipe; the deferred closes of the pipe ends suffice.
		if err := s.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		peer := s.ConnectionState().PeerCertificates
		id, err := ca.Identify(string(EncodeCertPEM(peer[0])))
		if err == nil {
			_, err = s.Write([]byte("ok"))
		}
		done <- result{id, err}
	}()

	c := tls.Client(cConn, &tls.Config{
		Certificates: []tls.Certificate{cli},
		RootCAs:      ca.CertPool(),
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS12,
		Time:         clock,
	})
	cerr := c.Handshake()
	if cerr == nil {
		// In TLS 1.3 the server judges the client certificate after the
		// client has finished; a rejection arrives as an alert on read.
		buf := make([]byte, 2)
		_, cerr = io.ReadFull(c, buf)
	}
	r := <-done
	return r.id, r.err, cerr
}

func tlsCert(c *x509.Certificate, key crypto.Signer) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

func TestTLSRoundTrip(t *testing.T) {
	ca := newTestCA(t, "monsys hub CA", 30)
	other := newTestCA(t, "monsys hub CA", 31)
	serverKey := newKey(t)
	server, err := ca.IssueServer([]string{"localhost", "127.0.0.1"}, serverKey.Public(), leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	csr, agentKey := agentCSR(t)
	agent, err := ca.IssueAgent(csr, "acme", "a1", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueAgent(csr, "acme", "a1", leafValidity)
	if err != nil {
		t.Fatal(err)
	}
	opKey := newKey(t)
	operator, err := ca.IssueOperator("acme", opKey.Public(), leafValidity)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		client tls.Certificate
		role   Role // RoleUnknown: the handshake must fail
	}{
		{"ok/agent", tlsCert(agent, agentKey), RoleAgent},
		{"ok/operator", tlsCert(operator, opKey), RoleOperator},
		{"fail/other-ca", tlsCert(foreign, agentKey), RoleUnknown},
		{"fail/server-cert-as-client", tlsCert(server, serverKey), RoleUnknown},
		{"fail/no-client-cert", tls.Certificate{}, RoleUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, serr, cerr := handshake(t, ca.Authority, tlsCert(server, serverKey), tt.client)
			if tt.role == RoleUnknown {
				if serr == nil || cerr == nil {
					t.Fatalf("server err = %v, client err = %v; want both to fail", serr, cerr)
				}
				if errors.Is(serr, ErrUntrusted) {
					t.Errorf("server err = %v: the TLS stack, not Identify, must refuse it", serr)
				}
				return
			}
			if serr != nil || cerr != nil {
				t.Fatalf("server err = %v, client err = %v", serr, cerr)
			}
			if id.Role != tt.role || id.Tenant != "acme" || id.Fingerprint != Fingerprint(tt.client.Leaf.Raw) {
				t.Errorf("Identify = %s %q %s, want %s acme %s", id.Role, id.Tenant, id.Fingerprint, tt.role, Fingerprint(tt.client.Leaf.Raw))
			}
		})
	}
}
