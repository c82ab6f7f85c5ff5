package local

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/atomicfile"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/witness"
)

// The local hub's transparency log (SPEC 10, 1.1).
const (
	// LogKeyAlias names the log's Ed25519 key in the local KMS.
	LogKeyAlias = "alias/monsys-log"
	// DefaultLogOrigin is the local hub's log origin (Config.LogOrigin).
	DefaultLogOrigin = "monsys.local/log"
	// WitnessName is the local litewitness's name in its cosignatures.
	WitnessName = "witness.monsys.local"
	// witnessDir, under the state folder, holds the witness's database and
	// key: its memory of the log, kept across restarts.
	witnessDir = "witness"
	// witnessKeyFile holds the witness's Ed25519 seed, hex.
	witnessKeyFile = "witness.key"
)

// startLog starts the local witness (litewitness, its database and key
// under the state folder, so that a restarted hub keeps its history),
// registers the log with it and returns the log over the log table, the
// log bucket, the log key in the local KMS and that witness: the integrity
// cycle publishes it, and packs are ready only once proved.
func (h *Hub) startLog(ctx context.Context, tables dynamo.Tables) (*tlog.Log, error) {
	cfg := h.cfg
	ls := app.LogSettings{Table: tables.Log, Bucket: cfg.LogBucket, Origin: cfg.LogOrigin, PathStyle: true}
	var err error
	if cfg.SigningMode == kmssign.ModeKMSEnvelope {
		ls.KeyID, ls.WrapKeyID, err = h.envelopeLogKey(ctx)
	} else {
		ls.KeyID, err = ensureKey(ctx, h.KMS, LogKeyAlias, kmstypes.KeySpecEccNistEdwards25519, kmstypes.KeyUsageTypeSignVerify)
	}
	if err != nil {
		return nil, fmt.Errorf("local hub: log key: %w", err)
	}
	var signer tlog.Signer
	if ls.WrapKeyID != "" {
		signer, err = kmssign.NewEnvelopeLogSigner(h.KMS, ls.WrapKeyID, ls.Origin, ls.KeyID)
	} else {
		signer, err = kmssign.New(ctx, h.KMS, ls.KeyID)
	}
	if err != nil {
		return nil, fmt.Errorf("local hub: log key: %w", err)
	}
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("local hub: the log key is not an Ed25519 key")
	}
	vkey, err := tlog.VerifierKey(cfg.LogOrigin, pub)
	if err != nil {
		return nil, fmt.Errorf("local hub: log origin %q: %w", cfg.LogOrigin, err)
	}
	dir := filepath.Join(cfg.Dir, witnessDir)
	wkey, err := witnessKey(dir)
	if err != nil {
		return nil, err
	}
	w, err := emu.StartLitewitness(ctx, emu.LitewitnessOptions{Name: WitnessName, Key: wkey, Dir: dir, Log: cfg.WitnessLog})
	if err != nil {
		return nil, fmt.Errorf("local hub: %w", err)
	}
	h.witness = w
	if err := w.AddLog(ctx, cfg.LogOrigin, vkey); err != nil {
		return nil, fmt.Errorf("local hub: %w", err)
	}
	if ls.Witnesses, ls.Quorum, err = witness.Parse(w.VKey()+" "+w.URL(), ""); err != nil {
		return nil, fmt.Errorf("local hub: %w", err)
	}
	if cfg.RetentionDays > 0 {
		ls.Retention = time.Duration(cfg.RetentionDays) * 24 * time.Hour
	}
	tl, _, err := app.NewLog(ctx, ls, app.LogParts{DynamoDB: h.Data, S3: h.S3, KMS: h.KMS, S3Now: cfg.Clock.Now})
	if err != nil {
		return nil, fmt.Errorf("local hub: %w", err)
	}
	h.info.LogVKey, h.info.WitnessVKeys = vkey, []string{w.VKey()}
	h.logSettings = ls
	return tl, nil
}

// logKeyFile, under the state folder, holds the reference of the
// kms-envelope log key (the sealed seed is useless without the local KMS).
const logKeyFile = "log-key.ref"

// envelopeLogKey returns the kms-envelope log key's reference and the
// envelope key, sealing a new log key on first start (SigningMode
// kms-envelope: as where KMS makes no Ed25519 keys).
func (h *Hub) envelopeLogKey(ctx context.Context) (string, string, error) {
	wrap, err := ensureKey(ctx, h.KMS, WrapKeyAlias, kmstypes.KeySpecSymmetricDefault, kmstypes.KeyUsageTypeEncryptDecrypt)
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(h.cfg.Dir, logKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), wrap, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	ref, err := kmssign.SealLogKey(ctx, h.KMS, wrap, h.cfg.LogOrigin, rand.Reader)
	if err != nil {
		return "", "", err
	}
	if err := atomicfile.Write(path, []byte(ref+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return ref, wrap, nil
}

// witnessKey reads the witness's key from dir, making it on first start.
// The key and the database go together: a witness that lost either must
// not start again with the other (it would cosign a rewound log, or be
// another witness), so an existing database without its key is refused.
func witnessKey(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local hub: witness folder: %w", err)
	}
	path := filepath.Join(dir, witnessKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		seed, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("local hub: %s is not a hex Ed25519 seed", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local hub: witness key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "litewitness.db")); err == nil {
		return nil, fmt.Errorf("local hub: %s has a witness database but no %s: remove the folder to start a new witness (its old cosignatures then no longer verify)", dir, witnessKeyFile)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("local hub: witness key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// RewoundLog is the hub's log as a backup from before it logged anything
// would restore it: a new, empty log table and bucket (named after name)
// with the hub's log key and witness. A witness that cosigned the real log
// refuses whatever history is appended to it (the demo, the e2e tests).
func (h *Hub) RewoundLog(ctx context.Context, name string) (*tlog.Log, error) {
	ls := h.logSettings
	if ls.Table == "" {
		return nil, errors.New("local hub: no log (NoWitness)")
	}
	ls.Table, ls.Bucket = h.cfg.TablePrefix+name, name
	if err := dynamo.CreateLogTable(ctx, h.DynamoDB, ls.Table); err != nil {
		return nil, fmt.Errorf("local hub: rewound log: %w", err)
	}
	if err := ensureBucket(ctx, h.S3, ls.Bucket); err != nil {
		return nil, fmt.Errorf("local hub: rewound log: %w", err)
	}
	tl, _, err := app.NewLog(ctx, ls, app.LogParts{DynamoDB: h.Data, S3: h.S3, KMS: h.KMS, S3Now: h.cfg.Clock.Now})
	if err != nil {
		return nil, fmt.Errorf("local hub: rewound log: %w", err)
	}
	return tl, nil
}
