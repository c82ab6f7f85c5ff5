package app_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/logtest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/witness"
)

// The integrity function as deployed (app.Integrity over DynamoDB, S3, the
// KMS log key and a real litewitness) publishes what register, rotate and
// pack submitted; a hub whose log is rewound (its table and bucket
// restored from a backup, here: empty again) cannot get the witness to
// cosign another history: the run fails and says which witness refused.
func TestIntegrityPublishesAndRewindIsRefused(t *testing.T) {
	ctx := t.Context()
	out := &logtest.Buffer{}
	defer app.SetOutput(out)()
	getenv, store := deployedEnv(t)
	bootstrap(t, store)
	r := newLogRig(t, getenv)
	lw, s3c, db := r.witness, r.s3, r.db

	// A stack's log: its own table and bucket.
	stack := func(t *testing.T) func(string) string {
		t.Helper()
		table, bucket := r.newLogStore(t)
		env := map[string]string{app.EnvTableLog: table, app.EnvLogBucket: bucket, app.EnvS3PathStyle: "true",
			app.EnvWitnesses: lw.VKey() + " " + lw.URL()}
		return func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return getenv(k)
		}
	}
	submit := func(t *testing.T, env func(string) string, entries ...tlog.Entry) {
		t.Helper()
		sub, err := app.LogSubmitterFromEnv(env, emutest.Data(t, db))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Submit(ctx, entries...); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, env func(string) string) error {
		t.Helper()
		integrity, err := app.Integrity(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		_, err = integrity(ctx, json.RawMessage(`{}`))
		return err
	}

	t.Run("ok/no-witnesses-pools-and-runs", func(t *testing.T) {
		// A stack deployed with the default (no witnesses), or on LocalStack
		// (no Ed25519 log key): the cycle runs, nothing is published.
		base := stack(t)
		bare := func(k string) string {
			if k == app.EnvWitnesses || k == app.EnvLogKeyID {
				return ""
			}
			return base(k)
		}
		submit(t, bare, tlog.Pack("acme", "pk_1", strings.Repeat("e", 64), "2026-05-01T08:03:14Z"))
		if err := run(t, bare); err != nil {
			t.Fatalf("integrity without witnesses: %v", err)
		}
		_, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bare(app.EnvLogBucket)), Key: aws.String("checkpoint")})
		if err == nil {
			t.Fatal("a checkpoint was published without witnesses")
		}
	})

	real := stack(t)
	submit(t, real, tlog.Pack("acme", "pk_1", strings.Repeat("a", 64), "2026-05-01T08:03:14Z"),
		tlog.Pack("acme", "pk_2", strings.Repeat("b", 64), "2026-05-02T08:03:14Z"))
	if err := run(t, real); err != nil {
		t.Fatalf("the first cycle: %v", err)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(real(app.EnvLogBucket)), Key: aws.String("checkpoint")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	ws, q, err := witness.Parse(real(app.EnvWitnesses), "")
	if err != nil {
		t.Fatal(err)
	}
	set, err := witness.New(ws, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Quorum(cp); err != nil {
		t.Fatalf("the checkpoint in S3 is not cosigned by the witness: %v\n%s", err, cp)
	}

	t.Run("fail/rewound-log", func(t *testing.T) {
		rewound := stack(t) // the backup from before: nothing logged
		submit(t, rewound, tlog.Pack("acme", "pk_1", strings.Repeat("c", 64), "2026-04-30T08:03:14Z"))
		err := run(t, rewound)
		if !errors.Is(err, tlog.ErrNotCosigned) || !strings.Contains(err.Error(), "w1.monsys.test") {
			t.Fatalf("integrity on a rewound log: %v; want a refusal naming witness w1.monsys.test", err)
		}
	})
	t.Run("ok/real-log-goes-on", func(t *testing.T) {
		submit(t, real, tlog.Pack("acme", "pk_3", strings.Repeat("d", 64), "2026-05-03T08:03:14Z"))
		if err := run(t, real); err != nil {
			t.Fatal(err)
		}
	})
}

// logRig is what a test of the deployed log needs: the stack's log
// settings (deployedEnv's), its key in the local KMS and that key's
// verifier key, a real litewitness that knows the log, and the emulators'
// clients (S3 also through the AWS_* variables the functions read).
type logRig struct {
	ls      app.LogSettings
	kms     *kms.Client
	vkey    string
	witness *emu.Litewitness
	s3      *s3.Client
	db      *dynamodb.Client
}

func newLogRig(t *testing.T, getenv func(string) string) logRig {
	t.Helper()
	ls, err := app.LogFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	k := kmsFromEnv(t)
	signer, err := kmssign.New(t.Context(), k, ls.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.VerifierKey(ls.Origin, signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	lw := emutest.LitewitnessForTest(t, "w1.monsys.test", ls.Origin, vkey)
	s3ep, user, pass := emutest.S3EndpointForTest(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", s3ep)
	t.Setenv("AWS_ACCESS_KEY_ID", user)
	t.Setenv("AWS_SECRET_ACCESS_KEY", pass)
	return logRig{ls: ls, kms: k, vkey: vkey, witness: lw, s3: emutest.S3ForTest(t), db: emutest.DynamoForTest(t)}
}

// newLogStore creates a log of its own: a log table and an Object Lock bucket.
func (r logRig) newLogStore(t *testing.T) (table, bucket string) {
	t.Helper()
	table, bucket = emutest.UniquePrefix(t)+"log", emutest.UniqueBucket(t)
	if err := dynamo.CreateLogTable(t.Context(), r.db, table); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	return table, bucket
}

// kmsFromEnv is a client of the local KMS deployedEnv started.
func kmsFromEnv(t *testing.T) *kms.Client {
	t.Helper()
	ep := os.Getenv("AWS_ENDPOINT_URL_KMS")
	if ep == "" {
		t.Fatal("no local KMS")
	}
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: app.StaticCredentials()})
}
