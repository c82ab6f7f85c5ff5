package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/profile"
)

func (a *app) agentsCmd() *cobra.Command {
	c := group("agents", "Create, list, show and rotate agents")
	var hostname, out string
	create := &cobra.Command{
		Use:   "create [--hostname H] [--out DIR]",
		Short: "Create an agent; its token is shown once, DIR gets everything the host needs",
		Long: `Create an agent. Its token is shown once, here.

With --out DIR, DIR gets what one host needs: agent.json (paths relative to
it), the token file (0600), the CA certificate that verifies the hub, and the
tenant's enrollment certificate and key. Copy the folder to the host and run
"monsys-agent run --config DIR/agent.json".`,
		Args: args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error { return a.createAgent(ctx, hostname, out) }),
	}
	create.Flags().StringVar(&hostname, "hostname", "", "the host's name, as the hub shows it until the agent registers")
	create.Flags().StringVar(&out, "out", "", "folder to write agent.json, the token and the certificates into")

	var status string
	list := &cobra.Command{
		Use:   "list [--status pinned|legacy|stale|attention]",
		Short: "List the tenant's agents",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error {
			switch status {
			case "", "pinned", "legacy", "stale", "attention":
			default:
				return usagef("--status must be pinned, legacy, stale or attention, got %q", status)
			}
			return a.listAgents(ctx, status)
		}),
	}
	list.Flags().StringVar(&status, "status", "", "only agents that are pinned, legacy (no signing pin), stale, or need attention (an open anomaly)")

	show := &cobra.Command{Use: "show ID", Short: "Show an agent", Args: args(1, "an agent id"),
		RunE: run(func(ctx context.Context, ids []string) error {
			return a.agentView(ctx, ids[0], (*client.Admin).GetAgent)
		})}
	rotSig := &cobra.Command{Use: "rotate-signing-key ID", Short: "Unset the agent's signing-key pin (it pins its next key)", Args: args(1, "an agent id"),
		RunE: run(func(ctx context.Context, ids []string) error {
			return a.agentView(ctx, ids[0], (*client.Admin).RotateSigningKey)
		})}
	rotCert := &cobra.Command{Use: "rotate-client-cert ID", Short: "Unpin the agent's client certificate (it pins its next one)", Args: args(1, "an agent id"),
		RunE: run(func(ctx context.Context, ids []string) error {
			return a.agentView(ctx, ids[0], (*client.Admin).RotateClientCert)
		})}
	rotTok := &cobra.Command{Use: "rotate-token ID", Short: "Give the agent a new token, shown once; the old one stops working", Args: args(1, "an agent id"),
		RunE: run(func(ctx context.Context, ids []string) error {
			ad, err := a.client()
			if err != nil {
				return err
			}
			t, err := ad.RotateToken(ctx, ids[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.emit(t)
			}
			fmt.Fprintf(a.stdout, "agent:  %s\ntoken:  %s\n\nThe token is shown once; the old one no longer works.\n", t.AgentID, t.Token)
			return nil
		})}
	c.AddCommand(create, list, show, rotSig, rotCert, rotTok)
	return c
}

// agentFiles are the names createAgent writes in --out.
var agentFiles = struct{ config, token, ca, enrollCert, enrollKey string }{
	"agent.json", "token", "ca.pem", "enroll.pem", "enroll.key"}

func (a *app) createAgent(ctx context.Context, hostname, out string) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	var prof profile.Info
	if out != "" {
		// Everything the folder needs is read before the agent exists, so
		// that a bad profile creates no agent.
		if prof, err = profile.Read(a.profilePath()); err != nil {
			return err
		}
		if prof.EnrollCert == "" || prof.EnrollKey == "" {
			return fmt.Errorf("the hub profile names no enrollment certificate and key for --out")
		}
		if err := os.MkdirAll(out, 0o700); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	t, err := ad.CreateAgent(ctx, hostname)
	if err != nil {
		return err
	}
	if out != "" {
		if err := writeAgentDir(out, prof, t.Token); err != nil {
			return fmt.Errorf("agent %s was created, but its folder was not written (rotate its token to try again): %w", t.AgentID, err)
		}
	}
	if a.json {
		doc := map[string]any{"agent_id": t.AgentID, "token": t.Token}
		if out != "" {
			abs, _ := filepath.Abs(out)
			doc["out"] = abs
		}
		return a.emit(doc)
	}
	fmt.Fprintf(a.stdout, "agent:  %s\ntoken:  %s\n\nThe token is shown once.\n", t.AgentID, t.Token)
	if out != "" {
		fmt.Fprintf(a.stdout, "Wrote %s: %s.\nInstall: copy the folder to the host, then run\n  monsys-agent run --config %s\n",
			out, strings.Join([]string{agentFiles.config, agentFiles.token, agentFiles.ca, agentFiles.enrollCert, agentFiles.enrollKey}, ", "),
			filepath.Join(out, agentFiles.config))
	}
	return nil
}

// profilePath is the hub profile the client was opened from.
func (a *app) profilePath() string {
	switch {
	case a.hubFile != "":
		return a.hubFile
	case a.getenv("MONSYS_HUB") != "":
		return a.getenv("MONSYS_HUB")
	}
	return "hub.json"
}

// writeAgentDir writes one host's agent folder: the config with paths
// relative to it (the agent reads them so), the token, the CA and the
// enrollment certificate and key. Secrets are 0600.
func writeAgentDir(dir string, p profile.Info, token string) error {
	copyFile := func(from, to string, mode os.FileMode) error {
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(dir, to), b, mode)
	}
	if err := copyFile(p.CACert, agentFiles.ca, 0o644); err != nil {
		return err
	}
	if err := copyFile(p.EnrollCert, agentFiles.enrollCert, 0o644); err != nil {
		return err
	}
	if err := copyFile(p.EnrollKey, agentFiles.enrollKey, 0o600); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, agentFiles.token), []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(map[string]string{"hub_url": p.URL, "token_file": agentFiles.token, "ca_cert": agentFiles.ca,
		"enroll_cert": agentFiles.enrollCert, "enroll_key": agentFiles.enrollKey}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, agentFiles.config), append(cfg, '\n'), 0o644)
}

func (a *app) listAgents(ctx context.Context, status string) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	all, err := allPages(func(cursor string) ([]client.AgentView, string, error) {
		p, err := ad.ListAgents(ctx, client.AgentQuery{Status: status, Cursor: cursor, Limit: a.pageSize})
		return p.Agents, p.NextCursor, err
	})
	if err != nil {
		return err
	}
	if a.json {
		return a.emit(map[string]any{"agents": all})
	}
	rows := make([][]string, 0, len(all))
	for _, v := range all {
		rows = append(rows, []string{v.AgentID, orDash(v.Hostname), orDash(v.AgentVersion), pin(v.SigningPubKeyPinned, v.SendsUnsigned),
			yesNo(v.ClientCertPinned), when(v.LastSeen)})
	}
	table(a.stdout, termWidth(a.stdout), []string{"AGENT", "HOSTNAME", "VERSION", "SIGNING", "CERT", "LAST SEEN"}, rows)
	return nil
}

// pin names an agent's signing state.
func pin(pinned, unsigned bool) string {
	switch {
	case pinned:
		return "pinned"
	case unsigned:
		return "legacy (unsigned data)"
	}
	return "legacy"
}

func (a *app) agentView(ctx context.Context, id string, call func(*client.Admin, context.Context, string) (client.AgentView, error)) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	v, err := call(ad, ctx, id)
	if err != nil {
		return err
	}
	if a.json {
		return a.emit(v)
	}
	fields(a.stdout, [][2]string{
		{"agent", v.AgentID}, {"hostname", orDash(v.Hostname)}, {"os/arch", orDash(strings.Trim(v.OS+"/"+v.Arch, "/"))},
		{"version", orDash(v.AgentVersion)}, {"highest version", orDash(v.MaxAgentVersion)},
		{"signing key", pin(v.SigningPubKeyPinned, v.SendsUnsigned)}, {"key fingerprint", orDash(v.SigningKeyFP)}, {"pinned at", when(v.SigningSetAt)},
		{"client cert", yesNo(v.ClientCertPinned)}, {"cert fingerprint", orDash(v.ClientCertFP)}, {"cert expires", when(v.ClientCertNotAfter)},
		{"last seq", fmt.Sprint(v.LastSeq)}, {"last seen", when(v.LastSeen)}, {"registered", when(v.RegisteredAt)}, {"created", when(&v.CreatedAt)},
	})
	return nil
}
