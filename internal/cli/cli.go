// Package cli is monsys, the operator's tool for a running hub, local or on AWS
// (SPEC 11): agents, anomalies, evidence packs, pack-signing keys and the
// transparency log, over the hub's mutual TLS, so that nobody needs curl.
//
// It reads a hub profile (--hub FILE, else MONSYS_HUB, else ./hub.json: the
// file the local hub and monsys-admin bootstrap write) and speaks SPEC 4
// through internal/client. Tables for people (sized to the terminal),
// --json for scripts (one JSON document on stdout). Exit status 0 when done,
// 1 when the hub refused or a check failed (the hub's error code and message
// on stderr), 2 for a usage mistake. Credentials are never printed, except
// the token of "agents create" and "agents rotate-token", once.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/monsys/hub/internal/client"
)

// Version is monsys's version; cmd/monsys sets it from its build.
var Version = "0.1.0"

// Exit statuses (SPEC 11).
const (
	exitOK     = 0
	exitFailed = 1 // the hub refused, or a check failed
	exitUsage  = 2
)

// usageError is a mistake on the command line (exit 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// failure is an error of a command that ran (exit 1), as opposed to one
// cobra found while parsing the command line.
type failure struct{ error }

func (f failure) Unwrap() error { return f.error }

// app is one run of the tool: where it writes, the global flags, and the
// client it opens on first use.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	hubFile        string
	json           bool
	// poll is how often a pack is asked about while waiting for it.
	poll time.Duration
	// pageSize is how many items a listing asks for per request.
	pageSize int
	admin    *client.Admin
}

// Main runs the tool with args and returns its exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv, poll: time.Second, pageSize: 500}
	if d, err := time.ParseDuration(getenv("MONSYS_POLL_INTERVAL")); err == nil && d > 0 {
		a.poll = d
	}
	root := a.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.admin != nil {
		a.admin.CloseIdle()
	}
	if err == nil {
		return exitOK
	}
	var f failure
	var u usageError
	switch {
	case errors.As(err, &u) || !errors.As(err, &f):
		fmt.Fprintf(stderr, "monsys: %v\nRun 'monsys --help' for usage.\n", err)
		return exitUsage
	}
	a.printError(f.error)
	return exitFailed
}

// printError shows why a command failed: the hub's error code and message
// as they are, or the cause.
func (a *app) printError(err error) {
	var he *client.Error
	if a.json {
		doc := map[string]any{"error": map[string]any{"message": err.Error()}}
		if errors.As(err, &he) {
			doc["error"] = map[string]any{"code": he.Code, "message": he.Message, "status": he.Status, "request_id": he.RequestID}
		}
		b, _ := json.Marshal(doc)
		fmt.Fprintln(a.stderr, string(b))
		return
	}
	if errors.As(err, &he) {
		fmt.Fprintf(a.stderr, "monsys: %s: %s (HTTP %d", he.Code, he.Message, he.Status)
		if he.RequestID != "" {
			fmt.Fprintf(a.stderr, ", request %s", he.RequestID)
		}
		fmt.Fprintln(a.stderr, ")")
		return
	}
	fmt.Fprintf(a.stderr, "monsys: %v\n", err)
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "monsys",
		Short: "Operate a monsys hub: agents, anomalies, evidence packs, keys, log",
		Long: `monsys operates a running monsys hub, local or on AWS, over its mutual TLS.

It reads the hub profile from --hub, else $MONSYS_HUB, else ./hub.json (the
file the local hub and "monsys-admin bootstrap" write).

Exit status: 0 done, 1 the hub refused or a check failed, 2 usage.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.hubFile, "hub", "", "hub profile (default $MONSYS_HUB, else ./hub.json)")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print one JSON document for scripts instead of tables")
	root.PersistentFlags().IntVar(&a.pageSize, "page-size", 500, "items per request of a listing (1-500)")
	_ = root.PersistentFlags().MarkHidden("page-size")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.agentsCmd(), a.anomaliesCmd(), a.packsCmd(), a.keysCmd(), a.logCmd())
	return root
}

// run adapts a command's work to cobra: its errors are failures (exit 1).
func run(fn func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd.Context(), args); err != nil {
			var u usageError
			if errors.As(err, &u) {
				return err
			}
			return failure{err}
		}
		return nil
	}
}

// args checks the number of positional arguments as a usage rule.
func args(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, a []string) error {
		if len(a) != n {
			if n == 0 {
				return usagef("unexpected argument %q", a[0])
			}
			return usagef("want %s, got %d arguments", names, len(a))
		}
		return nil
	}
}

// group is a command that only holds others: without one it shows its
// help, and an unknown one is a usage mistake.
func group(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usagef("unknown command %q for %q", a[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
}

// client opens the hub profile on first use.
func (a *app) client() (*client.Admin, error) {
	if a.admin != nil {
		return a.admin, nil
	}
	path := a.hubFile
	if path == "" {
		path = a.getenv("MONSYS_HUB")
	}
	if path == "" {
		path = "hub.json"
	}
	ad, err := client.OpenAdmin(path, client.Options{UserAgent: "monsys/" + Version, Attempts: 3, Timeout: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("hub profile %s: %w", path, err)
	}
	a.admin = ad
	return ad, nil
}

// emit prints v as the one JSON document of --json.
func (a *app) emit(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
