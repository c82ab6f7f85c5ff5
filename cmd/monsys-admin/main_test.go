package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/dynamo"
	"github.com/monsys/hub/internal/emu/emutest"
	"github.com/monsys/hub/internal/localhub"
	"github.com/monsys/hub/internal/localkms"
	"github.com/monsys/hub/internal/wire"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// env is a deployed hub's backend as bootstrap finds it: tables, a CA key,
// a versioned truststore bucket.
func env(t *testing.T) (Options, Clients) {
	t.Helper()
	ctx := t.Context()
	srv, err := localkms.Open("")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	k := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: wire.StaticCredentials()})
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	prefix := emutest.UniquePrefix(t)
	ddb := emutest.DynamoForTest(t)
	if err := dynamo.CreateTables(ctx, ddb, dynamo.TablesWithPrefix(prefix)); err != nil {
		t.Fatal(err)
	}
	s3c := emutest.S3ForTest(t)
	bucket := emutest.UniqueBucket(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	return Options{CAKeyID: aws.ToString(key.KeyMetadata.Arn), Tenant: "acme", TablePrefix: prefix, TruststoreBucket: bucket,
			URL: "https://hub.example.com", Dir: t.TempDir()},
		Clients{DynamoDB: ddb, KMS: k, S3: s3c}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	o, c := env(t)

	first, err := Bootstrap(ctx, o, c)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CACreated || first.TruststoreVersion == "" {
		t.Fatalf("first run: %+v", first)
	}
	var info localhub.Info
	b, err := os.ReadFile(filepath.Join(o.Dir, "hub.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if k, err := cred.Classify(info.AdminKey); err != nil || k != cred.KindAdmin {
		t.Fatalf("hub.json admin key is not an admin key: %v", err)
	}
	if st, _ := os.Stat(first.HubJSON); st.Mode().Perm() != 0o600 {
		t.Errorf("hub.json mode %v, want 0600", st.Mode().Perm())
	}
	caPEM, _ := os.ReadFile(info.CACert)
	caCert, err := ca.ParseCertPEM(string(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Cert: caCert}
	for path, role := range map[string]ca.Role{info.EnrollCert: ca.RoleEnrollment, info.OperatorCert: ca.RoleOperator} {
		pemText, _ := os.ReadFile(path)
		id, err := auth.Identify(string(pemText))
		if err != nil || id.Role != role || id.Tenant != "acme" {
			t.Errorf("%s: %+v, %v; want role %v of acme", path, id, err, role)
		}
	}
	obj, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.TruststoreBucket), Key: aws.String(TruststoreKey),
		VersionId: aws.String(first.TruststoreVersion)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()

	t.Run("ok/second-run-keeps-the-ca", func(t *testing.T) {
		o2 := o
		o2.Dir = t.TempDir()
		second, err := Bootstrap(ctx, o2, c)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadFile(second.CACert)
		if second.CACreated || string(again) != string(caPEM) {
			t.Fatal("a second bootstrap replaced the CA")
		}
	})
	t.Run("fail/other-ca-key", func(t *testing.T) {
		k, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
		if err != nil {
			t.Fatal(err)
		}
		o3 := o
		o3.CAKeyID, o3.Dir = aws.ToString(k.KeyMetadata.Arn), t.TempDir()
		if _, err := Bootstrap(ctx, o3, c); err == nil {
			t.Fatal("bootstrapped with a key that is not the stored CA's")
		}
	})
	t.Run("fail/bad-tenant", func(t *testing.T) {
		o4 := o
		o4.Tenant = "Not_A_Tenant"
		if _, err := Bootstrap(ctx, o4, c); err == nil {
			t.Fatal("accepted a bad tenant id")
		}
	})
}
