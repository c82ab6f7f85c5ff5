// Package tlog is the hub's witnessed transparency log (SPEC 10): entries as
// canonical JSON, a Merkle tree in the c2sp.org/tlog-tiles layout, a
// checkpoint (c2sp.org/tlog-checkpoint) signed as a c2sp.org/signed-note by
// an Ed25519 log key, cosigned by witnesses (c2sp.org/tlog-witness,
// c2sp.org/tlog-cosignature), and inclusion proofs in c2sp.org/tlog-proof@v1.
//
// The hashing, proofs and note formats are golang.org/x/mod/sumdb/tlog and
// note and filippo.io/torchwood; this package only sequences entries and
// keeps the storage consistent. It imports no AWS package: storage, signing
// and witnesses are the small interfaces below, implemented by
// internal/aws/dynamo, internal/aws/s3store, internal/witness and KMS adapters. The
// design is in docs/transparency-log.md.
package tlog

import (
	"context"
	"crypto"
	"errors"
	"time"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Sentinel errors. Adapters wrap them so that errors.Is works across layers.
var (
	// ErrNotFound: no such head, entry, tile or checkpoint.
	ErrNotFound = errors.New("tlog: not found")
	// ErrConflict: a conditional write lost to a concurrent one; retry.
	ErrConflict = errors.New("tlog: concurrent update")
	// ErrCorrupt: the stored log contradicts itself (a tile that differs
	// from what the tree says, a batch whose hashes do not give the head's
	// root). Never retried: an operator must look.
	ErrCorrupt = errors.New("tlog: stored log is inconsistent")
	// ErrEntry: an entry that is not a valid SPEC 10 entry.
	ErrEntry = errors.New("tlog: invalid entry")
	// ErrPending: the entry was submitted but is not integrated yet.
	ErrPending = errors.New("tlog: entry not integrated yet")
	// ErrNotCosigned: the latest checkpoint lacks a witness quorum, or does
	// not cover the entry asked for yet.
	ErrNotCosigned = errors.New("tlog: checkpoint not cosigned by a quorum")
	// ErrConfig: an unusable configuration.
	ErrConfig = errors.New("tlog: bad configuration")
)

// Head is the log-head record, the only record sequencing writes to: the tree
// after the last integration and the batch that integration appended, so
// that a run that crashed after sequencing can be completed by the next one.
type Head struct {
	Size int64        // tree size
	Root sumtlog.Hash // tree hash at Size
	// The last batch: entries [Start, Size), in order, and the tree hash at Start.
	Start    int64
	PrevRoot sumtlog.Hash
	Batch    []ID
	// Complete is set once the batch's tiles, the checkpoint for Size and
	// the pool's index are written.
	Complete bool
}

// HeadStore holds the log-head record. StoreHead is the log's one
// sequencing write: it replaces the head only if the stored one still has
// size old (0: no head stored yet), else it fails with ErrConflict.
type HeadStore interface {
	LoadHead(ctx context.Context) (Head, error) // the zero Head, complete, if none is stored
	StoreHead(ctx context.Context, old int64, next Head) error
}

// Pending is a submitted entry not yet integrated.
type Pending struct {
	ID    ID
	Entry []byte
}

// Pool holds submitted entries until an integration sequences them, and
// where each one went.
type Pool interface {
	// Submit stores entry as pending; submitting an entry that is already
	// pending or integrated changes nothing.
	Submit(ctx context.Context, id ID, entry []byte, at time.Time) error
	// Pending returns up to max pending entries, oldest first. It never
	// returns an entry whose Settle has completed.
	Pending(ctx context.Context, max int) ([]Pending, error)
	// Settle records that ids[i] is at index first+i. Idempotent.
	Settle(ctx context.Context, first int64, ids []ID) error
}

// Stored is what the pool knows about one entry.
type Stored struct {
	Entry      []byte
	Integrated bool
	Index      int64 // valid when Integrated
}

// Lookup finds submitted entries by ID (ErrNotFound for one never submitted).
type Lookup interface {
	Lookup(ctx context.Context, ids []ID) ([]Stored, error)
}

// Tiles holds the tiles and entry bundles, write-once, at their
// c2sp.org/tlog-tiles paths ("tile/0/x001/234", "tile/entries/000.p/5").
type Tiles interface {
	// ReadTile returns the object at path, or ErrNotFound.
	ReadTile(ctx context.Context, path string) ([]byte, error)
	// WriteTile stores data at path once. Writing the same bytes again
	// succeeds; different bytes fail with ErrCorrupt and change nothing.
	WriteTile(ctx context.Context, path string, data []byte) error
}

// Checkpoints holds the latest checkpoint, the "checkpoint" object of
// c2sp.org/tlog-tiles, with its cosignatures.
type Checkpoints interface {
	// ReadCheckpoint returns the signed checkpoint and an opaque version, or ErrNotFound.
	ReadCheckpoint(ctx context.Context) (note []byte, version string, err error)
	// WriteCheckpoint replaces the checkpoint if it is still at version
	// ("" = none stored yet), else it fails with ErrConflict.
	WriteCheckpoint(ctx context.Context, note []byte, version string) error
}

// Signer signs checkpoints with the Ed25519 log key: pure Ed25519 over the
// message (opts is crypto.Hash(0)). internal/aws/kmssign.Signer is one; tests
// use an in-memory key.
type Signer interface {
	Public() crypto.PublicKey
	SignContext(ctx context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error)
}

// ProveFunc returns the RFC 6962 consistency proof from tree size old to the
// checkpoint being cosigned.
type ProveFunc func(ctx context.Context, old int64) (sumtlog.TreeProof, error)

// Cosigner gets checkpoints cosigned by witnesses (internal/witness).
type Cosigner interface {
	// Cosign asks the witnesses that have not cosigned signed yet. It returns
	// the note with every valid cosignature it holds, and an error wrapping
	// ErrNotCosigned when they are fewer than the quorum.
	Cosign(ctx context.Context, signed []byte, prove ProveFunc) ([]byte, error)
	// Quorum returns nil if signed carries a quorum of valid cosignatures,
	// else an error wrapping ErrNotCosigned.
	Quorum(signed []byte) error
}
