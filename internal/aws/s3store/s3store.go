// Package s3store keeps evidence packs in S3: a streamed multipart upload
// under Object Lock retention that is aborted on any failure, and presigned
// GET links.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/hub"
)

// API is the part of the S3 client the store calls.
type API interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

var _ API = (*s3.Client)(nil)

// Config configures a Store.
type Config struct {
	Bucket string
	// Retention is how long each pack is kept under COMPLIANCE-mode Object
	// Lock; 0 writes no per-object retention (the bucket default applies).
	Retention time.Duration
	// PartSize is the multipart part size, at least 5 MiB (default 8 MiB).
	PartSize int
	Now      func() time.Time
	// LinkCredentials sign presigned links instead of the client's own
	// credentials. A link dies with the credentials it is signed with, so
	// these are a role session whose expiry is known (STS AssumeRole); a
	// link is signed only with credentials that outlive it. Nil: the
	// client's credentials (static ones locally).
	LinkCredentials LinkCredentials
}

// LinkCredentials are the credentials links are signed with
// (aws.CredentialsCache over an AssumeRole provider).
type LinkCredentials interface {
	Retrieve(ctx context.Context) (aws.Credentials, error)
	Invalidate()
}

// ErrLinkLifetime reports signing credentials that would expire before the
// link they sign.
var ErrLinkLifetime = errors.New("s3store: the link's signing credentials expire before the link")

// ErrConfig reports an unusable configuration.
var ErrConfig = errors.New("s3store: bad configuration")

// Store implements hub.ObjectStore.
type Store struct {
	api     API
	presign *s3.PresignClient
	cfg     Config
}

var _ hub.ObjectStore = (*Store)(nil)

// MinPartSize is S3's smallest part (except the last).
const MinPartSize = 5 << 20

// New returns a store over client.
func New(client *s3.Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	}
	return NewWithAPI(client, s3.NewPresignClient(client), cfg)
}

// NewWithAPI is New with the upload calls going through api (tests inject faults there).
func NewWithAPI(api API, presign *s3.PresignClient, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket name", ErrConfig)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("%w: part size %d below %d", ErrConfig, cfg.PartSize, MinPartSize)
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("%w: negative retention %s", ErrConfig, cfg.Retention)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	return &Store{api: api, presign: presign, cfg: cfg}, nil
}

// Upload implements hub.ObjectStore: parts of PartSize are read from r one at
// a time (memory stays at one part), then the upload is completed. Any error
// aborts the multipart upload with a context that outlives ctx's cancellation.
func (s *Store) Upload(ctx context.Context, key string, r io.Reader) (int64, string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
		ContentType: aws.String("application/gzip"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}
	if s.cfg.Retention > 0 {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(s.cfg.Now().Add(s.cfg.Retention))
	}
	buf := make([]byte, s.cfg.PartSize)
	// Read the first part before creating the upload: a source that fails at
	// once (a signing error) leaves nothing to abort.
	n, rerr := io.ReadFull(r, buf)
	if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
		return 0, "", fmt.Errorf("s3store: read %s: %w", key, rerr)
	}
	up, err := s.api.CreateMultipartUpload(ctx, in)
	if err != nil {
		return 0, "", fmt.Errorf("s3store: create multipart upload of %s: %w", key, err)
	}
	id := up.UploadId
	abort := func(cause error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, aerr := s.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.cfg.Bucket),
			Key: aws.String(key), UploadId: id})
		if aerr != nil {
			return errors.Join(cause, fmt.Errorf("s3store: abort upload of %s: %w", key, aerr))
		}
		return cause
	}
	var parts []types.CompletedPart
	var total int64
	for num := int32(1); ; num++ {
		if num > 10000 {
			return 0, "", abort(fmt.Errorf("s3store: %s needs more than 10000 parts", key))
		}
		if n > 0 || num == 1 {
			out, err := s.api.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key),
				UploadId: id, PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)),
				ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
			if err != nil {
				return 0, "", abort(fmt.Errorf("s3store: upload part %d of %s: %w", num, key, err))
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumSHA256: out.ChecksumSHA256})
			total += int64(n)
		}
		if rerr != nil { // the source ended
			break
		}
		n, rerr = io.ReadFull(r, buf)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
			return 0, "", abort(fmt.Errorf("s3store: read %s: %w", key, rerr))
		}
		if n == 0 {
			break
		}
	}
	done, err := s.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.cfg.Bucket),
		Key: aws.String(key), UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return 0, "", abort(fmt.Errorf("s3store: complete upload of %s: %w", key, err))
	}
	return total, aws.ToString(done.VersionId), nil
}

// PresignGet implements hub.ObjectStore: a SigV4 presigned GET valid for ttl
// (at most 7 days) of one version that downloads as fileName.
func (s *Store) PresignGet(ctx context.Context, key, version, fileName string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return "", fmt.Errorf("%w: link lifetime %s", ErrConfig, ttl)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if fileName != "" {
		in.ResponseContentDisposition = aws.String("attachment; filename=" + strconv.Quote(fileName))
	}
	opts := []func(*s3.PresignOptions){s3.WithPresignExpires(ttl)}
	if s.cfg.LinkCredentials != nil {
		creds, err := s.linkCredentials(ctx, ttl)
		if err != nil {
			return "", err
		}
		opts = append(opts, func(o *s3.PresignOptions) {
			o.ClientOptions = append(o.ClientOptions, func(so *s3.Options) {
				so.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
			})
		})
	}
	req, err := s.presign.PresignGetObject(ctx, in, opts...)
	if err != nil {
		return "", fmt.Errorf("s3store: presign %s: %w", key, err)
	}
	return req.URL, nil
}

// linkCredentials returns link credentials that outlive a link of ttl made
// now: the cached session, or a new one when the cached one ends sooner.
func (s *Store) linkCredentials(ctx context.Context, ttl time.Duration) (aws.Credentials, error) {
	lc := s.cfg.LinkCredentials
	end := s.cfg.Now().Add(ttl)
	c, err := lc.Retrieve(ctx)
	if err == nil && c.CanExpire && c.Expires.Before(end) {
		lc.Invalidate()
		c, err = lc.Retrieve(ctx)
	}
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("s3store: credentials for links: %w", err)
	}
	if c.CanExpire && c.Expires.Before(end) {
		return aws.Credentials{}, fmt.Errorf("%w: they end at %s, a %s link would end at %s", ErrLinkLifetime,
			c.Expires.UTC().Format(time.RFC3339), ttl, end.UTC().Format(time.RFC3339))
	}
	return c, nil
}
