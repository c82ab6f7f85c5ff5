package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/profile"
)

func archive(t *testing.T, files map[string]string, order []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTamperTar(t *testing.T) {
	files := map[string]string{
		"manifest.json":                   `{"format_version":1}`,
		"verify.py":                       "print('ok')\n",
		"data/agents.ndjson":              `{"agent_id":"ag_1"}` + "\n",
		"data/alerts/anomalies.ndjson":    `{"kind":"signature_invalid"}` + "\n",
		"data/audit_log/audit_log.ndjson": "",
	}
	order := []string{"manifest.json", "verify.py", "data/agents.ndjson", "data/alerts/anomalies.ndjson", "data/audit_log/audit_log.ndjson"}
	tests := []struct {
		name   string
		order  []string
		victim string
		fail   bool
	}{
		{name: "ok/prefers-anomalies", order: order, victim: "data/alerts/anomalies.ndjson"},
		{name: "ok/first-data-file", order: order[:3], victim: "data/agents.ndjson"},
		{name: "fail/no-data", order: order[:2], fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pack := archive(t, files, tc.order)
			bad, victim, err := tamperTar(pack)
			if tc.fail {
				if err == nil {
					t.Fatal("tampered an archive without data files")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if victim != tc.victim {
				t.Fatalf("victim %s, want %s", victim, tc.victim)
			}
			for _, name := range tc.order {
				got, err := tarFile(bad, name)
				if err != nil && files[name] != "" {
					t.Fatal(err)
				}
				if changed := string(got) != files[name]; changed != (name == victim) {
					t.Errorf("%s: changed=%v", name, changed)
				}
			}
			if py, err := tarFile(bad, "verify.py"); err != nil || string(py) != files["verify.py"] {
				t.Errorf("verify.py: %q, %v", py, err)
			}
		})
	}
}

// TestCallsReuseConnection: the demo's requests with one identity share one
// TLS connection, as a client cache keyed by that identity promises.
func TestCallsReuseConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"anomalies":[]}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	op := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	d := &demo{info: profile.Info{URL: srv.URL}, roots: pool}
	for range 3 {
		if err := d.call(context.Background(), op, "Bearer msa_x", "GET", "/api/v1/anomalies", nil, nil, 200, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("3 calls with one certificate opened %d connections, want 1", conns)
	}
}
