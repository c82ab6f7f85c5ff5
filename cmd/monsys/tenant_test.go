package main

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
	if out, err := exec.Command("go", "build", "-o", bin, "../monsys-admin").CombinedOutput(); err != nil {
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
