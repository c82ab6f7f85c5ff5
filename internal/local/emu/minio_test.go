package emu_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

func skipWithoutMinIO(t *testing.T) {
	t.Helper()
	if os.Getenv(emutest.EnvSkipMinIO) == "1" {
		t.Skipf("%s=1: MinIO-backed test skipped", emutest.EnvSkipMinIO)
	}
}

// TestMinIOObjectLock is a smoke test of the harness: a COMPLIANCE-locked
// version cannot be deleted, before or after a restart. AWS answers such a
// delete with 403 AccessDenied; MinIO answers 400 InvalidRequest "Object is
// WORM protected", so both count as denied (see docs/emulators.md).
func TestMinIOObjectLock(t *testing.T) {
	skipWithoutMinIO(t)
	ctx := t.Context()
	m, err := emu.StartMinIO(ctx, emu.MinIOOptions{Dir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	user, pass := m.Credentials()
	c, err := emu.S3Client(ctx, m.Endpoint(), user, pass)
	if err != nil {
		t.Fatal(err)
	}

	bucket := emutest.UniqueBucket(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     aws.String(bucket),
		ObjectLockEnabledForBucket: aws.Bool(true),
	}); err != nil {
		t.Fatalf("CreateBucket(%q, object lock): %v", bucket, err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(bucket),
		Key:                       aws.String("packs/p1.tar.gz"),
		Body:                      strings.NewReader("pack bytes"),
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(time.Now().Add(24 * time.Hour)),
	})
	if err != nil {
		t.Fatalf("PutObject(compliance): %v", err)
	}
	if aws.ToString(put.VersionId) == "" {
		t.Fatal("PutObject on a locked bucket returned no VersionId")
	}

	assertDeleteDenied := func(when string) {
		t.Helper()
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket:    aws.String(bucket),
			Key:       aws.String("packs/p1.tar.gz"),
			VersionId: put.VersionId,
		})
		if !lockDenied(err) {
			t.Fatalf("DeleteObject(locked version) %s = %v, want AccessDenied or InvalidRequest (WORM protected)", when, err)
		}
		t.Logf("DeleteObject(locked version) %s: %v", when, err)
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket:    aws.String(bucket),
			Key:       aws.String("packs/p1.tar.gz"),
			VersionId: put.VersionId,
		}); err != nil {
			t.Fatalf("HeadObject(locked version) after denied delete %s: %v", when, err)
		}
	}
	assertDeleteDenied("before restart")

	endpoint := m.Endpoint()
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Endpoint() != endpoint {
		t.Errorf("Endpoint() after Restart = %q, want %q", m.Endpoint(), endpoint)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("packs/p1.tar.gz")})
	if err != nil {
		t.Fatalf("GetObject after Restart: %v", err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || string(body) != "pack bytes" {
		t.Fatalf("GetObject after Restart = %q, %v; want %q", body, err, "pack bytes")
	}
	assertDeleteDenied("after restart")

	for i := range 2 {
		if err := m.Stop(); err != nil {
			t.Fatalf("Stop() #%d = %v", i+1, err)
		}
	}
}

// lockDenied reports whether err is S3's refusal to delete a locked version:
// AccessDenied on AWS, InvalidRequest "...WORM protected..." on MinIO.
func lockDenied(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "AccessDenied":
		return true
	case "InvalidRequest":
		return strings.Contains(apiErr.ErrorMessage(), "WORM protected")
	}
	return false
}

func TestMinIOTempDirRemovedOnStop(t *testing.T) {
	skipWithoutMinIO(t)
	m, err := emu.StartMinIO(t.Context(), emu.MinIOOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := m.Dir()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary dir %q after Stop: %v, want it gone", dir, err)
	}
}

func TestSharedS3(t *testing.T) {
	ctx := t.Context()
	c := emutest.S3ForTest(t)
	bucket := emutest.UniqueBucket(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", bucket, err)
	}
	want := []byte("hello")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(want)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if got, err := io.ReadAll(out.Body); err != nil || !bytes.Equal(got, want) {
		t.Errorf("GetObject = %q, %v; want %q", got, err, want)
	}
}

func TestEnsureMinIO(t *testing.T) {
	root, err := emu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "ensure-minio.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte(emu.MinIOModuleVersion)) {
		t.Errorf("scripts/ensure-minio.sh does not pin MinIOModuleVersion %s", emu.MinIOModuleVersion)
	}

	tests := []struct {
		name    string
		bin     string // MONSYS_MINIO_BIN
		wantErr bool
	}{
		{name: "ok/override", bin: os.Args[0]},
		{name: "fail/override missing", bin: filepath.Join(t.TempDir(), "nope"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MONSYS_MINIO_BIN", tc.bin)
			got, err := emu.EnsureMinIO(t.Context(), root)
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("EnsureMinIO() = %q, want an error", got)
			case !tc.wantErr && err != nil:
				t.Fatal(err)
			case !tc.wantErr && got != tc.bin:
				t.Errorf("EnsureMinIO() = %q, want %q", got, tc.bin)
			}
		})
	}
}
