package s3store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// TestTilesContract runs the log stores' contract with tiles and the
// checkpoint on MinIO, in a bucket with Object Lock (head and pool in memory).
func TestTilesContract(t *testing.T) {
	tlogtest.RunContract(t, func(t *testing.T) tlog.Stores {
		c, bucket := lockedBucket(t)
		tiles, err := s3store.NewTiles(c, s3store.TilesConfig{Bucket: bucket, Prefix: "log/", Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		st := tlogtest.NewMemory().Stores()
		st.Tiles, st.Checkpoints = tiles, tiles
		return st
	})
}

// TestTilesLocked: tiles are kept under COMPLIANCE retention and cannot be
// deleted; the checkpoint is not locked, so that it can be replaced.
func TestTilesLocked(t *testing.T) {
	c, bucket := lockedBucket(t)
	tiles, err := s3store.NewTiles(c, s3store.TilesConfig{Bucket: bucket, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := tiles.WriteTile(t.Context(), "tile/0/000.p/1", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("tile/0/000.p/1")})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeCompliance {
		t.Fatalf("tile lock mode %q, want COMPLIANCE", head.ObjectLockMode)
	}
	if _, err := c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("tile/0/000.p/1"), VersionId: head.VersionId}); err == nil {
		t.Fatal("deleted a locked tile")
	}
	if err := tiles.WriteCheckpoint(t.Context(), []byte("a\n"), ""); err != nil {
		t.Fatal(err)
	}
	if _, v, err := tiles.ReadCheckpoint(t.Context()); err != nil || tiles.WriteCheckpoint(t.Context(), []byte("b\n"), v) != nil {
		t.Fatalf("replacing the checkpoint: %v", err)
	}
}
