package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(file, []byte(`{"hub_url":"https://file","state_dir":"/from/file","interval":"30s","canaries":["/a"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "host1", "agent.json")
	_ = os.MkdirAll(filepath.Dir(rel), 0o755)
	_ = os.WriteFile(rel, []byte(`{"hub_url":"https://file","token_file":"token","ca_cert":"ca.pem","enroll_cert":"enroll.pem","enroll_key":"/abs/enroll.key","state_dir":"/s"}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"hub_url":"x","typo_key":1}`), 0o644)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name  string
		src   Sources
		check func(t *testing.T, c Config)
		want  error
	}{
		{name: "ok/defaults without file", src: Sources{File: filepath.Join(dir, "none.json"), Getenv: env(nil)}, check: func(t *testing.T, c Config) {
			if c.StateDir != DefaultStateDir() || time.Duration(c.Interval) != time.Minute || c.SpoolMaxBytes != 64<<20 {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "ok/file", src: Sources{File: file, Getenv: env(nil)}, check: func(t *testing.T, c Config) {
			if c.HubURL != "https://file" || c.StateDir != "/from/file" || time.Duration(c.Interval) != 30*time.Second || len(c.Canaries) != 1 {
				t.Errorf("from file = %+v", c)
			}
		}},
		{name: "ok/env over file", src: Sources{File: file, Getenv: env(map[string]string{"MONSYS_STATE_DIR": "/from/env", "MONSYS_CANARIES": "/x, /y"})}, check: func(t *testing.T, c Config) {
			if c.StateDir != "/from/env" || len(c.Canaries) != 2 || c.HubURL != "https://file" {
				t.Errorf("env = %+v", c)
			}
		}},
		{name: "ok/flag over env", src: Sources{File: file, Getenv: env(map[string]string{"MONSYS_STATE_DIR": "/from/env"}), Flags: map[string]string{"state_dir": "/from/flag"}}, check: func(t *testing.T, c Config) {
			if c.StateDir != "/from/flag" {
				t.Errorf("state_dir = %q", c.StateDir)
			}
		}},
		{name: "ok/relative paths in the file are the file's folder's", src: Sources{File: rel, Getenv: env(map[string]string{"MONSYS_CA_CERT": "env-ca.pem"})}, check: func(t *testing.T, c Config) {
			host := filepath.Dir(rel)
			if c.TokenFile != filepath.Join(host, "token") || c.EnrollCert != filepath.Join(host, "enroll.pem") || c.EnrollKey != "/abs/enroll.key" {
				t.Errorf("paths = %+v", c)
			}
			if c.CACert != "env-ca.pem" { // a variable or flag is the caller's, as given
				t.Errorf("ca_cert = %q", c.CACert)
			}
		}},
		{name: "fail/explicit file missing", src: Sources{File: filepath.Join(dir, "none.json"), FileRequired: true, Getenv: env(nil)}, want: os.ErrNotExist},
		{name: "fail/unknown key in file", src: Sources{File: bad, Getenv: env(nil)}, want: ErrInvalid},
		{name: "fail/bad duration env", src: Sources{File: file, Getenv: env(map[string]string{"MONSYS_INTERVAL": "soon"})}, want: ErrInvalid},
		{name: "fail/interval too short", src: Sources{File: file, Getenv: env(nil), Flags: map[string]string{"interval": "10ms"}}, want: ErrInvalid},
		{name: "ok/collectors", src: Sources{File: file, Getenv: env(map[string]string{"MONSYS_COLLECTORS": "metric,process_dna"})}, check: func(t *testing.T, c Config) {
			if !c.Enabled("metric") || c.Enabled("inventory_snapshot") {
				t.Errorf("collectors = %v", c.Collectors)
			}
		}},
		{name: "fail/unknown collector", src: Sources{File: file, Getenv: env(nil), Flags: map[string]string{"collectors": "metric,keylogger"}}, want: ErrInvalid},
		{name: "fail/spool bound too small", src: Sources{File: file, Getenv: env(nil), Flags: map[string]string{"spool_max_bytes": "1000"}}, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.src)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load: err = %v, want %v", err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
