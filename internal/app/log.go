package app

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/witness"
)

// Env names of the transparency log's settings (SPEC 10, docs/configuration.md).
const (
	EnvTableLog      = "MONSYS_TABLE_LOG"
	EnvLogBucket     = "MONSYS_LOG_BUCKET"
	EnvLogOrigin     = "MONSYS_LOG_ORIGIN"
	EnvLogKeyID      = "MONSYS_LOG_KEY_ID"
	EnvWitnesses     = "MONSYS_WITNESSES"
	EnvWitnessQuorum = "MONSYS_WITNESS_QUORUM"
	// EnvLogRetentionDays is the COMPLIANCE Object Lock retention of each
	// tile and entry bundle (the checkpoint, which is replaced, has none).
	EnvLogRetentionDays = "MONSYS_LOG_RETENTION_DAYS"
)

// DefaultLogRetentionDays is the tiles' retention when MONSYS_LOG_RETENTION_DAYS is unset.
const DefaultLogRetentionDays = 3650

// LogSettings are the settings of a function that appends to the log.
type LogSettings struct {
	// KeyID is the log key: a KMS key (kms mode), or the reference of an
	// envelope-sealed key (kms-envelope mode, kmssign.SealLogKey), which
	// WrapKeyID (MONSYS_SIGNING_WRAP_KEY_ID, the envelope key) unseals.
	Table, Bucket, Origin, KeyID string
	WrapKeyID                    string
	Witnesses                    []witness.Witness
	Quorum                       int
	Retention                    time.Duration
	PathStyle                    bool
}

// LogFromEnv reads LogSettings; all but the quorum and the retention are
// required: a hub that appends to no witnessed log would hand out packs
// nobody can hold it to.
func LogFromEnv(getenv func(string) string) (LogSettings, error) {
	ls := LogSettings{Table: getenv(EnvTableLog), Bucket: getenv(EnvLogBucket), Origin: getenv(EnvLogOrigin),
		KeyID: getenv(EnvLogKeyID), Retention: DefaultLogRetentionDays * 24 * time.Hour}
	if err := required([][2]string{{EnvTableLog, ls.Table}, {EnvLogBucket, ls.Bucket}, {EnvLogOrigin, ls.Origin},
		{EnvLogKeyID, ls.KeyID}, {EnvWitnesses, getenv(EnvWitnesses)}}); err != nil {
		return LogSettings{}, err
	}
	if kmssign.IsEnvelopeLogKey(ls.KeyID) {
		if ls.WrapKeyID = getenv(EnvWrapKeyID); ls.WrapKeyID == "" {
			return LogSettings{}, fmt.Errorf("settings: %s is an envelope-sealed log key: %s (the envelope key) is required", EnvLogKeyID, EnvWrapKeyID)
		}
	}
	if !tlog.ValidName(ls.Origin) {
		return LogSettings{}, fmt.Errorf("settings: %s=%q: want a note name such as hub.example.com/monsys (no spaces, no '+')", EnvLogOrigin, ls.Origin)
	}
	var err error
	if ls.Witnesses, ls.Quorum, err = witness.Parse(getenv(EnvWitnesses), getenv(EnvWitnessQuorum)); err != nil {
		return LogSettings{}, fmt.Errorf("settings: %w", err)
	}
	if v := getenv(EnvLogRetentionDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36500 {
			return LogSettings{}, fmt.Errorf("settings: %s=%q: want whole days from 1 to 36500", EnvLogRetentionDays, v)
		}
		ls.Retention = time.Duration(n) * 24 * time.Hour
	}
	if ls.PathStyle, err = flag(getenv, EnvS3PathStyle); err != nil {
		return LogSettings{}, err
	}
	return ls, nil
}

// LogParts are the clients a log is built over.
type LogParts struct {
	DynamoDB dynamo.LogAPI
	S3       s3store.TilesAPI
	KMS      LogKMS
	// HTTP is the witnesses' client; nil: witness.DefaultTimeout.
	HTTP *http.Client
	// S3Now is the tiles' retention clock (default the system's).
	S3Now func() time.Time
}

// LogKMS is the part of the KMS client the log key calls: Sign in kms
// mode, Decrypt in kms-envelope mode.
type LogKMS interface {
	kmssign.API
	kmssign.EnvelopeAPI
}

// logSigner is the log key of ls.
func logSigner(ctx context.Context, ls LogSettings, api LogKMS) (tlog.Signer, error) {
	if kmssign.IsEnvelopeLogKey(ls.KeyID) {
		return kmssign.NewEnvelopeLogSigner(api, ls.WrapKeyID, ls.Origin, ls.KeyID)
	}
	return kmssign.New(ctx, api, ls.KeyID)
}

// NewLog builds the log over DynamoDB (sequencing, pool), S3 (tiles,
// checkpoint), the KMS log key and the witnesses.
func NewLog(ctx context.Context, ls LogSettings, p LogParts) (*tlog.Log, *witness.Set, error) {
	st, err := dynamo.NewLogStore(p.DynamoDB, ls.Table)
	if err != nil {
		return nil, nil, err
	}
	tiles, err := s3store.NewTiles(p.S3, s3store.TilesConfig{Bucket: ls.Bucket, Retention: ls.Retention, Now: p.S3Now})
	if err != nil {
		return nil, nil, err
	}
	signer, err := logSigner(ctx, ls, p.KMS)
	if err != nil {
		return nil, nil, fmt.Errorf("log key: %w", err)
	}
	set, err := witness.New(ls.Witnesses, ls.Quorum, p.HTTP)
	if err != nil {
		return nil, nil, err
	}
	l, err := tlog.New(tlog.Config{Origin: ls.Origin}, tlog.Stores{Heads: st, Pool: st, Lookup: st, Tiles: tiles, Checkpoints: tiles}, signer, set)
	if err != nil {
		return nil, nil, err
	}
	return l, set, nil
}

// LogSubmitterFromEnv is what a function that only submits entries (pins,
// unpins) needs: the log's table. It reads MONSYS_TABLE_LOG, required.
func LogSubmitterFromEnv(getenv func(string) string, db dynamo.LogAPI) (tlog.Submitter, error) {
	table := getenv(EnvTableLog)
	if err := required([][2]string{{EnvTableLog, table}}); err != nil {
		return tlog.Submitter{}, err
	}
	st, err := dynamo.NewLogStore(db, table)
	if err != nil {
		return tlog.Submitter{}, err
	}
	return tlog.Submitter{Pool: st}, nil
}
