// Command monsys-agent is the monsys host agent: it signs everything it
// sends, spools what the hub has not acknowledged, and reports metrics,
// inventory, process DNA, honeypot trips and its own status.
//
//	monsys-agent run | once | register | status | rotate-key | version [flags]
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/monsys/hub/agent/collect"
	"github.com/monsys/hub/agent/config"
	"github.com/monsys/hub/agent/daemon"
	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/keyfile"
	"github.com/monsys/hub/internal/client"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "0.1.0"

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

const usage = `usage: monsys-agent <command> [flags]

commands:
  run         collect every interval and send, until stopped
  once        collect once, send the spool, exit (non-zero if anything is left)
  register    register with the hub (enrolls on first use, renews when due)
  status      show pin state, certificate expiry, spool depth and last contact
  rotate-key  make a new signing key and register it (after the admin unset the pin)
  version     print the version

Settings come from the config file (--config, MONSYS_CONFIG, default %s),
then MONSYS_* environment variables, then flags. Run "monsys-agent run -h" for flags.
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "monsys-agent:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "monsys-agent:", err)
		if errors.Is(err, keyfile.ErrInsecure) || errors.Is(err, keyfile.ErrSize) {
			fmt.Fprintln(os.Stderr, "monsys-agent: refusing to start: the signing key file must be exactly 32 bytes and readable by the agent's user only (mode 0600). If others could have read it, treat it as leaked: remove it and rotate the key (an admin unsets the pin, then run 'monsys-agent rotate-key').")
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, config.DefaultFile())
		return fmt.Errorf("no command: %w", errUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "monsys-agent %s %s/%s\n", version, runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, config.DefaultFile())
		return nil
	case "run", "once", "register", "status", "rotate-key":
	default:
		fmt.Fprintf(stderr, usage, config.DefaultFile())
		return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
	cfg, err := loadConfig(cmd, args, stderr)
	if err != nil {
		return err
	}
	if cmd == "status" {
		r, err := daemon.Inspect(cfg.StateDir, cfg.SpoolMaxBytes)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, r.Format(time.Now()))
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts, err := options(cfg, log)
	if err != nil {
		return err
	}
	switch cmd {
	case "register", "rotate-key":
		a, err := daemon.OpenShared(opts)
		if err != nil {
			return err
		}
		var resp client.RegisterResponse
		if cmd == "register" {
			resp, err = a.Register(ctx, nil)
		} else {
			resp, err = a.RotateKey(ctx)
		}
		if errors.Is(err, daemon.ErrPinned) {
			return fmt.Errorf("%w\nthe hub still pins the current key: an admin must first call POST /api/v1/agents/<id>/rotate-signing-key", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered agent %s, signing key pinned: %v %s\n", resp.AgentID, resp.SigningPubkeyPinned, resp.SigningSetAt)
		return nil
	}
	a, err := daemon.Open(opts)
	if err != nil {
		return err
	}
	defer a.Close()
	if cmd == "once" {
		if err := a.Once(ctx); err != nil {
			return fmt.Errorf("%w (%d batches stay in the spool)", err, a.SpoolStats().Batches)
		}
		return nil
	}
	log.Info("monsys-agent started", "version", version, "state_dir", cfg.StateDir, "interval", time.Duration(cfg.Interval))
	return a.Run(ctx)
}

func loadConfig(cmd string, args []string, stderr io.Writer) (config.Config, error) {
	fs := flag.NewFlagSet("monsys-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", os.Getenv("MONSYS_CONFIG"), "JSON config file (default "+config.DefaultFile()+")")
	vals := map[string]*string{}
	for _, k := range config.Keys() {
		vals[k] = fs.String(config.FlagName(k), "", "setting "+k+" (env "+config.EnvName(k)+")")
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for k, v := range vals {
			if config.FlagName(k) == f.Name {
				set[k] = *v
			}
		}
	})
	return config.Load(config.Sources{File: *file, FileRequired: *file != "", Flags: set})
}

func options(cfg config.Config, log *slog.Logger) (daemon.Options, error) {
	if err := cfg.CheckHub(); err != nil {
		return daemon.Options{}, err
	}
	token, err := cfg.ReadToken()
	if err != nil {
		return daemon.Options{}, err
	}
	roots, err := identity.LoadRoots(cfg.CACert)
	if err != nil {
		return daemon.Options{}, err
	}
	hub, err := client.NewAgent(client.AgentConfig{URL: cfg.HubURL, Token: token, Roots: roots, UserAgent: "monsys-agent/" + version})
	if err != nil {
		return daemon.Options{}, err
	}
	enroll := func() (identity.Identity, error) {
		if cfg.EnrollCert == "" || cfg.EnrollKey == "" {
			return identity.Identity{}, daemon.ErrNoEnrollment
		}
		return identity.LoadPair(cfg.EnrollCert, cfg.EnrollKey)
	}
	all := []daemon.Scheduled{
		{Collector: &collect.Metrics{DiskPaths: cfg.DiskPaths}},
		{Collector: &collect.Inventory{}, Every: time.Duration(cfg.InventoryInterval)},
		{Collector: &collect.DNA{Source: collect.DefaultProcSource()}, Every: time.Duration(cfg.DNAInterval)},
	}
	if len(cfg.Canaries) > 0 {
		all = append(all, daemon.Scheduled{Collector: &collect.Honeypot{Paths: cfg.Canaries}})
	}
	var collectors []daemon.Scheduled
	for _, c := range all {
		if cfg.Enabled(c.Collector.Name()) {
			collectors = append(collectors, c)
		}
	}
	return daemon.Options{
		StateDir:      cfg.StateDir,
		Version:       version,
		Hub:           hub,
		Enrollment:    enroll,
		Collectors:    collectors,
		Interval:      time.Duration(cfg.Interval),
		RegisterEvery: time.Duration(cfg.RegisterInterval),
		SpoolMaxBytes: cfg.SpoolMaxBytes,
		Hostname:      os.Hostname,
		Rand:          rand.Reader,
		Jitter:        mrand.Float64,
		Log:           log,
	}, nil
}
