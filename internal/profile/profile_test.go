package profile_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/profile"
)

var t0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func authority(t *testing.T, name string) *ca.Authority {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(k, name, t0, 10*365*24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ca.Authority{Cert: root, Signer: k, Now: func() time.Time { return t0 }}
}

func read(t *testing.T, f profile.TenantFiles) string {
	t.Helper()
	var all string
	for _, p := range []string{f.EnrollCert, f.EnrollKey, f.OperatorCert, f.OperatorKey} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
	}
	return all
}

// TestEnsureTenantFiles: the certificates are issued once and kept while
// they are current; a week before their end, or from another CA, they are
// issued anew. Keys are 0600.
func TestEnsureTenantFiles(t *testing.T) {
	dir := t.TempDir()
	auth := authority(t, "monsys test CA")
	first, err := profile.EnsureTenantFiles(dir, "acme", auth, t0)
	if err != nil {
		t.Fatal(err)
	}
	if first.OperatorCert != filepath.Join(dir, "acme-operator.pem") || first.EnrollKey != filepath.Join(dir, "acme-enroll.key") {
		t.Fatalf("files %+v", first)
	}
	if runtime.GOOS != "windows" {
		for _, k := range []string{first.EnrollKey, first.OperatorKey} {
			if st, err := os.Stat(k); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, %v; want mode 0600", k, st.Mode(), err)
			}
		}
	}
	issued := read(t, first)
	for _, tt := range []struct {
		name  string
		auth  *ca.Authority
		now   time.Time
		anew  bool
		label string
	}{
		{"ok/kept", auth, t0.Add(24 * time.Hour), false, "the next day"},
		{"ok/kept-until-a-week-before", auth, t0.Add(profile.CertValidity - 8*24*time.Hour), false, "8 days before the end"},
		{"ok/renewed-a-week-before", auth, t0.Add(profile.CertValidity - 6*24*time.Hour), true, "6 days before the end"},
		{"ok/renewed-for-another-ca", authority(t, "monsys other CA"), t0, true, "another CA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := profile.EnsureTenantFiles(dir, "acme", tt.auth, tt.now); err != nil {
				t.Fatal(err)
			}
			if got := read(t, first); (got != issued) != tt.anew {
				t.Fatalf("%s: issued anew %v, want %v", tt.label, got != issued, tt.anew)
			}
			issued = read(t, first)
		})
	}
}

// TestWrite: hub.json carries SPEC 1.1's names, is readable by its owner
// alone (it holds the admin key) and ends with a newline.
func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.json")
	in := profile.Info{URL: "https://127.0.0.1:8443", TenantID: "demo", AdminKey: "msa_x", CACert: "/s/ca.pem",
		EnrollCert: "/s/e.pem", EnrollKey: "/s/e.key", OperatorCert: "/s/o.pem", OperatorKey: "/s/o.key"}
	if err := profile.Write(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || b[len(b)-1] != '\n' {
		t.Fatalf("hub.json %q: %v", b, err)
	}
	want := map[string]string{"url": in.URL, "tenant_id": "demo", "admin_key": "msa_x", "ca_cert": "/s/ca.pem",
		"enroll_cert": "/s/e.pem", "enroll_key": "/s/e.key", "operator_cert": "/s/o.pem", "operator_key": "/s/o.key"}
	if len(m) != len(want) {
		t.Fatalf("hub.json %s, want the keys of %v", b, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("hub.json %s = %q, want %q", k, m[k], v)
		}
	}
	if st, err := os.Stat(path); runtime.GOOS != "windows" && (err != nil || st.Mode().Perm() != 0o600) {
		t.Fatalf("hub.json mode %v, %v; want 0600", st.Mode(), err)
	}
}

// TestRead: what Write writes, Read gives back; unknown members are ignored,
// relative paths are taken from the file's folder, and anything that is not
// a hub.json is an error naming the file.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	in := profile.Info{URL: "https://127.0.0.1:8443", TenantID: "demo", AdminKey: "msa_x", CACert: "/s/ca.pem",
		EnrollCert: "/s/e.pem", EnrollKey: "/s/e.key", OperatorCert: "/s/o.pem", OperatorKey: "/s/o.key"}
	written := filepath.Join(dir, "hub.json")
	if err := profile.Write(written, in); err != nil {
		t.Fatal(err)
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want profile.Info
		fail bool
	}{
		{name: "ok/round trip", path: written, want: in},
		{name: "ok/unknown members ignored", path: file("later.json", `{"url":"https://h","tenant_id":"t","admin_key":"msa_y","later_member":{"x":1}}`),
			want: profile.Info{URL: "https://h", TenantID: "t", AdminKey: "msa_y"}},
		{name: "ok/log keys", path: file("log.json", `{"url":"https://h","log_vkey":"h+1+AA","witness_vkeys":["w+2+AA"]}`),
			want: profile.Info{URL: "https://h", LogVKey: "h+1+AA", WitnessVKeys: []string{"w+2+AA"}}},
		{name: "ok/relative paths from the file's folder", path: file("rel.json", `{"url":"https://h","ca_cert":"ca.pem","operator_cert":"certs/o.pem","operator_key":"/abs/o.key"}`),
			want: profile.Info{URL: "https://h", CACert: filepath.Join(dir, "ca.pem"), OperatorCert: filepath.Join(dir, "certs", "o.pem"), OperatorKey: "/abs/o.key"}},
		{name: "fail/missing", path: filepath.Join(dir, "none.json"), fail: true},
		{name: "fail/not json", path: file("bad.json", `url=https://h`), fail: true},
		{name: "fail/an array", path: file("arr.json", `[1,2]`), fail: true},
		{name: "fail/too large", path: file("big.json", `{"url":"`+strings.Repeat("x", 70<<10)+`"}`), fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := profile.Read(tt.path)
			if tt.fail {
				if err == nil || !strings.Contains(err.Error(), filepath.Base(tt.path)) {
					t.Fatalf("Read = %+v, %v; want an error naming the file", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Read = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
