package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/local/hubtest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
)

var ctx = context.Background()

func refused(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code || e.Message == "" || e.RequestID == "" {
		t.Fatalf("err = %v, want %d %s with a message and a request id", err, status, code)
	}
	return e
}

// TestAdminRoutes runs each typed call against the real core (hubtest).
func TestAdminRoutes(t *testing.T) {
	h := hubtest.Start(t)
	ad, err := client.OpenAdmin(h.ProfilePath, client.Options{UserAgent: "client-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.CloseIdle()
	if ad.Tenant() != hubtest.Tenant {
		t.Fatalf("tenant %q", ad.Tenant())
	}
	created, err := ad.CreateAgent(ctx, "web-edge-01")
	if err != nil {
		t.Fatal(err)
	}
	enroll, err := tls.LoadX509KeyPair(h.Profile.EnrollCert, h.Profile.EnrollKey)
	if err != nil {
		t.Fatal(err)
	}
	register := func(token string, key ed25519.PrivateKey) error {
		ag, err := client.NewAgent(client.AgentConfig{URL: h.URL, Token: token, Roots: h.Roots})
		if err != nil {
			t.Fatal(err)
		}
		defer ag.CloseIdle()
		_, err = ag.Register(ctx, enroll, client.RegisterRequest{Hostname: "web-edge-01", AgentVersion: "1.4.2", OS: "linux", Arch: "amd64",
			SigningPubkey: sig.EncodePublicKey(key.Public().(ed25519.PublicKey))})
		return err
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if err := register(created.Token, key); err != nil {
		t.Fatal(err)
	}

	t.Run("ok/get agent", func(t *testing.T) {
		v, err := ad.GetAgent(ctx, created.AgentID)
		if err != nil {
			t.Fatal(err)
		}
		if v.AgentID != created.AgentID || v.TenantID != hubtest.Tenant || v.Hostname != "web-edge-01" || !v.SigningPubKeyPinned ||
			v.SigningPubKey != sig.EncodePublicKey(key.Public().(ed25519.PublicKey)) || v.SigningSetAt == nil || v.AgentVersion != "1.4.2" {
			t.Fatalf("agent %+v", v)
		}
	})
	t.Run("ok/anomalies with a filter", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		refused(t, register(created.Token, other), http.StatusForbidden, client.CodeSignatureInvalid)
		p, err := ad.Anomalies(ctx, client.AnomalyQuery{Status: anomaly.Open, Kind: anomaly.SignatureInvalid, AgentID: created.AgentID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Anomalies) != 1 || p.Anomalies[0].Severity != anomaly.Critical || p.Anomalies[0].AgentID != created.AgentID || p.NextCursor != "" {
			t.Fatalf("page %+v", p)
		}
		if p, err := ad.Anomalies(ctx, client.AnomalyQuery{Kind: anomaly.ReplayDetected}); err != nil || len(p.Anomalies) != 0 {
			t.Fatalf("replay anomalies %+v, %v", p, err)
		}
	})
	t.Run("ok/rotate signing key", func(t *testing.T) {
		v, err := ad.RotateSigningKey(ctx, created.AgentID)
		if err != nil || v.SigningPubKeyPinned || v.SigningPubKey != "" {
			t.Fatalf("after rotation %+v, %v", v, err)
		}
	})
	t.Run("ok/rotate client certificate", func(t *testing.T) {
		if v, err := ad.RotateClientCert(ctx, created.AgentID); err != nil || v.ClientCertPinned {
			t.Fatalf("after rotation %+v, %v", v, err)
		}
	})
	t.Run("ok/rotate token", func(t *testing.T) {
		next, err := ad.RotateToken(ctx, created.AgentID)
		if err != nil || next.Token == created.Token || next.AgentID != created.AgentID {
			t.Fatalf("rotate token %+v, %v", next, err)
		}
		refused(t, register(created.Token, key), http.StatusUnauthorized, client.CodeUnauthorized)
		if err := register(next.Token, key); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/unknown agent", func(t *testing.T) {
		_, err := ad.GetAgent(ctx, "ag_nosuchagent")
		refused(t, err, http.StatusNotFound, client.CodeNotFound)
	})
	t.Run("fail/id naming another route", func(t *testing.T) {
		_, err := ad.RotateSigningKey(ctx, created.AgentID+"/rotate-token")
		refused(t, err, http.StatusNotFound, client.CodeNotFound)
	})
	t.Run("fail/bad filter", func(t *testing.T) {
		_, err := ad.Anomalies(ctx, client.AnomalyQuery{AgentID: "not an id!"})
		refused(t, err, http.StatusBadRequest, client.CodeInvalidRequest)
	})
	t.Run("ok/request pack", func(t *testing.T) {
		end := time.Now().UTC().Truncate(time.Second)
		p, err := ad.RequestPack(ctx, end.Add(-time.Hour), end)
		if err != nil || p.Status != "pending" || !strings.HasPrefix(p.PackID, "pk_") ||
			p.PeriodEnd != end.Format(time.RFC3339) {
			t.Fatalf("request pack %+v, %v", p, err)
		}
	})
	t.Run("fail/unknown pack", func(t *testing.T) {
		_, err := ad.GetPack(ctx, "pk_nosuchpack", 0)
		refused(t, err, http.StatusNotFound, client.CodeNotFound)
	})
	t.Run("fail/another admin key", func(t *testing.T) {
		p := h.Profile
		p.AdminKey = "msa_" + strings.Repeat("A", 43)
		other, err := client.NewAdmin(p, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.CloseIdle()
		_, err = other.CreateAgent(ctx, "")
		refused(t, err, http.StatusUnauthorized, client.CodeUnauthorized)
	})
}

// TestAdminRetry: a call is sent again only where SPEC 4 says the hub did
// nothing, after the wait Retry-After asks for, and never more often than
// Attempts; the waits go through Options.Wait, so no test sleeps.
func TestAdminRetry(t *testing.T) {
	tests := []struct {
		name     string
		failures []hubtest.Failure // answered, in order, before the core is reached
		attempts int
		waits    []time.Duration
		status   int // of the error; 0: the call succeeds
	}{
		{name: "ok/503 then the core", failures: []hubtest.Failure{{Status: 503, Code: client.CodeUnavailable, RetryAfter: "7"}},
			attempts: 3, waits: []time.Duration{7 * time.Second}},
		{name: "ok/429 and 409 conflict then the core", failures: []hubtest.Failure{{Status: 429, Code: client.CodeThrottled, RetryAfter: "2"}, {Status: 409, Code: client.CodeConflict}},
			attempts: 3, waits: []time.Duration{2 * time.Second, time.Second}},
		{name: "fail/attempts used up", failures: []hubtest.Failure{{Status: 503, Code: client.CodeUnavailable}, {Status: 503, Code: client.CodeUnavailable}},
			attempts: 2, waits: []time.Duration{time.Second}, status: 503},
		{name: "fail/once by default", failures: []hubtest.Failure{{Status: 503, Code: client.CodeUnavailable, RetryAfter: "1"}}, status: 503},
		{name: "fail/500 is not retried", failures: []hubtest.Failure{{Status: 500, Code: client.CodeInternal}}, attempts: 3, status: 500},
		{name: "fail/409 replay_rejected is not retried", failures: []hubtest.Failure{{Status: 409, Code: client.CodeReplayRejected}}, attempts: 3, status: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t)
			var n atomic.Int32
			h.SetFault(func(*http.Request) *hubtest.Failure {
				if i := int(n.Add(1)) - 1; i < len(tt.failures) {
					return &tt.failures[i]
				}
				return nil
			})
			var waits []time.Duration
			ad, err := client.NewAdmin(h.Profile, client.Options{Attempts: tt.attempts, Wait: func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer ad.CloseIdle()
			_, err = ad.CreateAgent(ctx, "h")
			if tt.status == 0 && err != nil || tt.status != 0 && !isStatus(err, tt.status) {
				t.Fatalf("err = %v, want status %d", err, tt.status)
			}
			if len(waits) != len(tt.waits) || len(waits) > 0 && !equal(waits, tt.waits) {
				t.Fatalf("waited %v, want %v", waits, tt.waits)
			}
		})
	}
	t.Run("fail/the wait ends", func(t *testing.T) {
		h := hubtest.Start(t)
		h.SetFault(func(*http.Request) *hubtest.Failure {
			return &hubtest.Failure{Status: 503, Code: client.CodeUnavailable, RetryAfter: "3600"}
		})
		c, cancel := context.WithCancel(ctx)
		ad, err := client.NewAdmin(h.Profile, client.Options{Attempts: 5, Wait: func(c context.Context, d time.Duration) error {
			cancel() // the caller gives up while waiting
			<-c.Done()
			return c.Err()
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer ad.CloseIdle()
		if _, err := ad.CreateAgent(c, "h"); !errors.Is(err, context.Canceled) || !isStatus(err, 503) {
			t.Fatalf("err = %v, want the 503 and the cancellation", err)
		}
	})
}

func isStatus(err error, status int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == status
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAdminReusesConnection: calls of one Admin share one TLS connection.
func TestAdminReusesConnection(t *testing.T) {
	h := hubtest.Start(t)
	ad, err := client.NewAdmin(h.Profile, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.CloseIdle()
	before := h.Connections()
	for range 3 {
		if _, err := ad.Anomalies(ctx, client.AnomalyQuery{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Connections() - before; n != 1 {
		t.Fatalf("3 calls took %d connections, want 1", n)
	}
}

// TestAgentReusesConnection: ingests over one certificate share a
// connection, another certificate gets its own.
func TestAgentReusesConnection(t *testing.T) {
	h := hubtest.Start(t)
	_, token := h.NewAgent(t)
	ag, err := client.NewAgent(client.AgentConfig{URL: h.URL, Token: token, Roots: h.Roots})
	if err != nil {
		t.Fatal(err)
	}
	defer ag.CloseIdle()
	enroll, _ := tls.LoadX509KeyPair(h.Profile.EnrollCert, h.Profile.EnrollKey)
	operator, _ := tls.LoadX509KeyPair(h.Profile.OperatorCert, h.Profile.OperatorKey)
	before := h.Connections()
	for _, c := range []tls.Certificate{enroll, enroll, enroll, operator, operator} {
		_, err := ag.Ingest(ctx, c, []byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z"}]`), "")
		if !isStatus(err, http.StatusForbidden) { // neither may ingest
			t.Fatalf("err = %v", err)
		}
	}
	if n := h.Connections() - before; n != 2 {
		t.Fatalf("5 calls over 2 certificates took %d connections, want 2", n)
	}
}

func TestNewAdmin(t *testing.T) {
	h := hubtest.Start(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(p *profile.Info)) profile.Info {
		p := h.Profile
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    profile.Info
		ok   bool
	}{
		{name: "ok/the kit's profile", p: h.Profile, ok: true},
		{name: "fail/http", p: edit(func(p *profile.Info) { p.URL = strings.Replace(p.URL, "https", "http", 1) })},
		{name: "fail/agent token as admin key", p: edit(func(p *profile.Info) { p.AdminKey = "ms_x" })},
		{name: "fail/no operator certificate", p: edit(func(p *profile.Info) { p.OperatorCert = "" })},
		{name: "fail/missing ca file", p: edit(func(p *profile.Info) { p.CACert = filepath.Join(dir, "none.pem") })},
		{name: "fail/ca file without a certificate", p: edit(func(p *profile.Info) { p.CACert = notPEM })},
		{name: "fail/operator key of another certificate", p: edit(func(p *profile.Info) { p.OperatorKey = p.EnrollKey })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad, err := client.NewAdmin(tt.p, client.Options{})
			if (err == nil) != tt.ok {
				t.Fatalf("NewAdmin: %v", err)
			}
			if ad != nil {
				ad.CloseIdle()
			}
		})
	}
	if _, err := client.OpenAdmin(filepath.Join(dir, "hub.json"), client.Options{}); err == nil {
		t.Fatal("OpenAdmin of a missing hub.json succeeded")
	}
}

func TestDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("X-Amz-Signature") != "ok" || r.Header.Get("Authorization") != "" {
			http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("pack bytes"))
	}))
	defer srv.Close()
	tests := []struct {
		name, link string
		want       string
	}{
		{name: "ok/presigned", link: srv.URL + "/packs/pk_1.tar.gz?X-Amz-Signature=ok", want: "pack bytes"},
		{name: "fail/expired", link: srv.URL + "/packs/pk_1.tar.gz?X-Amz-Signature=old"},
		{name: "fail/not a link", link: "pk_1.tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			n, err := client.Download(ctx, tt.link, &b)
			if tt.want == "" {
				if !errors.Is(err, client.ErrResponse) || b.Len() != 0 {
					t.Fatalf("Download = %d, %v; wrote %q", n, err, b.String())
				}
				return
			}
			if err != nil || b.String() != tt.want || n != int64(len(tt.want)) {
				t.Fatalf("Download = %d, %v; wrote %q", n, err, b.String())
			}
		})
	}
}
