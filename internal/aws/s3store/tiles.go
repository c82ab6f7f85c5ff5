package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/monsys/hub/internal/tlog"
)

// TilesAPI is the part of the S3 client the log's tile store calls.
type TilesAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ TilesAPI = (*s3.Client)(nil)

// TilesConfig configures a Tiles store.
type TilesConfig struct {
	Bucket string
	// Prefix is prepended to every c2sp.org/tlog-tiles path ("" or ending in "/").
	Prefix string
	// Retention keeps every tile and entry bundle under COMPLIANCE-mode
	// Object Lock for this long; 0 writes no per-object retention.
	Retention time.Duration
	Now       func() time.Time
}

// Tiles keeps the transparency log in S3 at its c2sp.org/tlog-tiles paths:
// tiles and entry bundles written once (If-None-Match) under Object Lock,
// and the checkpoint replaced only by a conditional write (If-Match).
type Tiles struct {
	api TilesAPI
	cfg TilesConfig
}

var (
	_ tlog.Tiles       = (*Tiles)(nil)
	_ tlog.Checkpoints = (*Tiles)(nil)
)

// TilesPermissions are the S3 actions of a function that appends to the
// log (PutObjectRetention for the Object Lock of each tile), on the log
// bucket's objects.
var TilesPermissions = []string{"s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"}

// NewTiles returns the store.
func NewTiles(api TilesAPI, cfg TilesConfig) (*Tiles, error) {
	if api == nil || cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: the log store needs a client and a bucket", ErrConfig)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("%w: prefix %q must end in /", ErrConfig, cfg.Prefix)
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("%w: negative retention %s", ErrConfig, cfg.Retention)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	return &Tiles{api: api, cfg: cfg}, nil
}

// maxObject bounds what is read back: a full entry bundle of 256 entries
// of at most 64 KiB, and far more than any tile or checkpoint.
const maxObject = 256*(tlog.MaxEntrySize+2) + 1

func (t *Tiles) get(ctx context.Context, path string) ([]byte, string, error) {
	out, err := t.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(t.cfg.Prefix + path)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || status(err) == http.StatusNotFound {
			return nil, "", fmt.Errorf("s3store: %s: %w", path, tlog.ErrNotFound)
		}
		return nil, "", fmt.Errorf("s3store: get %s: %w", path, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxObject+1))
	if err != nil {
		return nil, "", fmt.Errorf("s3store: read %s: %w", path, err)
	}
	if len(b) > maxObject {
		return nil, "", fmt.Errorf("s3store: %s: %w: larger than %d bytes", path, tlog.ErrCorrupt, maxObject)
	}
	return b, aws.ToString(out.ETag), nil
}

// status returns the HTTP status of an S3 error, 0 if none.
func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// lostCondition reports a failed If-Match / If-None-Match (412), or AWS's
// 409 for two conditional writes of one key at once.
func lostCondition(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return true
	}
	s := status(err)
	return s == http.StatusPreconditionFailed || s == http.StatusConflict
}

// ReadTile implements tlog.Tiles.
func (t *Tiles) ReadTile(ctx context.Context, path string) ([]byte, error) {
	b, _, err := t.get(ctx, path)
	return b, err
}

// WriteTile implements tlog.Tiles: a PutObject that only creates; if the
// object exists, it is read back and must hold the same bytes.
func (t *Tiles) WriteTile(ctx context.Context, path string, data []byte) error {
	in := &s3.PutObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(t.cfg.Prefix + path),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String("application/octet-stream"), IfNoneMatch: aws.String("*"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}
	if t.cfg.Retention > 0 {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(t.cfg.Now().Add(t.cfg.Retention))
	}
	_, err := t.api.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	if !lostCondition(err) {
		return fmt.Errorf("s3store: put %s: %w", path, err)
	}
	got, _, rerr := t.get(ctx, path)
	if rerr != nil {
		return fmt.Errorf("s3store: put %s: it exists but cannot be read back: %w", path, rerr)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("s3store: %s holds other bytes: %w", path, tlog.ErrCorrupt)
	}
	return nil
}

// checkpointPath is the c2sp.org/tlog-tiles checkpoint object.
const checkpointPath = "checkpoint"

// ReadCheckpoint implements tlog.Checkpoints; the version is the ETag.
func (t *Tiles) ReadCheckpoint(ctx context.Context) ([]byte, string, error) {
	return t.get(ctx, checkpointPath)
}

// WriteCheckpoint implements tlog.Checkpoints with If-Match (or
// If-None-Match for the first checkpoint).
func (t *Tiles) WriteCheckpoint(ctx context.Context, note []byte, version string) error {
	in := &s3.PutObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(t.cfg.Prefix + checkpointPath),
		Body: bytes.NewReader(note), ContentLength: aws.Int64(int64(len(note))),
		ContentType: aws.String("text/plain; charset=utf-8"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}
	if version == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(version)
	}
	_, err := t.api.PutObject(ctx, in)
	switch {
	case err == nil:
		return nil
	case lostCondition(err) || (version != "" && status(err) == http.StatusNotFound):
		return fmt.Errorf("s3store: put checkpoint: %w", tlog.ErrConflict)
	default:
		return fmt.Errorf("s3store: put checkpoint: %w", err)
	}
}
