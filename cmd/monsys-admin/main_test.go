package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/local/kmsserver"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

// env is a deployed hub's backend as bootstrap finds it: tables, a CA key,
// a versioned truststore bucket.
func env(t *testing.T) (Options, Clients) {
	t.Helper()
	o, c, _ := envWithKMS(t)
	return o, c
}

// envWithKMS is env and the local KMS's address.
func envWithKMS(t *testing.T) (Options, Clients, string) {
	t.Helper()
	ctx := t.Context()
	srv, err := kmsserver.Open("")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	k := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: app.StaticCredentials()})
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	prefix := emutest.UniquePrefix(t)
	db := emutest.DynamoForTest(t)
	if err := dynamo.CreateTables(ctx, db, dynamo.TablesWithPrefix(prefix)); err != nil {
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
		Clients{DynamoDB: emutest.Data(t, db), KMS: k, S3: s3c}, hs.URL
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
	var info profile.Info
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
	t.Run("fail/no-table-prefix", func(t *testing.T) {
		o5 := o
		o5.TablePrefix, o5.Dir = "", t.TempDir()
		if _, err := Bootstrap(ctx, o5, c); err == nil || !strings.Contains(err.Error(), "--table-prefix") {
			t.Fatalf("err %v, want --table-prefix required", err)
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

// deployScriptBootstrap returns the environment assignments and the
// arguments of the monsys-admin bootstrap command in localstack/deploy.sh,
// with its shell variables and $(out X) stack outputs replaced from vars.
func deployScriptBootstrap(t *testing.T, vars map[string]string) (env []string, args []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "localstack", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(string(b), "\\\n", " ")
	var line string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "monsys-admin bootstrap") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("localstack/deploy.sh does not run monsys-admin bootstrap")
	}
	subst := regexp.MustCompile(`\$\(out ([A-Za-z]+)\)|\$\{?([a-z_]+)\}?`)
	var words []string
	for _, m := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(line, -1) {
		w := subst.ReplaceAllStringFunc(strings.Trim(m, `"`), func(v string) string {
			g := subst.FindStringSubmatch(v)
			name := g[1] + g[2]
			val, ok := vars[name]
			if !ok {
				t.Fatalf("localstack/deploy.sh: the bootstrap line uses %s, which the test does not know", v)
			}
			return val
		})
		words = append(words, w)
	}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		env = append(env, words[i])
	}
	rest := strings.Join(words[i:], " ")
	_, after, ok := strings.Cut(rest, "monsys-admin bootstrap")
	if !ok {
		t.Fatalf("cannot read the bootstrap command of %q", line)
	}
	return env, append([]string{"bootstrap"}, strings.Fields(after)...)
}

// The bootstrap of localstack/deploy.sh, run as the script runs it: every
// service through one AWS_ENDPOINT_URL on localhost (here MinIO for S3,
// the tables and KMS through their own endpoint variables, as LocalStack
// serves them all on one port). The truststore upload must reach the bucket
// by path: the virtual-hosted <bucket>.localhost does not exist.
func TestBootstrapAsDeployScript(t *testing.T) {
	o, c, kmsURL := envWithKMS(t)
	s3URL, user, pass := emutest.S3EndpointForTest(t)
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env, args := deployScriptBootstrap(t, map[string]string{"HubCAKeyArn": o.CAKeyID, "TablePrefix": o.TablePrefix,
		"TruststoreBucketName": o.TruststoreBucket, "tenant": "demo", "url": "http://api.example:4566/live",
		"LOCAL_DIR": dir})
	var endpoint string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "AWS_ENDPOINT_URL" {
			endpoint = v
		}
	}
	lu, err := url.Parse(endpoint)
	if err != nil || lu.Hostname() != "localhost" {
		t.Fatalf("deploy.sh sets AWS_ENDPOINT_URL=%q, want LocalStack on http://localhost:<port>", endpoint)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":          "http://localhost:" + u.Port(), // LocalStack's address, MinIO's port
		"AWS_ENDPOINT_URL_DYNAMODB": emutest.DynamoEndpointForTest(t),
		"AWS_ENDPOINT_URL_KMS":      kmsURL,
		"AWS_ACCESS_KEY_ID":         user, "AWS_SECRET_ACCESS_KEY": pass, "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"), "AWS_ENDPOINT_URL_S3": "",
	} {
		t.Setenv(k, v)
	}
	for i, a := range args {
		if i > 0 && args[i-1] == "--out" {
			args[i] = filepath.Join(dir, filepath.Base(a))
		}
	}
	// As the script runs it, and without --s3-path-style (the default
	// follows AWS_ENDPOINT_URL).
	variants := map[string][]string{"ok/as-deploy-sh": args,
		"ok/path-style-by-default": slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--s3-path-style" })}
	for name, args := range variants {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("monsys-admin %v: %v\n%s", args, err, stderr.String())
			}
			m := regexp.MustCompile(`truststore +s3://(\S+)/truststore\.pem version (\S+)`).FindStringSubmatch(stdout.String())
			if m == nil || m[1] != o.TruststoreBucket {
				t.Fatalf("no truststore upload reported:\n%s", stdout.String())
			}
			obj, err := c.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(o.TruststoreBucket), Key: aws.String(TruststoreKey),
				VersionId: aws.String(m[2])})
			if err != nil {
				t.Fatalf("the reported truststore version is not in the bucket: %v", err)
			}
			obj.Body.Close()
		})
	}
}

// With the log's key and origin (and the witnesses), the bootstrap prints
// the log's verifier key and writes it, and the witnesses' keys, into
// hub.json (SPEC 1.1, 10).
func TestBootstrapLogKeys(t *testing.T) {
	ctx := t.Context()
	o, c := env(t)
	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistEdwards25519, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	pubOut, err := c.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: key.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubOut.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "hub.example.com/monsys"
	want, err := tlog.VerifierKey(origin, pub.(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := torchwood.NewCosignatureSigner("witness.example", tlogtest.NewKey(9).Priv)
	if err != nil {
		t.Fatal(err)
	}
	wvkey := ws.Verifier().String()

	t.Run("ok/log-and-witness-keys", func(t *testing.T) {
		o := o
		o.Dir, o.LogKeyID, o.LogOrigin, o.Witnesses = t.TempDir(), aws.ToString(key.KeyMetadata.Arn), origin, wvkey+" https://witness.example/w"
		res, err := Bootstrap(ctx, o, c)
		if err != nil {
			t.Fatal(err)
		}
		info, err := profile.Read(res.HubJSON)
		if err != nil {
			t.Fatal(err)
		}
		if info.LogVKey != want || !slices.Equal(info.WitnessVKeys, []string{wvkey}) {
			t.Fatalf("hub.json log_vkey %q witness_vkeys %v; want %q [%s]", info.LogVKey, info.WitnessVKeys, want, wvkey)
		}
	})
	t.Run("ok/without-log-flags", func(t *testing.T) {
		o := o
		o.Dir = t.TempDir()
		res, err := Bootstrap(ctx, o, c)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := profile.Read(res.HubJSON); info.LogVKey != "" || info.WitnessVKeys != nil {
			t.Fatalf("hub.json names log keys nobody gave: %+v", info)
		}
	})
	for name, mod := range map[string]func(*Options){
		"fail/key-without-origin": func(o *Options) { o.LogKeyID = aws.ToString(key.KeyMetadata.Arn) },
		"fail/origin-without-key": func(o *Options) { o.LogOrigin = origin },
		"fail/not-ed25519":        func(o *Options) { o.LogKeyID, o.LogOrigin = o.CAKeyID, origin },
		"fail/bad-origin":         func(o *Options) { o.LogKeyID, o.LogOrigin = aws.ToString(key.KeyMetadata.Arn), "hub example" },
		"fail/bad-witnesses":      func(o *Options) { o.Witnesses = "nonsense" },
	} {
		t.Run(name, func(t *testing.T) {
			o := o
			o.Dir = filepath.Join(t.TempDir(), "out")
			mod(&o)
			if _, err := Bootstrap(ctx, o, c); err == nil {
				t.Fatal("bootstrapped")
			}
			if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
				t.Errorf("a refused bootstrap wrote %s (%v)", o.Dir, err)
			}
		})
	}
}
