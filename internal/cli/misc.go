package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/client"
)

func (a *app) anomaliesCmd() *cobra.Command {
	var open, closed bool
	var kind, agent string
	c := &cobra.Command{
		Use:   "anomalies [--open|--closed] [--kind K] [--agent ID]",
		Short: "List the tenant's anomalies",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error {
			q := client.AnomalyQuery{Kind: anomaly.Kind(kind), AgentID: agent, Limit: a.pageSize}
			switch {
			case open && closed:
				return usagef("--open and --closed exclude each other")
			case open:
				q.Status = anomaly.Open
			case closed:
				q.Status = anomaly.Closed
			}
			return a.listAnomalies(ctx, q)
		}),
	}
	c.Flags().BoolVar(&open, "open", false, "only open anomalies")
	c.Flags().BoolVar(&closed, "closed", false, "only closed anomalies")
	c.Flags().StringVar(&kind, "kind", "", "only anomalies of this kind (e.g. signature_invalid)")
	c.Flags().StringVar(&agent, "agent", "", "only anomalies of this agent")
	return c
}

func (a *app) listAnomalies(ctx context.Context, q client.AnomalyQuery) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	all, err := allPages(func(cursor string) ([]anomaly.Anomaly, string, error) {
		q.Cursor = cursor
		p, err := ad.Anomalies(ctx, q)
		return p.Anomalies, p.NextCursor, err
	})
	if err != nil {
		return err
	}
	if a.json {
		return a.emit(map[string]any{"anomalies": all})
	}
	rows := make([][]string, 0, len(all))
	for _, an := range all {
		first, last := an.FirstSeen, an.LastSeen
		rows = append(rows, []string{an.AgentID, string(an.Kind), string(an.Severity), string(an.Status), fmt.Sprint(an.Count),
			when(&first), when(&last), strings.ReplaceAll(an.Detail, "\n", " ")})
	}
	table(a.stdout, termWidth(a.stdout), []string{"AGENT", "KIND", "SEVERITY", "STATUS", "COUNT", "FIRST SEEN", "LAST SEEN", "DETAIL"}, rows)
	return nil
}

func (a *app) keysCmd() *cobra.Command {
	c := group("keys", "The tenant's pack-signing key")
	c.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Rotate the tenant's pack-signing key (SPEC 7)",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error {
			ad, err := a.client()
			if err != nil {
				return err
			}
			k, err := ad.RotatePackKey(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return a.emit(k)
			}
			fields(a.stdout, [][2]string{{"tenant", k.TenantID}, {"signing key", k.SigningKeyID}, {"fingerprint", k.Fingerprint}})
			fmt.Fprintln(a.stdout, "\nAuditors check new packs with: verify.py PACK --expect-fingerprint "+k.Fingerprint)
			return nil
		}),
	})
	return c
}

func (a *app) logCmd() *cobra.Command {
	c := group("log", "The hub's transparency log (SPEC 10)")
	c.AddCommand(&cobra.Command{
		Use:   "checkpoint",
		Short: "Print the log's current checkpoint as the hub serves it",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error {
			ad, err := a.client()
			if err != nil {
				return err
			}
			b, err := ad.LogCheckpoint(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return a.emit(map[string]string{"checkpoint": string(b)})
			}
			_, err = a.stdout.Write(b)
			return err
		}),
	})
	return c
}
