package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/local"
)

// TestSecondTenant: a tenant made with monsys-admin on the running local
// hub sees nothing of the first through monsys, and the first nothing of it.
func TestSecondTenant(t *testing.T) {
	e := startHub(t, local.Config{})
	bin := filepath.Join(t.TempDir(), "monsys-admin")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/monsys-admin").CombinedOutput(); err != nil {
		t.Fatalf("build monsys-admin: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "acme")
	if out, err := exec.Command(bin, "tenant", "create", "--local", filepath.Dir(e.profile), "--tenant", "acme", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("monsys-admin tenant create: %v\n%s", err, out)
	}
	acme := filepath.Join(dir, "hub.json")

	var demoAgent created
	e.monsys(t, "--json", "agents", "create").want(t, 0).decode(t, &demoAgent)
	e.monsys(t, "packs", "create", "--month", "2026-01").want(t, 0)
	var acmeAgent created
	runMonsys(t, acme, "--json", "agents", "create", "--hostname", "acme-host").want(t, 0).decode(t, &acmeAgent)

	r := runMonsys(t, acme, "agents", "list").want(t, 0)
	if strings.Contains(r.stdout, demoAgent.AgentID) || !strings.Contains(r.stdout, acmeAgent.AgentID) {
		t.Fatalf("acme's list:\n%s", r.stdout)
	}
	r = runMonsys(t, acme, "agents", "show", demoAgent.AgentID).want(t, 1)
	if !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("acme shown demo's agent: %s", r.stderr)
	}
	runMonsys(t, acme, "agents", "rotate-token", demoAgent.AgentID).want(t, 1)
	if r = runMonsys(t, acme, "--json", "packs", "list").want(t, 0); strings.Contains(r.stdout, "pk_") {
		t.Fatalf("acme sees packs: %s", r.stdout)
	}
	if r = e.monsys(t, "agents", "list").want(t, 0); strings.Contains(r.stdout, acmeAgent.AgentID) {
		t.Fatalf("demo sees acme's agent:\n%s", r.stdout)
	}
}

// TestInstallAgentFromFolder is the README's walk-through: the folder that
// "agents create --out" wrote is all monsys-agent needs to enroll and send;
// the agent then shows as pinned, and its data is in a verified pack.
func TestInstallAgentFromFolder(t *testing.T) {
	e := startHub(t, local.Config{})
	bin := filepath.Join(t.TempDir(), "monsys-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "../../agent/cmd/monsys-agent").CombinedOutput(); err != nil {
		t.Fatalf("build monsys-agent: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "web-1")
	var c created
	e.monsys(t, "--json", "agents", "create", "--hostname", "web-1", "--out", dir).want(t, 0).decode(t, &c)
	cmd := exec.Command(bin, "once", "--config", filepath.Join(dir, "agent.json"), "--state-dir", filepath.Join(t.TempDir(), "state"))
	cmd.Dir = t.TempDir() // the folder's paths hold from anywhere
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("monsys-agent once: %v\n%s", err, out)
	}
	r := e.monsys(t, "agents", "list", "--status", "pinned").want(t, 0)
	if !strings.Contains(r.stdout, c.AgentID) {
		t.Fatalf("the agent is not listed as pinned:\n%s", r.stdout)
	}
	var v struct {
		Pack struct{ Records int64 }
	}
	e.monsys(t, "--json", "packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify").want(t, 0).decode(t, &v)
	if v.Pack.Records == 0 {
		t.Fatal("the pack holds none of the agent's records")
	}
}
