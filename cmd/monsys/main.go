// Command monsys is the operator's tool for a running hub, local or on AWS
// (SPEC 11); the commands are internal/cli's.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/monsys/hub/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "0.1.0"

func main() {
	cli.Version = version
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
