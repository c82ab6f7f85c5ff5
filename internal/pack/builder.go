package pack

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/monsys/hub/internal/pack/internal/spool"
)

// Meta is what a pack says about itself besides its data.
type Meta struct {
	PackID       string
	TenantID     string
	PeriodStart  time.Time
	PeriodEnd    time.Time // inclusive (…T23:59:59Z) as it goes into the manifest
	GeneratedAt  time.Time // also every tar entry's mtime; truncated to seconds
	SigningKeyID string
	PublicKey    ed25519.PublicKey // must be SigningKeyID's key in Lineage
	Lineage      Lineage           // the tenant's lineage; the pack holds Lineage.AsOf(GeneratedAt)
	PreviousPack *PackRef          // nil for the tenant's first pack
}

// Options tune a Builder. The zero value is usable.
type Options struct {
	// TempDir holds spool and sort-run files (default os.TempDir()).
	TempDir string
	// SortMemory bounds the bytes of data lines held in memory across all open
	// files before a sorted run is spilled to disk (default 16 MiB), shared
	// evenly by the workers.
	SortMemory int64
	// Level is the gzip level (default DefaultLevel). Packs are
	// reproducible for a given level and klauspost/compress version.
	Level int
	// Workers is how many goroutines canonicalize records (default
	// GOMAXPROCS; 1 canonicalizes in the caller). The output does not depend
	// on it.
	Workers int
	// Prove, when set, logs the signed pack and gives the proofs of its
	// transparency/ folder (SPEC 10), which Finish writes after the data
	// files. Nil: a pack without transparency/.
	Prove Prover
}

// DefaultLevel is the gzip level packs are written with unless
// Options.Level says otherwise: klauspost/compress's fastest level, about
// twice the speed of level 6 for a few percent more bytes on NDJSON.
const DefaultLevel = flate.BestSpeed

// DefaultSortMemory is Options.SortMemory's default.
const DefaultSortMemory = spool.DefaultMemory

// Result describes a written pack.
type Result struct {
	FileName       string
	Manifest       Manifest
	ManifestJSON   []byte
	ManifestSHA256 string // lowercase hex; what the next pack's previous_pack names
	Signature      []byte // raw 64 bytes; manifest.sig holds its hex
	Fingerprint    string
	Records        int64 // data lines in all files
	DataBytes      int64 // uncompressed bytes of all data files
	Size           int64 // bytes written to the io.Writer
	// KeyHistory is every pin and unpin of data/agents.ndjson's key
	// history, in the order of its lines (Build fills it; a Builder fed
	// through Create leaves it empty).
	KeyHistory []KeyEvent
}

// Builder assembles one evidence pack. Data files are added one at a time
// (or several at once) through Create; Finish signs and writes the archive.
// Memory stays bounded by Options.SortMemory whatever the data size and
// however many files: the spool (internal/pack/internal/spool) sorts lines
// in runs spilled to TempDir, and Finish has it merge them once into one
// deflate segment a file, on disk, which it splices into the archive. A
// Builder is not safe for concurrent use. Close it to remove its temporary
// files.
type Builder struct {
	meta   Meta
	signer Signer
	spool  *spool.Spool
	files  map[string]*FileWriter // every file created, by path
	byID   []*FileWriter          // by spool file number
	// format1 leaves out what format 2 added (SPEC 9's batch.ndjson files)
	// and writes format_version 1: set only by the size and speed
	// comparison of the two formats (export_test.go).
	format1 bool
	prove   Prover
	// keyHistory is what Build's selection wrote into agents.ndjson.
	keyHistory []KeyEvent
	// closed and finished end the builder.
	closed   bool
	finished bool
}

// NewBuilder checks meta and returns a Builder that will sign with signer.
func NewBuilder(meta Meta, signer Signer, opts Options) (*Builder, error) {
	if err := checkMeta(&meta); err != nil {
		return nil, err
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrInvalidMeta)
	}
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	sp, err := spool.New(spool.Options{TempDir: opts.TempDir, Memory: opts.SortMemory, Workers: opts.Workers, Level: opts.Level})
	if errors.Is(err, spool.ErrLevel) {
		return nil, fmt.Errorf("%w: gzip level %d", ErrInvalidMeta, opts.Level)
	}
	if err != nil {
		return nil, err
	}
	return &Builder{meta: meta, signer: signer, spool: sp, files: map[string]*FileWriter{}, prove: opts.Prove}, nil
}

func checkMeta(m *Meta) error {
	if !tenantRE.MatchString(m.TenantID) {
		return fmt.Errorf("%w: tenant id %q", ErrInvalidMeta, m.TenantID)
	}
	if !validID(m.PackID) {
		return fmt.Errorf("%w: pack id %q", ErrInvalidMeta, m.PackID)
	}
	if !validID(m.SigningKeyID) {
		return fmt.Errorf("%w: signing key id %q", ErrInvalidMeta, m.SigningKeyID)
	}
	if len(m.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrInvalidMeta, len(m.PublicKey))
	}
	if m.PeriodStart.IsZero() || m.PeriodEnd.IsZero() || m.GeneratedAt.IsZero() {
		return fmt.Errorf("%w: period_start, period_end and generated_at are required", ErrInvalidMeta)
	}
	m.PeriodStart = m.PeriodStart.UTC().Truncate(time.Second)
	m.PeriodEnd = m.PeriodEnd.UTC().Truncate(time.Second)
	m.GeneratedAt = m.GeneratedAt.UTC().Truncate(time.Second)
	if m.PeriodEnd.Before(m.PeriodStart) {
		return fmt.Errorf("%w: period_end %s before period_start %s", ErrInvalidMeta, TimeString(m.PeriodEnd), TimeString(m.PeriodStart))
	}
	if m.PreviousPack != nil && (!validID(m.PreviousPack.PackID) || !isHex64(m.PreviousPack.ManifestSHA256)) {
		return fmt.Errorf("%w: previous_pack %+v", ErrInvalidMeta, *m.PreviousPack)
	}
	snapshot := m.Lineage.AsOf(m.GeneratedAt)
	if err := snapshot.Validate(); err != nil {
		return err
	}
	if err := snapshot.ActiveAt(m.SigningKeyID, m.PublicKey, m.GeneratedAt); err != nil {
		return err
	}
	return nil
}

// FileWriter receives the records of one data file.
type FileWriter struct {
	b      *Builder
	path   string
	id     int // its number in the spool
	closed bool
}

// Create starts the data file at path (relative to data/, e.g.
// "alerts/anomalies.ndjson"). Several files may be open at once.
func (b *Builder) Create(path string) (*FileWriter, error) {
	if b.closed || b.finished {
		return nil, ErrClosed
	}
	if err := b.spool.Err(); err != nil {
		return nil, fmt.Errorf("pack: a data file failed: %w", err)
	}
	if err := CheckDataPath(path); err != nil {
		return nil, err
	}
	if _, ok := b.files[path]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, path)
	}
	id, err := b.spool.NewFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	fw := &FileWriter{b: b, path: path, id: id}
	b.files[path] = fw
	b.byID = append(b.byID, fw)
	return fw, nil
}

// Add appends v, encoded with encoding/json and canonicalized, as one record.
func (fw *FileWriter) Add(v any) error {
	if fw.closed {
		return fmt.Errorf("pack: add to closed file %q: %w", fw.path, ErrClosed)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("pack: record of %q: %w", fw.path, err)
	}
	return fw.AddJSON(buf.Bytes())
}

// AddJSON appends the JSON value raw, canonicalized, as one record. raw is
// not retained. A bad record breaks the builder: the pack cannot be
// finished. With Options.Workers > 1 records are canonicalized in the
// background, and its error is returned by a later AddJSON or by Close (of
// any file).
func (fw *FileWriter) AddJSON(raw []byte) error {
	if fw.closed {
		return fmt.Errorf("pack: add to closed file %q: %w", fw.path, ErrClosed)
	}
	if fw.b.closed || fw.b.finished {
		return ErrClosed
	}
	return fw.b.spool.Add(fw.id, raw)
}

// Close ends the file: nothing more can be added to it. With workers it
// waits until its records are canonicalized and returns the first error
// any record had.
func (fw *FileWriter) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	if fw.b.closed || fw.b.finished {
		return nil
	}
	return fw.b.spool.Flush()
}

// Close removes the builder's temporary files. It is safe to call more than
// once and after Finish.
func (b *Builder) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.spool.Close()
}
