package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/agent/config"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/profile"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// hubEnv is a local hub (its real mutual TLS, DynamoDB on the shared
// dynalite, packs on the shared MinIO) and the path of its hub.json.
type hubEnv struct {
	hub     *local.Hub
	cfg     local.Config // what it was started with
	info    profile.Info
	profile string
}

func startHub(t *testing.T, cfg local.Config) *hubEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg.Dir, cfg.Addr, cfg.Log = t.TempDir(), "127.0.0.1:0", slog.New(slog.DiscardHandler)
	cfg.DynamoEndpoint, cfg.TablePrefix = emutest.DynamoEndpointForTest(t), emutest.UniquePrefix(t)
	cfg.S3Endpoint, cfg.S3User, cfg.S3Password = emutest.S3EndpointForTest(t)
	cfg.Bucket = emutest.UniqueBucket(t)
	h, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local hub: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &hubEnv{hub: h, cfg: cfg, info: h.Info(), profile: filepath.Join(cfg.Dir, "hub.json")}
}

// result is one run of monsys.
type result struct {
	code           int
	stdout, stderr string
}

// monsys runs the tool in-process against the hub profile, as an operator
// would run it with the output piped.
func (e *hubEnv) monsys(t *testing.T, args ...string) result {
	t.Helper()
	return runMonsys(t, e.profile, args...)
}

func runMonsys(t *testing.T, hubFile string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"MONSYS_HUB": hubFile, "MONSYS_POLL_INTERVAL": "200ms"}[k]
	}
	code := Main(t.Context(), args, &out, &errb, getenv)
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// decode reads the one JSON document of --json.
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("--json printed more than one document:\n%s", r.stdout)
	}
}

// register registers agent id with its token and a new signing key, through
// the enrollment certificate, as monsys-agent does on first start.
func (e *hubEnv) register(t *testing.T, token string) {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(e.info.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	c, err := client.NewAgent(client.AgentConfig{URL: e.info.URL, Token: token, Roots: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdle()
	cert, err := tls.LoadX509KeyPair(e.info.EnrollCert, e.info.EnrollKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(t.Context(), cert, client.RegisterRequest{Hostname: "h", AgentVersion: "1.0.0", OS: "linux", Arch: "amd64",
		SigningPubkey: base64.StdEncoding.EncodeToString(pub)}); err != nil {
		t.Fatal(err)
	}
}

type created struct {
	AgentID string `json:"agent_id"`
	Token   string `json:"token"`
	Out     string `json:"out"`
}

func TestAgents(t *testing.T) {
	e := startHub(t, local.Config{})
	var mk created
	t.Run("ok/create --json: one document, the token once", func(t *testing.T) {
		r := e.monsys(t, "--json", "agents", "create", "--hostname", "web-1").want(t, 0)
		r.decode(t, &mk)
		if !strings.HasPrefix(mk.AgentID, "ag_") || !strings.HasPrefix(mk.Token, "ms_") {
			t.Fatalf("created %+v", mk)
		}
		if strings.Contains(r.stderr, mk.Token) || strings.Count(r.stdout, mk.Token) != 1 {
			t.Fatalf("the token is not shown exactly once:\n%s\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("ok/create --out: the folder a host needs", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "host")
		r := e.monsys(t, "agents", "create", "--out", dir).want(t, 0)
		if !strings.Contains(r.stdout, "token:  ms_") || !strings.Contains(r.stdout, "monsys-agent run --config") {
			t.Fatalf("create --out says:\n%s", r.stdout)
		}
		for name, mode := range map[string]os.FileMode{"agent.json": 0o644, "token": 0o600, "ca.pem": 0o644, "enroll.pem": 0o644, "enroll.key": 0o600} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil || st.Mode().Perm() != mode {
				t.Fatalf("%s: %v, mode %v, want %v", name, err, st.Mode().Perm(), mode)
			}
		}
		// The agent's own loader reads it, wherever the folder is copied.
		moved := filepath.Join(t.TempDir(), "etc-monsys")
		if err := os.Rename(dir, moved); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Sources{File: filepath.Join(moved, "agent.json"), FileRequired: true, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cfg.ReadToken()
		if err != nil || !strings.HasPrefix(tok, "ms_") || !strings.Contains(r.stdout, tok) || cfg.HubURL != e.info.URL ||
			cfg.EnrollKey != filepath.Join(moved, "enroll.key") || cfg.CheckHub() != nil {
			t.Fatalf("agent config %+v, token %v", cfg, err)
		}
		// And it enrolls with what the folder holds.
		e.register(t, tok)
	})
	t.Run("ok/show: a table, and --json", func(t *testing.T) {
		r := e.monsys(t, "agents", "show", mk.AgentID).want(t, 0)
		if !strings.Contains(r.stdout, "agent:") || !strings.Contains(r.stdout, mk.AgentID) || !strings.Contains(r.stdout, "web-1") {
			t.Fatalf("show:\n%s", r.stdout)
		}
		var v client.AgentView
		e.monsys(t, "--json", "agents", "show", mk.AgentID).want(t, 0).decode(t, &v)
		if v.AgentID != mk.AgentID || v.Hostname != "web-1" || v.SigningPubKeyPinned {
			t.Fatalf("show --json %+v", v)
		}
	})
	t.Run("ok/list across pages, by status", func(t *testing.T) {
		var ids []string
		for range 6 {
			var c created
			e.monsys(t, "--json", "agents", "create").want(t, 0).decode(t, &c)
			ids = append(ids, c.AgentID)
		}
		e.register(t, func() string {
			var c created
			e.monsys(t, "--json", "agents", "create", "--hostname", "pinned-1").want(t, 0).decode(t, &c)
			ids = append(ids, c.AgentID)
			return c.Token
		}())
		var all struct{ Agents []client.AgentView }
		e.monsys(t, "--json", "--page-size", "2", "agents", "list").want(t, 0).decode(t, &all)
		if len(all.Agents) != 9 { // web-1, the --out agent, 6, pinned-1
			t.Fatalf("list found %d agents, want 9", len(all.Agents))
		}
		for i := 1; i < len(all.Agents); i++ {
			if all.Agents[i-1].AgentID >= all.Agents[i].AgentID {
				t.Fatalf("list is not in id order or repeats: %s, %s", all.Agents[i-1].AgentID, all.Agents[i].AgentID)
			}
		}
		var pinned struct{ Agents []client.AgentView }
		e.monsys(t, "--json", "--page-size", "1", "agents", "list", "--status", "pinned").want(t, 0).decode(t, &pinned)
		if len(pinned.Agents) != 2 { // the --out agent and pinned-1
			t.Fatalf("pinned: %+v", pinned.Agents)
		}
		r := e.monsys(t, "agents", "list", "--status", "legacy").want(t, 0)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 8 || !strings.HasPrefix(lines[0], "AGENT") || !strings.Contains(r.stdout, mk.AgentID) || strings.Contains(r.stdout, "pinned-1") {
			t.Fatalf("legacy table:\n%s", r.stdout)
		}
	})
	t.Run("ok/rotate-token shows the new token once", func(t *testing.T) {
		var v created
		e.monsys(t, "--json", "agents", "rotate-token", mk.AgentID).want(t, 0).decode(t, &v)
		if v.AgentID != mk.AgentID || !strings.HasPrefix(v.Token, "ms_") || v.Token == mk.Token {
			t.Fatalf("rotate-token %+v", v)
		}
	})
	t.Run("ok/rotate-signing-key and rotate-client-cert", func(t *testing.T) {
		for _, c := range []string{"rotate-signing-key", "rotate-client-cert"} {
			r := e.monsys(t, "agents", c, mk.AgentID).want(t, 0)
			if !strings.Contains(r.stdout, mk.AgentID) {
				t.Fatalf("%s:\n%s", c, r.stdout)
			}
		}
	})
	t.Run("fail/unknown agent: exit 1, the hub's code and message", func(t *testing.T) {
		r := e.monsys(t, "agents", "show", "ag_nosuchagent").want(t, 1)
		if !strings.Contains(r.stderr, "not_found") || !strings.Contains(r.stderr, `no agent "ag_nosuchagent"`) || r.stdout != "" {
			t.Fatalf("stderr %q stdout %q", r.stderr, r.stdout)
		}
		r = e.monsys(t, "--json", "agents", "rotate-token", "not-an-id").want(t, 1)
		var doc struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.stderr), &doc); err != nil || doc.Error.Code != "not_found" {
			t.Fatalf("--json error %q: %v", r.stderr, err)
		}
	})
	t.Run("fail/usage: exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"agents", "list", "--status", "sleepy"}, {"agents", "show"}, {"agents", "show", "a", "b"},
			{"agents", "frobnicate"}, {"agents", "create", "--nope"}, {"anomalies", "--open", "--closed"}} {
			if r := e.monsys(t, args...); r.code != 2 || r.stdout != "" {
				t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
			}
		}
	})
	t.Run("fail/no hub profile: exit 1, nothing asked", func(t *testing.T) {
		r := runMonsys(t, filepath.Join(t.TempDir(), "none.json"), "agents", "list").want(t, 1)
		if !strings.Contains(r.stderr, "none.json") {
			t.Fatalf("stderr %q", r.stderr)
		}
	})
	t.Run("ok/credentials are not printed", func(t *testing.T) {
		for _, args := range [][]string{{"agents", "list"}, {"--json", "agents", "list"}, {"agents", "show", mk.AgentID}, {"--json", "agents", "show", mk.AgentID}, {"anomalies"}} {
			r := e.monsys(t, args...).want(t, 0)
			if strings.Contains(r.stdout+r.stderr, e.info.AdminKey) || strings.Contains(r.stdout+r.stderr, "ms_") {
				t.Fatalf("%v prints a credential:\n%s%s", args, r.stdout, r.stderr)
			}
		}
	})
}
