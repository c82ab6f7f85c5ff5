// Command monsys-local runs the local hub in the foreground (SPEC 1.1):
// dynalite, the local KMS and the mutual-TLS gateway in front of the handlers.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/local"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "monsys-local:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := local.Config{Addr: os.Getenv("MONSYS_LOCAL_ADDR"), Dir: os.Getenv("MONSYS_LOCAL_DIR"),
		DynamoEndpoint: os.Getenv("MONSYS_LOCAL_DYNAMODB_ENDPOINT"), Log: app.Logger(os.Stderr),
		S3Endpoint: os.Getenv("MONSYS_LOCAL_S3_ENDPOINT"), S3User: os.Getenv("MONSYS_LOCAL_S3_USER"),
		S3Password: os.Getenv("MONSYS_LOCAL_S3_PASSWORD"), Bucket: os.Getenv(app.EnvPackBucket),
		SigningMode: os.Getenv(app.EnvSigningMode), LogOrigin: os.Getenv(app.EnvLogOrigin)}
	if v := os.Getenv(app.EnvRetentionDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return fmt.Errorf("%s=%q: want whole days from 0 (none) to 36500", app.EnvRetentionDays, v)
		}
		cfg.RetentionDays = n
		if n == 0 {
			cfg.RetentionDays = -1
		}
	}
	if v := os.Getenv(app.EnvHotDays); v != "" {
		n, err := app.ParseHotDays(v)
		if err != nil {
			return err
		}
		cfg.HotDays = n
	}
	if v := os.Getenv("MONSYS_INTEGRITY_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("MONSYS_INTEGRITY_EVERY=%q: want a positive Go duration such as 10m", v)
		}
		cfg.IntegrityEvery = d
	}
	h, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	i := h.Info()
	fmt.Fprintf(os.Stderr, "\nmonsys local hub on %s (tenant %q)\nstate and hub.json in %s\nstop with Ctrl-C\n\n", i.URL, i.TenantID, cfg.Dir)
	select {
	case <-ctx.Done():
		return nil
	case <-waitChan(h):
		return fmt.Errorf("the local hub stopped: %w", h.Wait())
	}
}

func waitChan(h *local.Hub) <-chan struct{} {
	c := make(chan struct{})
	go func() { _ = h.Wait(); close(c) }()
	return c
}
