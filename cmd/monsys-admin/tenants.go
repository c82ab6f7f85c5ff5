package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/profile"
)

// tenantsOf is the tenant use case over the hub's tables.
func tenantsOf(db *ddb.Client, tables dynamo.Tables, clk clock.Clock) (*hub.Tenants, error) {
	st, err := dynamo.New(db, tables)
	if err != nil {
		return nil, err
	}
	return hub.NewTenants(st.Tenants, st.Credentials, st.Audit, hub.Env{Clock: clk, Log: slog.New(slog.DiscardHandler)})
}

// writeProfile writes a tenant's folder: the CA certificate, the tenant's
// enrollment and operator certificates and keys, and hub.json.
func writeProfile(dir, url, tenant, adminKey, caPEM string, auth *ca.Authority, now time.Time, set func(*profile.Info)) (profile.Info, string, error) {
	caPath := filepath.Join(dir, "ca.pem")
	if err := atomicfile.Write(caPath, []byte(caPEM), 0o644); err != nil {
		return profile.Info{}, "", err
	}
	tf, err := profile.EnsureTenantFiles(dir, tenant, auth, now.UTC())
	if err != nil {
		return profile.Info{}, "", err
	}
	info := profile.Info{URL: url, TenantID: tenant, AdminKey: adminKey, CACert: caPath,
		EnrollCert: tf.EnrollCert, EnrollKey: tf.EnrollKey, OperatorCert: tf.OperatorCert, OperatorKey: tf.OperatorKey}
	if set != nil {
		set(&info)
	}
	path := filepath.Join(dir, "hub.json")
	return info, path, profile.Write(path, info)
}

// target is the hub a command works on: a deployed one through the AWS SDK's
// chain, or the local hub through its backend.json.
type target struct {
	local, prefix, caKey string
}

func (t *target) flags(fs *flag.FlagSet, caKey bool) {
	fs.StringVar(&t.local, "local", "", "the local hub's state folder (MONSYS_LOCAL_DIR, e.g. .local) instead of AWS")
	fs.StringVar(&t.prefix, "table-prefix", "", "table name prefix (stack output TablePrefix)")
	if caKey {
		fs.StringVar(&t.caKey, "ca-key", "", "KMS key of the hub CA (stack output HubCAKeyArn)")
	}
}

// open returns the clients and fills in what the local hub's backend.json says.
func (t *target) open(ctx context.Context, needCA bool) (Clients, error) {
	if t.local != "" {
		if t.prefix != "" || t.caKey != "" {
			return Clients{}, errors.New("--local names the hub; --table-prefix and --ca-key are for AWS")
		}
		b, err := profile.ReadBackend(filepath.Join(t.local, profile.BackendFile))
		if err != nil {
			return Clients{}, err
		}
		t.prefix, t.caKey = b.TablePrefix, b.CAKeyID
		db, err := ddb.FromSDK(dynamodb.New(dynamodb.Options{Region: b.Region, BaseEndpoint: aws.String(b.DynamoDBEndpoint), Credentials: app.StaticCredentials()}))
		if err != nil {
			return Clients{}, err
		}
		return Clients{
			DynamoDB: db,
			KMS:      kms.New(kms.Options{Region: b.Region, BaseEndpoint: aws.String(b.KMSEndpoint), Credentials: app.StaticCredentials()}),
		}, nil
	}
	if t.prefix == "" || needCA && t.caKey == "" {
		if needCA {
			return Clients{}, errors.New("--local DIR, or --ca-key and --table-prefix (stack outputs HubCAKeyArn and TablePrefix), are required")
		}
		return Clients{}, errors.New("--local DIR, or --table-prefix (stack output TablePrefix), is required")
	}
	c, err := app.LoadClients(ctx)
	if err != nil {
		return Clients{}, err
	}
	return Clients{DynamoDB: c.DynamoDB, KMS: c.KMS}, nil
}

// tenants is the tenant use case of the target hub.
func (t *target) tenants(ctx context.Context) (*hub.Tenants, error) {
	c, err := t.open(ctx, false)
	if err != nil {
		return nil, err
	}
	return tenantsOf(c.DynamoDB, dynamo.TablesWithPrefix(t.prefix), clock.Real{})
}

// authority is the hub CA as bootstrap stored it, with its KMS key.
func authority(ctx context.Context, c Clients, tables dynamo.Tables, keyID string, clk clock.Clock) (*ca.Authority, string, error) {
	store, err := dynamo.NewCA(c.DynamoDB, tables)
	if err != nil {
		return nil, "", err
	}
	caPEM, err := store.CACert(ctx)
	if errors.Is(err, hub.ErrNotFound) {
		return nil, "", errors.New("the hub has no CA certificate yet: run monsys-admin bootstrap first")
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the CA certificate: %w", err)
	}
	signer, err := kmssign.New(ctx, c.KMS, keyID)
	if err != nil {
		return nil, "", fmt.Errorf("CA key %s: %w", keyID, err)
	}
	cert, err := ca.ParseCertPEM(caPEM)
	if err != nil {
		return nil, "", fmt.Errorf("stored CA certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(signer.Public()) {
		return nil, "", fmt.Errorf("the stored CA certificate is not for KMS key %s", keyID)
	}
	return &ca.Authority{Cert: cert, Signer: signer, Rand: rand.Reader, Now: clk.Now}, caPEM, nil
}

func tenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t target
	t.flags(fs, true)
	tenant := fs.String("tenant", "", "the new tenant's id, [a-z0-9][a-z0-9-]{0,62}")
	out := fs.String("out", "", "folder for its hub.json, certificates and keys (default ./monsys-<tenant>)")
	url := fs.String("url", "", "the hub's address for hub.json (https://<DomainName>; with --local, the local hub's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !ca.ValidTenantID(*tenant) {
		return fmt.Errorf("tenant create: --tenant %q: want [a-z0-9][a-z0-9-]{0,62}", *tenant)
	}
	c, err := t.open(ctx, true)
	if err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	// The local hub's log is the tenant's too (SPEC 10: one per deployment).
	var logKeys func(*profile.Info)
	if t.local != "" {
		if p, err := profile.Read(filepath.Join(t.local, "hub.json")); err == nil {
			if *url == "" {
				*url = p.URL
			}
			logKeys = func(i *profile.Info) { i.LogVKey, i.WitnessVKeys = p.LogVKey, p.WitnessVKeys }
		}
	}
	if *out == "" {
		*out = "monsys-" + *tenant
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	tables := dynamo.TablesWithPrefix(t.prefix)
	clk := clock.Real{}
	auth, caPEM, err := authority(ctx, c, tables, t.caKey, clk)
	if err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	tenants, err := tenantsOf(c.DynamoDB, tables, clk)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	key, err := tenants.Create(ctx, *tenant)
	if errors.Is(err, hub.ErrTenantExists) {
		return fmt.Errorf("tenant create: tenant %s exists; its admin key is rotated with 'monsys-admin admin-key rotate'", *tenant)
	}
	if err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	info, hubJSON, err := writeProfile(dir, *url, *tenant, key, caPEM, auth, clk.Now(), logKeys)
	if err != nil {
		return fmt.Errorf("tenant create: tenant %s was created, but its folder was not written ('monsys-admin bootstrap --tenant %s' issues it a new admin key and certificates): %w", *tenant, *tenant, err)
	}
	fmt.Fprintf(stdout, "tenant        %s created, admin key in %s (shown nowhere else)\n", *tenant, hubJSON)
	fmt.Fprintf(stdout, "enrollment    %s (ship with the agent installer)\n", info.EnrollCert)
	fmt.Fprintf(stdout, "operator      %s\n", info.OperatorCert)
	fmt.Fprintf(stdout, "next: monsys --hub %s agents create --out DIR\n", hubJSON)
	return nil
}

func tenantList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t target
	t.flags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tenants, err := t.tenants(ctx)
	if err != nil {
		return fmt.Errorf("tenant list: %w", err)
	}
	ts, err := tenants.List(ctx)
	if err != nil {
		return fmt.Errorf("tenant list: %w", err)
	}
	fmt.Fprintf(stdout, "%-24s %s\n", "TENANT", "CREATED")
	for _, tn := range ts {
		fmt.Fprintf(stdout, "%-24s %s\n", tn.TenantID, tn.CreatedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func adminKeyRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin-key rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t target
	t.flags(fs, false)
	hubFile := fs.String("hub", "", "the tenant's hub.json: its admin key is replaced in place")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hubFile == "" {
		return errors.New("admin-key rotate: --hub FILE (the tenant's hub.json) is required")
	}
	info, err := profile.Read(*hubFile)
	if err != nil {
		return fmt.Errorf("admin-key rotate: %w", err)
	}
	tenants, err := t.tenants(ctx)
	if err != nil {
		return fmt.Errorf("admin-key rotate: %w", err)
	}
	key, err := tenants.RotateAdminKey(ctx, info.TenantID, info.AdminKey)
	if key != "" {
		info.AdminKey = key
		if werr := profile.Write(*hubFile, info); werr != nil {
			return errors.Join(fmt.Errorf("admin-key rotate: the new key could not be written to %s: %w", *hubFile, werr), err)
		}
	}
	if errors.Is(err, hub.ErrAdminKeyUnknown) {
		return fmt.Errorf("admin-key rotate: the admin key in %s is not a live key of tenant %s", *hubFile, info.TenantID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant        %s: new admin key in %s; the old one no longer works\n", info.TenantID, *hubFile)
	return nil
}
