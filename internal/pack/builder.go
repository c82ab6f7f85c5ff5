package pack

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/monsys/hub/internal/canon"
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
	// files before a sorted run is spilled to disk (default 16 MiB).
	SortMemory int64
	// Level is the gzip level (default DefaultLevel). Packs are
	// reproducible for a given level and klauspost/compress version.
	Level int
	// Workers is how many goroutines canonicalize AddJSON records (default
	// GOMAXPROCS; 1 canonicalizes in the caller). The output does not depend
	// on it.
	Workers int
}

// DefaultLevel is the gzip level packs are written with unless
// Options.Level says otherwise: klauspost/compress's fastest level, about
// twice the speed of level 6 for a few percent more bytes on NDJSON.
const DefaultLevel = gzip.BestSpeed

// DefaultSortMemory is Options.SortMemory's default.
const DefaultSortMemory = 16 << 20

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
}

// Builder assembles one evidence pack. Data files are added one at a time
// (or several at once) through Create; Finish signs and writes the archive.
// Memory stays bounded by Options.SortMemory whatever the data size: lines
// are sorted in runs spilled to TempDir and merged. A Builder is not safe for
// concurrent use. Close it to remove its temporary files.
type Builder struct {
	meta   Meta
	signer Signer
	opts   Options
	dir    string
	open   map[*FileWriter]struct{}
	done   map[string]*spooled
	mem    int64
	canon  canon.Transformer
	line   []byte // scratch for one canonical line
	// mu guards open, mem and the sorters while workers add lines.
	mu       sync.Mutex
	spilling bool      // a worker is writing a run without the lock
	spilled  sync.Cond // on mu: that run is written
	workers  *workers  // nil: AddJSON canonicalizes in the caller
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
	if opts.SortMemory <= 0 {
		opts.SortMemory = DefaultSortMemory
	}
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if _, err := gzip.NewWriterLevel(io.Discard, opts.Level); err != nil {
		return nil, fmt.Errorf("%w: gzip level %d", ErrInvalidMeta, opts.Level)
	}
	dir, err := os.MkdirTemp(opts.TempDir, "monsys-pack-*")
	if err != nil {
		return nil, fmt.Errorf("pack: temp dir: %w", err)
	}
	b := &Builder{
		meta: meta, signer: signer, opts: opts, dir: dir,
		open: map[*FileWriter]struct{}{}, done: map[string]*spooled{},
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	b.spilled.L = &b.mu
	if opts.Workers > 1 {
		b.workers = newWorkers(b, opts.Workers)
	}
	return b, nil
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

// validID accepts 1 to 256 printable ASCII characters other than space,
// quote and backslash: enough for KMS ARNs and UUIDs, safe in every output.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckDataPath validates a data file path as Builder.Create expects it:
// relative to data/, '/'-separated, no empty, "." or ".." component, valid
// UTF-8 without control characters or backslashes, ending in ".ndjson", at
// most 240 bytes.
func CheckDataPath(p string) error {
	if len(p) == 0 || len(p) > 240 || !utf8.ValidString(p) || !strings.HasSuffix(p, ".ndjson") {
		return fmt.Errorf("%w: %q", ErrInvalidPath, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: %q", ErrInvalidPath, p)
		}
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidPath, p)
		}
	}
	return nil
}

// FileWriter receives the records of one data file.
type FileWriter struct {
	b    *Builder
	path string
	s    *sorter
	n    int64
}

// Create starts the data file at path (relative to data/, e.g.
// "alerts/anomalies.ndjson"). Several files may be open at once.
func (b *Builder) Create(path string) (*FileWriter, error) {
	if b.closed || b.finished {
		return nil, ErrClosed
	}
	if err := CheckDataPath(path); err != nil {
		return nil, err
	}
	if _, ok := b.done[path]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, path)
	}
	for fw := range b.open {
		if fw.path == path {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, path)
		}
	}
	fw := &FileWriter{b: b, path: path, s: &sorter{dir: b.dir}}
	b.mu.Lock()
	b.open[fw] = struct{}{}
	b.mu.Unlock()
	return fw, nil
}

// Add appends v, encoded with encoding/json and canonicalized, as one record.
func (fw *FileWriter) Add(v any) error {
	if fw.s == nil {
		return fmt.Errorf("pack: add to closed file %q: %w", fw.path, ErrClosed)
	}
	line, err := canon.MarshalLine(v)
	if err != nil {
		return fmt.Errorf("pack: record %d of %q: %w", fw.n+1, fw.path, err)
	}
	fw.n++
	fw.b.mu.Lock()
	defer fw.b.mu.Unlock()
	return fw.addLineLocked(line)
}

// AddJSON appends the JSON value raw, canonicalized, as one record. raw is
// not retained. With Options.Workers > 1 records are canonicalized in the
// background: a bad record's error is returned by a later AddJSON or by
// Close (of any file), and the pack cannot be finished.
func (fw *FileWriter) AddJSON(raw []byte) error {
	if fw.s == nil {
		return fmt.Errorf("pack: add to closed file %q: %w", fw.path, ErrClosed)
	}
	b := fw.b
	if b.workers != nil {
		return b.workers.add(fw, raw)
	}
	line, err := b.canon.Append(b.line[:0], raw)
	if err != nil {
		return fmt.Errorf("pack: record %d of %q: %w", fw.n+1, fw.path, err)
	}
	b.line = append(line, '\n')
	fw.n++
	return fw.addLineLocked(b.line)
}

// addLineLocked adds one line (the sorter copies it); b.mu is held, or
// there are no workers.
func (fw *FileWriter) addLineLocked(line []byte) error {
	fw.b.mem += fw.s.add(line)
	if fw.b.mem > fw.b.opts.SortMemory {
		return fw.b.spillLargest()
	}
	return nil
}

// largestOpen is the open file with the most buffered lines, or nil.
func (b *Builder) largestOpen() *FileWriter {
	var big *FileWriter
	for fw := range b.open {
		if big == nil || fw.s.mem > big.s.mem || (fw.s.mem == big.s.mem && fw.path < big.path) {
			big = fw
		}
	}
	return big
}

// heldMem is the memory of the biggest finished file held in memory.
func (b *Builder) heldMem() int64 {
	var m int64
	for _, sp := range b.done {
		m = max(m, sp.mem)
	}
	return m
}

// spillLargest frees the most memory it can in one step: it spills the
// open file with the most buffered lines as a sorted run, or writes a
// finished file held in memory to disk, whichever is bigger.
func (b *Builder) spillLargest() error {
	big := b.largestOpen()
	var held *spooled
	for _, sp := range b.done {
		if sp.mem > 0 && (held == nil || sp.mem > held.mem || (sp.mem == held.mem && sp.path < held.path)) {
			held = sp
		}
	}
	if held != nil && (big == nil || held.mem > big.s.mem) {
		freed, err := held.toDisk(b.dir)
		b.mem -= freed
		return err
	}
	if big == nil {
		return nil
	}
	freed, err := big.s.spill()
	b.mem -= freed
	return err
}

// Close finishes the file: its lines are sorted, written to a spool file,
// hashed and counted.
func (fw *FileWriter) Close() error {
	if fw.s == nil {
		return nil
	}
	b := fw.b
	if b.workers != nil {
		if err := b.workers.flush(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := fw.s
	fw.s = nil
	delete(b.open, fw)
	if len(s.runs) == 0 {
		// Still within the budget: keep the sorted lines in memory (they
		// stay counted) until Finish or a spill needs the room.
		b.done[fw.path] = s.finishInMemory(fw.path)
		return nil
	}
	sp, err := s.finish(fw.path) // its tail stays in memory, counted
	if err != nil {
		return err
	}
	b.done[fw.path] = sp
	return nil
}

// Close removes the builder's temporary files. It is safe to call more than
// once and after Finish.
func (b *Builder) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.workers != nil {
		b.workers.stop()
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("pack: remove temp dir: %w", err)
	}
	return nil
}

// Finish builds manifest.json, has the Signer sign its SHA-256, checks the
// signature against Meta.PublicKey and writes the deterministic tar.gz to w.
// It does not close w. The same data and Meta give the same bytes.
func (b *Builder) Finish(ctx context.Context, w io.Writer) (*Result, error) {
	if b.closed || b.finished {
		return nil, ErrClosed
	}
	if len(b.open) > 0 {
		var names []string
		for fw := range b.open {
			names = append(names, fw.path)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%w: %q", ErrOpenFile, names)
	}
	b.finished = true
	defer b.Close()

	files := make([]*spooled, 0, len(b.done))
	for _, sp := range b.done {
		files = append(files, sp)
	}
	slices.SortFunc(files, func(x, y *spooled) int { return strings.Compare(x.path, y.path) })
	for i := 1; i < len(files); i++ {
		// "a.ndjson" and "a.ndjson/b.ndjson" cannot both exist on disk.
		if strings.HasPrefix(files[i].path, files[i-1].path+"/") {
			return nil, fmt.Errorf("%w: %q is also a directory of %q", ErrInvalidPath, files[i-1].path, files[i].path)
		}
	}

	m := b.meta
	lineage := m.Lineage.AsOf(m.GeneratedAt)
	lineageJSON, err := lineage.MarshalCanonical()
	if err != nil {
		return nil, fmt.Errorf("pack: key lineage: %w", err)
	}
	res := &Result{Fingerprint: Fingerprint(m.PublicKey)}
	man := Manifest{
		FormatVersion:    FormatVersion,
		PackID:           m.PackID,
		TenantID:         m.TenantID,
		PeriodStart:      TimeString(m.PeriodStart),
		PeriodEnd:        TimeString(m.PeriodEnd),
		GeneratedAt:      TimeString(m.GeneratedAt),
		SigningKeyID:     m.SigningKeyID,
		Files:            make([]FileEntry, 0, len(files)),
		KeyLineageSHA256: SHA256Hex(lineageJSON),
		PreviousPack:     m.PreviousPack,
	}
	for _, f := range files {
		man.Files = append(man.Files, FileEntry{Path: f.path, SHA256: f.sha256, RecordCount: f.records})
		res.Records += f.records
		res.DataBytes += f.size
	}
	man.InputsHash = InputsHash(man.Files)
	manJSON, err := man.MarshalCanonical()
	if err != nil {
		return nil, fmt.Errorf("pack: manifest: %w", err)
	}
	digest := sha256.Sum256(manJSON)
	sig, err := b.signer.SignDigest(ctx, digest[:])
	if err != nil {
		return nil, fmt.Errorf("pack: sign manifest: %w", err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(m.PublicKey, digest[:], sig) {
		return nil, fmt.Errorf("%w: manifest signature by %q", ErrSignature, m.SigningKeyID)
	}
	pubPEM, err := PublicKeyPEM(m.PublicKey)
	if err != nil {
		return nil, err
	}
	name, err := FileName(m.TenantID, m.PeriodStart, m.PeriodEnd)
	if err != nil {
		return nil, err
	}
	readme := readmeText(&man, name)

	cw := &countWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, b.opts.Level)
	if err != nil {
		return nil, fmt.Errorf("pack: gzip: %w", err)
	}
	// No name, no comment, MTIME 0 (klauspost writes the zero time.Time's
	// Unix seconds, truncated, unless told otherwise), OS 255 (unknown).
	zw.ModTime = time.Unix(0, 0)
	tw := tar.NewWriter(zw)
	small := []struct {
		name string
		body []byte
	}{
		{ManifestName, manJSON},
		{SignatureName, []byte(hex.EncodeToString(sig))},
		{PublicKeyName, pubPEM},
		{LineageName, lineageJSON},
		{VerifyPyName, verifyPy},
		{ReadmeName, []byte(readme)},
	}
	for _, s := range small {
		if err := tw.WriteHeader(tarHeader(s.name, int64(len(s.body)), m.GeneratedAt)); err != nil {
			return nil, fmt.Errorf("pack: write %s: %w", s.name, err)
		}
		if _, err := tw.Write(s.body); err != nil {
			return nil, fmt.Errorf("pack: write %s: %w", s.name, err)
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pack: write data: %w", err)
		}
		if err := copyData(tw, f, m.GeneratedAt); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack: close tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack: close gzip: %w", err)
	}
	res.FileName = name
	res.Manifest = man
	res.ManifestJSON = manJSON
	res.ManifestSHA256 = hex.EncodeToString(digest[:])
	res.Signature = sig
	res.Size = cw.n
	return res, nil
}

func tarHeader(name string, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  mtime,
		Format:   tar.FormatPAX, // USTAR when the name fits, PAX records otherwise
	}
}

func copyData(tw *tar.Writer, f *spooled, mtime time.Time) error {
	name := DataDir + f.path
	if f.runs != nil {
		if err := tw.WriteHeader(tarHeader(name, f.size, mtime)); err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
		cw := &countWriter{w: tw}
		aw := newAsyncWriter(cw) // merge here, compress there
		w := bufio.NewWriterSize(aw, 256<<10)
		err := mergeRuns(f.runs, f.tail, w)
		if err == nil {
			err = w.Flush()
		}
		if cerr := aw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
		if cw.n != f.size {
			return fmt.Errorf("pack: write %s: runs hold %d bytes, want %d", name, cw.n, f.size)
		}
		return nil
	}
	if f.lines != nil {
		if err := tw.WriteHeader(tarHeader(name, f.size, mtime)); err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
		w := bufio.NewWriterSize(tw, 256<<10)
		for _, l := range f.lines {
			w.Write(l)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
		return nil
	}
	src, err := os.Open(f.file)
	if err != nil {
		return fmt.Errorf("pack: open spool of %q: %w", f.path, err)
	}
	defer src.Close()
	if err := tw.WriteHeader(tarHeader(name, f.size, mtime)); err != nil {
		return fmt.Errorf("pack: write %s: %w", name, err)
	}
	n, err := io.Copy(tw, bufio.NewReaderSize(src, 256<<10))
	if err != nil {
		return fmt.Errorf("pack: write %s: %w", name, err)
	}
	if n != f.size {
		return fmt.Errorf("pack: write %s: spool holds %d bytes, want %d", name, n, f.size)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
