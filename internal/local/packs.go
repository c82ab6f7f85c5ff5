package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/tlog"
)

// WrapKeyAlias names the symmetric key of kms-envelope mode in the local KMS.
const WrapKeyAlias = "alias/monsys-pack-wrap"

// startS3 starts (or reuses) S3 and creates the packs and log buckets with
// Object Lock.
func (h *Hub) startS3(ctx context.Context) error {
	cfg := h.cfg
	endpoint, user, pass := cfg.S3Endpoint, cfg.S3User, cfg.S3Password
	if endpoint == "" {
		m, err := emu.StartMinIO(ctx, emu.MinIOOptions{Dir: filepath.Join(cfg.Dir, "s3")})
		if err != nil {
			return fmt.Errorf("local hub: %w", err)
		}
		h.minio = m
		endpoint = m.Endpoint()
		user, pass = m.Credentials()
	}
	c, err := emu.S3Client(ctx, endpoint, user, pass)
	if err != nil {
		return err
	}
	h.S3 = c
	for _, b := range []string{cfg.Bucket, cfg.LogBucket} {
		if err := ensureBucket(ctx, c, b); err != nil {
			return err
		}
	}
	return nil
}

// startPacks adds the evidence packs to the core, with builds in
// goroutines, over the packs bucket.
func (h *Hub) startPacks(ctx context.Context) error {
	cfg := h.cfg
	c := h.S3
	var err error
	wrapKey := ""
	if cfg.SigningMode == kmssign.ModeKMSEnvelope {
		if wrapKey, err = ensureKey(ctx, h.KMS, WrapKeyAlias, kmstypes.KeySpecSymmetricDefault, kmstypes.KeyUsageTypeEncryptDecrypt); err != nil {
			return err
		}
	}
	vault, err := kmssign.NewVault(cfg.SigningMode, h.KMS, wrapKey)
	if err != nil {
		return err
	}
	if cfg.WrapVault != nil {
		vault = cfg.WrapVault(vault)
	}
	var retention time.Duration
	if cfg.RetentionDays > 0 {
		retention = time.Duration(cfg.RetentionDays) * 24 * time.Hour
	}
	var s3api s3store.API = c
	if cfg.WrapS3 != nil {
		s3api = cfg.WrapS3(c)
	}
	objects, err := s3store.NewWithAPI(s3api, s3.NewPresignClient(c), s3store.Config{Bucket: cfg.Bucket, Retention: retention, Now: cfg.Clock.Now})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tmp"), 0o700); err != nil {
		return err
	}
	h.builds = &builds{log: cfg.Log}
	err = h.Core.AddPacks(app.PackPorts{Vault: vault, Objects: objects, Starter: h.builds},
		hub.PackConfig{TempDir: filepath.Join(cfg.Dir, "tmp"), BuildLease: buildLease, HotDays: cfg.HotDays})
	if err != nil {
		return err
	}
	h.builds.packs, h.builds.archive = h.Core.Packs, h.Core.Archive
	// The tenant's first signing key is made at bootstrap (and lazily by
	// the first pack elsewhere).
	if _, err := h.Core.Keys.Ensure(ctx, cfg.TenantID); err != nil {
		return fmt.Errorf("local hub: signing key of %s: %w", cfg.TenantID, err)
	}
	return nil
}

// startLogView serves the transparency log's bucket (created with Object
// Lock by startS3, as template.yaml does) through GET /log/... (the
// logview function in AWS), reading it as that function does.
func (h *Hub) startLogView(context.Context) error {
	tiles, err := s3store.NewTiles(h.S3, s3store.TilesConfig{Bucket: h.cfg.LogBucket})
	if err != nil {
		return err
	}
	return h.Core.AddLogView(tlog.Reader{Tiles: tiles, Checkpoints: tiles})
}

// buildLease is how long a build holds its tenant's lease (the core's
// default), and so how long a build in a goroutine may take.
const buildLease = 15 * time.Minute

// builds runs pack builds in goroutines of this process: the same BuildPack
// the pack function runs in AWS. packs is set once the packs are built
// (they start their builds here).
type builds struct {
	packs   *hub.Packs
	archive *hub.Archive
	log     *slog.Logger
	wg      sync.WaitGroup
}

var _ hub.AsyncStarter = (*builds)(nil)

// StartBuild implements hub.BuildStarter.
func (b *builds) StartBuild(_ context.Context, tenantID, packID string) error {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), buildLease)
		defer cancel()
		if err := b.packs.BuildPack(ctx, tenantID, packID); err != nil {
			b.log.Error("build pack", "tenant_id", tenantID, "pack_id", packID, "err", err)
		}
	}()
	return nil
}

// StartExpiry implements hub.ExpiryStarter: the part runs in a goroutine,
// as the pack function's expire event does in AWS.
func (b *builds) StartExpiry(_ context.Context, t hub.ExpiryTask) error {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), buildLease)
		defer cancel()
		if err := b.archive.Expire(ctx, t); err != nil {
			b.log.Error("expire part", "tenant_id", t.TenantID, "pack_id", t.PackID, "part", t.Part.Name(), "err", err)
		}
	}()
	return nil
}

// wait blocks until every started build and expiry part has ended.
func (b *builds) wait() { b.wg.Wait() }

// ensureBucket creates a bucket (packs, log) with Object Lock (which also turns
// versioning on); an existing bucket of ours is fine.
func ensureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	out, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil || out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return fmt.Errorf("bucket %s has no Object Lock: %v", bucket, err)
	}
	return nil
}

// ensureKey finds a KMS key by alias, creating it on first start.
func ensureKey(ctx context.Context, c *kms.Client, alias string, spec kmstypes.KeySpec, usage kmstypes.KeyUsageType) (string, error) {
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err == nil {
		return aws.ToString(out.KeyMetadata.KeyId), nil
	}
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		return "", fmt.Errorf("find key %s: %w", alias, err)
	}
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage, Description: aws.String("monsys " + alias + " (local)")})
	if err != nil {
		return "", fmt.Errorf("create key %s: %w", alias, err)
	}
	id := aws.ToString(k.KeyMetadata.KeyId)
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
		return "", fmt.Errorf("alias key %s: %w", alias, err)
	}
	return id, nil
}
