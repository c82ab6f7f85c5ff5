package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    string
		want time.Duration
	}{
		{name: "ok/seconds", v: "30", want: 30 * time.Second},
		{name: "ok/http date", v: "Wed, 01 Apr 2026 10:02:00 GMT", want: 2 * time.Minute},
		{name: "ok/huge seconds capped", v: "99999999", want: 24 * time.Hour},
		{name: "fail/empty", v: "", want: 0},
		{name: "fail/negative", v: "-5", want: 0},
		{name: "fail/date in the past", v: "Wed, 01 Apr 2026 09:00:00 GMT", want: 0},
		{name: "fail/garbage", v: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRetryAfter(tt.v, now); got != tt.want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

func TestNewAgent(t *testing.T) {
	tests := []struct {
		name string
		cfg  AgentConfig
		want error
	}{
		{name: "ok/https", cfg: AgentConfig{URL: "https://hub.example.com", Token: "ms_x"}},
		{name: "fail/http", cfg: AgentConfig{URL: "http://hub.example.com", Token: "ms_x"}, want: ErrConfig},
		{name: "fail/admin key as token", cfg: AgentConfig{URL: "https://hub.example.com", Token: "msa_x"}, want: ErrConfig},
		{name: "fail/no host", cfg: AgentConfig{URL: "https://", Token: "ms_x"}, want: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAgent(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestIngestAnswers checks how hub answers map to results and errors,
// including what the request carries.
func TestIngestAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		header  map[string]string
		wantErr bool
		check   func(t *testing.T, r IngestResponse, e *Error)
	}{
		{name: "ok/accepted", status: 202, body: `{"accepted":3}`, check: func(t *testing.T, r IngestResponse, _ *Error) {
			if r.Accepted != 3 || r.Status != 202 {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "ok/duplicate", status: 200, body: `{"accepted":0,"duplicate":true}`, check: func(t *testing.T, r IngestResponse, _ *Error) {
			if !r.Duplicate {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "fail/replay with last_seq", status: 409, body: `{"error":{"code":"replay_rejected","message":"seq too low"},"request_id":"r1","last_seq":1743501600000000001}`, wantErr: true, check: func(t *testing.T, _ IngestResponse, e *Error) {
			if e.Code != CodeReplayRejected || !e.HasLastSeq || e.LastSeq != 1743501600000000001 || e.RequestID != "r1" || e.Transient() {
				t.Errorf("got %+v", e)
			}
		}},
		{name: "fail/throttled with retry-after", status: 429, body: `{"error":{"code":"throttled","message":"slow down"},"request_id":"r2"}`, header: map[string]string{"Retry-After": "12"}, wantErr: true, check: func(t *testing.T, _ IngestResponse, e *Error) {
			if e.RetryAfter != 12*time.Second || !e.Transient() {
				t.Errorf("got %+v", e)
			}
		}},
		{name: "fail/not an envelope", status: 502, body: `<html>bad gateway</html>`, wantErr: true, check: func(t *testing.T, _ IngestResponse, e *Error) {
			if e.Code != "bad_gateway" || !e.Transient() {
				t.Errorf("got %+v", e)
			}
		}},
		{name: "fail/2xx not json", status: 202, body: `accepted`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.URL.Path != "/api/v1/ingest" || r.Header.Get("Authorization") != "Bearer ms_tok" ||
					r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Monsys-Signature") != "c2ln" || string(body) != `[1]` {
					w.WriteHeader(418)
					return
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := NewAgent(AgentConfig{URL: srv.URL, Token: "ms_tok", Roots: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdle()
			cert := srv.TLS.Certificates[0] // any certificate; this server does not ask for one
			r, err := c.Ingest(context.Background(), tls.Certificate{Certificate: cert.Certificate, PrivateKey: cert.PrivateKey}, []byte(`[1]`), "c2ln")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var e *Error
			_ = errors.As(err, &e)
			if tt.wantErr && tt.check != nil && e == nil {
				t.Fatalf("err %v is not *Error", err)
			}
			if tt.check != nil {
				tt.check(t, r, e)
			}
		})
	}
}

func TestRegisterChecksAnswer(t *testing.T) {
	tests := []struct {
		name string
		req  RegisterRequest
		resp any
		want error
	}{
		{name: "ok/pinned", req: RegisterRequest{Hostname: "h"}, resp: map[string]any{"agent_id": "a1", "signing_pubkey_pinned": true}},
		{name: "fail/no agent_id", req: RegisterRequest{Hostname: "h"}, resp: map[string]any{"signing_pubkey_pinned": true}, want: ErrResponse},
		{name: "fail/csr without certificate", req: RegisterRequest{Hostname: "h", CSR: "x"}, resp: map[string]any{"agent_id": "a1"}, want: ErrResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = json.NewEncoder(w).Encode(tt.resp)
			}))
			defer srv.Close()
			c, _ := NewAgent(AgentConfig{URL: srv.URL, Token: "ms_tok", Roots: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
			defer c.CloseIdle()
			cert := srv.TLS.Certificates[0]
			_, err := c.Register(context.Background(), cert, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
