package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/profile"
)

// CAKeyAlias names the hub CA's key in the local KMS.
const CAKeyAlias = "alias/monsys-hub-ca"

// caValidity is how long the local CA certificate is valid.
const caValidity = 10 * 365 * 24 * time.Hour

// ensureCAKey finds the CA key by alias, creating it on first start.
func ensureCAKey(ctx context.Context, c *kms.Client) (string, error) {
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(CAKeyAlias)})
	if err == nil {
		return aws.ToString(out.KeyMetadata.KeyId), nil
	}
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		return "", fmt.Errorf("find CA key %s: %w", CAKeyAlias, err)
	}
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify,
		Description: aws.String("monsys hub CA (local)")})
	if err != nil {
		return "", fmt.Errorf("create CA key: %w", err)
	}
	id := aws.ToString(k.KeyMetadata.KeyId)
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(CAKeyAlias), TargetKeyId: aws.String(id)}); err != nil {
		return "", fmt.Errorf("alias CA key: %w", err)
	}
	return id, nil
}

// ensureCACert self-signs the CA certificate with the KMS key once and keeps it
// in DynamoDB, where the functions read it.
func ensureCACert(ctx context.Context, store *dynamo.CA, c *kms.Client, keyID string, now time.Time) error {
	if _, err := store.CACert(ctx); err == nil {
		return nil
	} else if !errors.Is(err, hub.ErrNotFound) {
		return err
	}
	signer, err := kmssign.New(ctx, c, keyID)
	if err != nil {
		return err
	}
	cert, err := ca.NewRoot(signer, "monsys hub local CA", now, caValidity, rand.Reader)
	if err != nil {
		return fmt.Errorf("self-sign CA: %w", err)
	}
	_, err = store.PutCACert(ctx, string(ca.EncodeCertPEM(cert)), keyID)
	return err
}

// stateFiles are the PEM files the local hub keeps in its state folder.
type stateFiles struct {
	caCert, serverCert, serverKey string
}

// authority is the hub CA with its KMS-held key.
func authority(ctx context.Context, store *dynamo.CA, c *kms.Client, keyID string, now func() time.Time) (*ca.Authority, string, error) {
	pemText, err := store.CACert(ctx)
	if err != nil {
		return nil, "", err
	}
	caCert, err := ca.ParseCertPEM(pemText)
	if err != nil {
		return nil, "", err
	}
	signer, err := kmssign.New(ctx, c, keyID)
	if err != nil {
		return nil, "", err
	}
	return &ca.Authority{Cert: caCert, Signer: signer, Rand: rand.Reader, Now: now}, pemText, nil
}

// ensureServerFiles writes the CA certificate and (re)issues the server certificate.
func ensureServerFiles(dir string, auth *ca.Authority, caPEM string, now time.Time) (stateFiles, error) {
	f := stateFiles{caCert: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server.key")}
	if err := atomicfile.Write(f.caCert, []byte(caPEM), 0o644); err != nil {
		return f, err
	}
	return f, profile.EnsureCert(f.serverCert, f.serverKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueServer([]string{"127.0.0.1", "localhost", "::1"}, pub, profile.CertValidity)
	})
}

// ensureAdminKey reuses the admin key of the previous run when it is still
// valid for the tenant, else bootstraps the tenant with a new one.
func ensureAdminKey(ctx context.Context, tenants *hub.Tenants, tenant, prev string) (string, error) {
	if prev != "" {
		ok, err := tenants.AdminKeyValid(ctx, tenant, prev)
		if err != nil {
			return "", err
		}
		if ok {
			return prev, nil
		}
	}
	return tenants.Bootstrap(ctx, tenant)
}

func loadPool(caPath string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no certificate in %s", caPath)
	}
	return pool, nil
}
