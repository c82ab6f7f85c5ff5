// Command monsys-admin does what only someone with the hub's AWS
// credentials may do: the one-time set-up of a deployed hub that
// CloudFormation cannot do (README, "Deploying to AWS"), and tenants and
// their admin keys:
//
//	monsys-admin bootstrap --ca-key ARN --table-prefix PREFIX --tenant acme
//	    [--truststore-bucket NAME] [--s3-path-style] [--url https://hub.example.com] [--out DIR]
//	monsys-admin tenant create --tenant ID [--out DIR] [--url URL] (--local DIR | --ca-key ARN --table-prefix PREFIX)
//	monsys-admin tenant list (--local DIR | --table-prefix PREFIX)
//	monsys-admin admin-key rotate --hub FILE (--local DIR | --table-prefix PREFIX)
//
// With --local DIR the same commands work on the local hub running with
// state folder DIR: they reach its DynamoDB and KMS stand-ins through
// DIR/backend.json.
//
// It self-signs the hub CA certificate with the CA's KMS key and stores it in
// the tenants table (item _hub), creates the tenant with a new admin key,
// issues the tenant's enrollment and operator certificates, and uploads the
// CA certificate as truststore.pem to the truststore bucket, printing the S3
// version to deploy the mTLS custom domain with. It writes hub.json (the hub
// profile, as the local hub does) and the certificates into --out. Running it
// again keeps the CA and the tenant and issues a new admin key and new
// certificates.
//
// AWS credentials, region and endpoints come from the standard SDK chain
// (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL for LocalStack). With an
// endpoint set, the truststore bucket is addressed by path (--s3-path-style):
// the virtual-hosted <bucket>.localhost of an emulator does not resolve.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/witness"
)

// TruststoreKey is the truststore object the template's custom domain reads.
const TruststoreKey = "truststore.pem"

// caValidity is how long the hub CA certificate is valid.
const caValidity = 10 * 365 * 24 * time.Hour

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "monsys-admin:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  monsys-admin bootstrap --ca-key ARN --table-prefix PREFIX --tenant ID [flags]
  monsys-admin tenant create --tenant ID [--out DIR] [--url URL] (--local DIR | --ca-key ARN --table-prefix PREFIX)
  monsys-admin tenant list (--local DIR | --table-prefix PREFIX)
  monsys-admin admin-key rotate --hub FILE (--local DIR | --table-prefix PREFIX)
  monsys-admin log-key seal --envelope-key ARN --log-origin ORIGIN
(COMMAND -h for the flags)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 2 && args[0] == "tenant" && args[1] == "create":
		return tenantCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "tenant" && args[1] == "list":
		return tenantList(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "admin-key" && args[1] == "rotate":
		return adminKeyRotate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "log-key" && args[1] == "seal":
		return logKeySeal(ctx, args[2:], stdout, stderr)
	case len(args) == 0 || args[0] != "bootstrap":
		fmt.Fprintln(stderr, usage)
		return errors.New("unknown or missing command")
	}
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.CAKeyID, "ca-key", "", "KMS key of the hub CA (stack output HubCAKeyArn)")
	fs.StringVar(&o.Tenant, "tenant", "", "tenant to create, e.g. acme")
	fs.StringVar(&o.TablePrefix, "table-prefix", "", "table name prefix (stack output TablePrefix)")
	fs.StringVar(&o.TruststoreBucket, "truststore-bucket", "", "bucket for truststore.pem (stack output TruststoreBucketName); empty: no upload")
	endpoint := os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	pathStyle := fs.Bool("s3-path-style", endpoint, "address the truststore bucket by path, not as <bucket>.<host> (default true when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 is set)")
	fs.StringVar(&o.URL, "url", "", "the hub's address, written into hub.json (https://<DomainName>)")
	fs.StringVar(&o.Dir, "out", "", "folder for hub.json, certificates and keys (default ./monsys-<tenant>)")
	fs.StringVar(&o.CAName, "ca-name", "monsys hub CA", "common name of the CA certificate (first run only)")
	fs.StringVar(&o.LogKeyID, "log-key", "", "KMS key of the transparency log (stack output LogKeyArn), or in kms-envelope mode its sealed reference (log-key seal); prints its verifier key")
	fs.StringVar(&o.LogOrigin, "log-origin", "", "the log's origin (stack output LogOrigin); required with --log-key")
	fs.StringVar(&o.Witnesses, "witnesses", "", "the stack's Witnesses parameter: their verifier keys go into hub.json")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if o.Dir == "" {
		o.Dir = "monsys-" + o.Tenant
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	db, err := ddb.FromSDK(dynamodb.NewFromConfig(cfg))
	if err != nil {
		return err
	}
	c := Clients{DynamoDB: db, KMS: kms.NewFromConfig(cfg)}
	if o.TruststoreBucket != "" {
		c.S3 = s3.NewFromConfig(cfg, func(so *s3.Options) { so.UsePathStyle = *pathStyle })
	}
	res, err := Bootstrap(ctx, o, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hub CA        %s (%s)\n", res.CACert, map[bool]string{true: "created", false: "kept"}[res.CACreated])
	fmt.Fprintf(stdout, "tenant        %s, new admin key in %s (shown nowhere else)\n", o.Tenant, res.HubJSON)
	fmt.Fprintf(stdout, "enrollment    %s (ship with the agent installer)\n", res.Info.EnrollCert)
	fmt.Fprintf(stdout, "operator      %s\n", res.Info.OperatorCert)
	if res.Info.LogVKey != "" {
		fmt.Fprintf(stdout, "log key       %s (verifiers' --log-key)\n", res.Info.LogVKey)
	}
	for _, v := range res.Info.WitnessVKeys {
		fmt.Fprintf(stdout, "witness key   %s (verifiers' --witness-key)\n", v)
	}
	if res.TruststoreVersion != "" {
		fmt.Fprintf(stdout, "truststore    s3://%s/%s version %s\n\n", o.TruststoreBucket, TruststoreKey, res.TruststoreVersion)
		fmt.Fprintf(stdout, "next: sam deploy --parameter-overrides TruststoreVersion=%s DomainName=... CertificateArn=...\n", res.TruststoreVersion)
	}
	return nil
}

// Options are the bootstrap's inputs.
type Options struct {
	CAKeyID, Tenant, TablePrefix, TruststoreBucket, URL, Dir, CAName string
	// LogKeyID and LogOrigin name the transparency log's key; Witnesses
	// is MONSYS_WITNESSES. All optional.
	LogKeyID, LogOrigin, Witnesses string
	Clock                          clock.Clock // default the system clock
}

// Clients are the AWS clients the bootstrap calls; S3 may be nil (no truststore upload).
type Clients struct {
	DynamoDB *ddb.Client // the data plane: the tool creates no table
	KMS      *kms.Client
	S3       *s3.Client
}

// Result says what the bootstrap did.
type Result struct {
	Info              profile.Info
	HubJSON, CACert   string
	CACreated         bool
	TruststoreVersion string
}

// Bootstrap does the one-time set-up; see the package comment.
func Bootstrap(ctx context.Context, o Options, c Clients) (Result, error) {
	if o.CAKeyID == "" || o.Tenant == "" || o.TablePrefix == "" {
		return Result{}, errors.New("bootstrap: --ca-key, --table-prefix and --tenant are required (stack outputs HubCAKeyArn and TablePrefix)")
	}
	if !ca.ValidTenantID(o.Tenant) {
		return Result{}, fmt.Errorf("bootstrap: tenant id %q: want [a-z0-9][a-z0-9-]{0,62}", o.Tenant)
	}
	logVKey, witnessVKeys, err := logKeys(ctx, o, c)
	if err != nil {
		return Result{}, err
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.CAName == "" {
		o.CAName = "monsys hub CA"
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("bootstrap: %w", err)
	}
	tables := dynamo.TablesWithPrefix(o.TablePrefix)
	store, err := dynamo.NewCA(c.DynamoDB, tables)
	if err != nil {
		return Result{}, err
	}
	signer, err := kmssign.New(ctx, c.KMS, o.CAKeyID)
	if err != nil {
		return Result{}, fmt.Errorf("bootstrap: CA key %s: %w", o.CAKeyID, err)
	}
	var res Result
	if _, err := store.CACert(ctx); errors.Is(err, hub.ErrNotFound) {
		root, err := ca.NewRoot(signer, o.CAName, o.Clock.Now().UTC(), caValidity, rand.Reader)
		if err != nil {
			return Result{}, fmt.Errorf("bootstrap: self-sign the CA: %w", err)
		}
		mine := string(ca.EncodeCertPEM(root))
		stored, err := store.PutCACert(ctx, mine, o.CAKeyID)
		if err != nil {
			return Result{}, fmt.Errorf("bootstrap: store the CA certificate: %w", err)
		}
		res.CACreated = stored == mine
	} else if err != nil {
		return Result{}, fmt.Errorf("bootstrap: read the CA certificate: %w", err)
	}
	auth, caPEM, err := authority(ctx, c, tables, o.CAKeyID, o.Clock)
	if err != nil {
		return Result{}, fmt.Errorf("bootstrap: %w", err)
	}

	tenants, err := tenantsOf(c.DynamoDB, tables, o.Clock)
	if err != nil {
		return Result{}, err
	}
	adminKey, err := tenants.Bootstrap(ctx, o.Tenant)
	if err != nil {
		return Result{}, err
	}
	if res.Info, res.HubJSON, err = writeProfile(dir, o.URL, o.Tenant, adminKey, caPEM, auth, o.Clock.Now(),
		func(i *profile.Info) { i.LogVKey, i.WitnessVKeys = logVKey, witnessVKeys }); err != nil {
		return Result{}, fmt.Errorf("bootstrap: %w", err)
	}
	res.CACert = res.Info.CACert
	if c.S3 != nil && o.TruststoreBucket != "" {
		out, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.TruststoreBucket), Key: aws.String(TruststoreKey),
			Body: strings.NewReader(caPEM), ContentType: aws.String("application/x-pem-file")})
		if err != nil {
			return Result{}, fmt.Errorf("bootstrap: upload the truststore to s3://%s/%s: %w", o.TruststoreBucket, TruststoreKey, err)
		}
		res.TruststoreVersion = aws.ToString(out.VersionId)
		if res.TruststoreVersion == "" {
			return Result{}, fmt.Errorf("bootstrap: s3://%s is not versioned; API Gateway needs a truststore version", o.TruststoreBucket)
		}
	}
	return res, nil
}

// logKeys are the log's verifier key (from its KMS key and origin) and the
// witnesses' verifier keys, checked before anything is written.
func logKeys(ctx context.Context, o Options, c Clients) (string, []string, error) {
	var vkey string
	if (o.LogKeyID == "") != (o.LogOrigin == "") {
		return "", nil, errors.New("bootstrap: --log-key and --log-origin go together (stack outputs LogKeyArn and LogOrigin)")
	}
	if kmssign.IsEnvelopeLogKey(o.LogKeyID) {
		pub, err := kmssign.EnvelopeLogPublicKey(o.LogKeyID)
		if err != nil {
			return "", nil, fmt.Errorf("bootstrap: --log-key: %w", err)
		}
		if vkey, err = tlog.VerifierKey(o.LogOrigin, pub); err != nil {
			return "", nil, fmt.Errorf("bootstrap: --log-origin: %w", err)
		}
	} else if o.LogKeyID != "" {
		signer, err := kmssign.New(ctx, c.KMS, o.LogKeyID)
		if err != nil {
			return "", nil, fmt.Errorf("bootstrap: log key %s: %w", o.LogKeyID, err)
		}
		pub, ok := signer.Public().(ed25519.PublicKey)
		if !ok {
			return "", nil, fmt.Errorf("bootstrap: log key %s is not an Ed25519 key (ECC_NIST_EDWARDS25519)", o.LogKeyID)
		}
		if vkey, err = tlog.VerifierKey(o.LogOrigin, pub); err != nil {
			return "", nil, fmt.Errorf("bootstrap: --log-origin: %w", err)
		}
	}
	if o.Witnesses == "" {
		return vkey, nil, nil
	}
	ws, _, err := witness.Parse(o.Witnesses, "")
	if err != nil {
		return "", nil, fmt.Errorf("bootstrap: --witnesses: %w", err)
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.VKey
	}
	return vkey, out, nil
}
