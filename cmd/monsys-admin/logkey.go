package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/tlog"
)

// logKeySeal makes the transparency log's key in kms-envelope mode (a KMS
// without Ed25519 keys, LocalStack): an Ed25519 seed sealed under the
// envelope key (stack output EnvelopeKeyArn) for the log's origin. It
// prints the reference, which goes into the stack parameter LogKeyEnvelope
// and bootstrap's --log-key.
func logKeySeal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log-key seal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wrap := fs.String("envelope-key", "", "the envelope key (stack output EnvelopeKeyArn)")
	origin := fs.String("log-origin", "", "the log's origin (stack output LogOrigin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wrap == "" || !tlog.ValidName(*origin) {
		return errors.New("log-key seal: --envelope-key and a valid --log-origin are required")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("log-key seal: load AWS config: %w", err)
	}
	ref, err := kmssign.SealLogKey(ctx, kms.NewFromConfig(cfg), *wrap, *origin, rand.Reader)
	if err != nil {
		return fmt.Errorf("log-key seal: %w", err)
	}
	fmt.Fprintln(stdout, ref)
	return nil
}
