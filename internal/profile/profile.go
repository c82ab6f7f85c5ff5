// Package profile reads and writes a hub profile: hub.json (SPEC 1.1, 11),
// what an operator's tools read to reach a hub, and beside it the tenant's
// enrollment and operator certificates with their keys. The local hub and
// monsys-admin bootstrap both write one; internal/client reads it.
package profile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/ca"
)

const (
	// CertValidity is how long the certificates issued here are valid.
	CertValidity = 365 * 24 * time.Hour
	// renewBefore is how close to its end a certificate is issued anew.
	renewBefore = 7 * 24 * time.Hour
)

// Info is hub.json.
type Info struct {
	URL          string `json:"url"`
	TenantID     string `json:"tenant_id"`
	AdminKey     string `json:"admin_key"`
	CACert       string `json:"ca_cert"`
	EnrollCert   string `json:"enroll_cert"`
	EnrollKey    string `json:"enroll_key"`
	OperatorCert string `json:"operator_cert"`
	OperatorKey  string `json:"operator_key"`
	// LogVKey and WitnessVKeys are the transparency log's verifier key and
	// its witnesses' (SPEC 1.1, 10): what verifiers take as --log-key and
	// --witness-key.
	LogVKey      string   `json:"log_vkey,omitempty"`
	WitnessVKeys []string `json:"witness_vkeys,omitempty"`
}

// Write writes info to path as indented JSON, mode 0600 (it holds the admin
// key), replacing any file there in one step.
func Write(path string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: encode %s: %w", path, err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// BackendFile is the file beside the local hub's hub.json that says where its
// AWS stand-ins listen: what "monsys-admin --local DIR" talks to, as it talks
// to DynamoDB and KMS on AWS.
const BackendFile = "backend.json"

// Backend is the local hub's backend.json.
type Backend struct {
	DynamoDBEndpoint string `json:"dynamodb_endpoint"`
	KMSEndpoint      string `json:"kms_endpoint"`
	Region           string `json:"region"`
	TablePrefix      string `json:"table_prefix"`
	CAKeyID          string `json:"ca_key_id"`
}

// WriteBackend writes backend.json (0600).
func WriteBackend(path string, b Backend) error {
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: encode %s: %w", path, err)
	}
	return atomicfile.Write(path, append(raw, '\n'), 0o600)
}

// ReadBackend reads backend.json.
func ReadBackend(path string) (Backend, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Backend{}, fmt.Errorf("profile: %w (is it a local hub's state folder?)", err)
	}
	var b Backend
	if err := json.Unmarshal(raw, &b); err != nil || b.DynamoDBEndpoint == "" || b.KMSEndpoint == "" || b.CAKeyID == "" {
		return Backend{}, fmt.Errorf("profile: %s is not a local hub's backend.json", path)
	}
	return b, nil
}

// maxProfile bounds what Read reads: hub.json is a few hundred bytes.
const maxProfile = 64 << 10

// Read reads hub.json at path. Members it does not know are ignored (SPEC
// 1.1 adds log_vkey and witness_vkeys); a relative certificate or key path
// is taken relative to the file's folder, as SPEC 1.1 writes them absolute.
func Read(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProfile+1))
	if err != nil {
		return Info{}, fmt.Errorf("profile: read %s: %w", path, err)
	}
	if len(b) > maxProfile {
		return Info{}, fmt.Errorf("profile: %s is over %d bytes, not a hub.json", path, maxProfile)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("profile: %s is not a hub.json: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&info.CACert, &info.EnrollCert, &info.EnrollKey, &info.OperatorCert, &info.OperatorKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return info, nil
}

// TenantFiles are a tenant's client certificates and keys.
type TenantFiles struct {
	EnrollCert, EnrollKey, OperatorCert, OperatorKey string
}

// EnsureTenantFiles (re)issues a tenant's enrollment and operator
// certificates in dir: <tenant>-enroll.pem and .key, <tenant>-operator.pem
// and .key.
func EnsureTenantFiles(dir, tenant string, auth *ca.Authority, now time.Time) (TenantFiles, error) {
	f := TenantFiles{EnrollCert: filepath.Join(dir, tenant+"-enroll.pem"), EnrollKey: filepath.Join(dir, tenant+"-enroll.key"),
		OperatorCert: filepath.Join(dir, tenant+"-operator.pem"), OperatorKey: filepath.Join(dir, tenant+"-operator.key")}
	if err := EnsureCert(f.EnrollCert, f.EnrollKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueEnrollment(tenant, pub, CertValidity)
	}); err != nil {
		return f, err
	}
	return f, EnsureCert(f.OperatorCert, f.OperatorKey, auth.Cert, now, func(pub any) (*x509.Certificate, error) {
		return auth.IssueOperator(tenant, pub, CertValidity)
	})
}

// EnsureCert issues a certificate with a fresh P-256 key unless the files
// hold a current one from this CA: present with its key, issued by caCert and
// more than a week from its end.
func EnsureCert(certPath, keyPath string, caCert *x509.Certificate, now time.Time, issue func(pub any) (*x509.Certificate, error)) error {
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
