package local

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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
)

// CAKeyAlias names the hub CA's key in the local KMS.
const CAKeyAlias = "alias/monsys-hub-ca"

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	clientValidity = 365 * 24 * time.Hour
	renewBefore    = 7 * 24 * time.Hour
)

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
func ensureCACert(ctx context.Context, store *dynamo.Store, c *kms.Client, keyID string, now time.Time) error {
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

// TenantFiles are a tenant's client certificates and keys.
type TenantFiles struct {
	EnrollCert, EnrollKey, OperatorCert, OperatorKey string
}

// authority is the hub CA with its KMS-held key.
func authority(ctx context.Context, store *dynamo.Store, c *kms.Client, keyID string, now func() time.Time) (*ca.Authority, string, error) {
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
	return f, ensureIssued(f.serverCert, f.serverKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueServer([]string{"127.0.0.1", "localhost", "::1"}, pub, clientValidity)
	})
}

// EnsureTenantFiles (re)issues a tenant's enrollment and operator certificates.
func EnsureTenantFiles(dir, tenant string, auth *ca.Authority, now time.Time) (TenantFiles, error) {
	f := TenantFiles{EnrollCert: filepath.Join(dir, tenant+"-enroll.pem"), EnrollKey: filepath.Join(dir, tenant+"-enroll.key"),
		OperatorCert: filepath.Join(dir, tenant+"-operator.pem"), OperatorKey: filepath.Join(dir, tenant+"-operator.key")}
	if err := ensureIssued(f.EnrollCert, f.EnrollKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueEnrollment(tenant, pub, clientValidity)
	}); err != nil {
		return f, err
	}
	return f, ensureIssued(f.OperatorCert, f.OperatorKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueOperator(tenant, pub, clientValidity)
	})
}

// ensureIssued issues a certificate with a fresh P-256 key unless the files
// hold a current one from this CA.
func ensureIssued(certPath, keyPath string, caCert *x509.Certificate, now time.Time, issue func(pub any) (*x509.Certificate, error)) error {
	if current(certPath, keyPath, caCert, now) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cert, err := issue(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("issue %s: %w", filepath.Base(certPath), err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, ca.EncodeCertPEM(cert), 0o644)
}

// current reports whether a certificate file is usable: present with its key,
// issued by this CA and not close to expiry.
func current(certPath, keyPath string, caCert *x509.Certificate, now time.Time) bool {
	b, err := os.ReadFile(certPath)
	if err != nil {
		return false
	}
	if _, err := os.Stat(keyPath); err != nil {
		return false
	}
	c, err := ca.ParseCertPEM(string(b))
	if err != nil || c.CheckSignatureFrom(caCert) != nil {
		return false
	}
	return now.Add(renewBefore).Before(c.NotAfter)
}

// ensureAdminKey reuses the admin key of the previous run when it is still
// valid for the tenant, else bootstraps the tenant with a new one.
func ensureAdminKey(ctx context.Context, svc *hub.Service, tenant, prev string) (string, error) {
	if prev != "" {
		ok, err := svc.AdminKeyValid(ctx, tenant, prev)
		if err != nil {
			return "", err
		}
		if ok {
			return prev, nil
		}
	}
	return svc.Bootstrap(ctx, tenant)
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
