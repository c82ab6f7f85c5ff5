package pack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"

	"github.com/monsys/hub/internal/sig"
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
}

// DefaultLevel is the gzip level packs are written with unless
// Options.Level says otherwise: klauspost/compress's fastest level, about
// twice the speed of level 6 for a few percent more bytes on NDJSON.
const DefaultLevel = flate.BestSpeed

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
// Memory stays bounded by Options.SortMemory whatever the data size and
// however many files: lines are sorted in runs spilled to TempDir, and
// Finish merges them once into one deflate segment a file, on disk, which
// it splices into the archive (see gzsplice.go). A Builder is not safe for
// concurrent use. Close it to remove its temporary files.
type Builder struct {
	meta    Meta
	signer  Signer
	opts    Options
	dir     string
	files   map[string]*FileWriter // every file created, by path
	byID    []*FileWriter
	lanes   []*lane
	workers *workers      // nil: records are canonicalized in the caller
	zw      *flate.Writer // deflates segments, then the archive's own bytes
	segs    *os.File      // the deflate segments of the files
	err     error         // a bad record or a failed spill: the pack cannot be finished
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
	if opts.SortMemory <= 0 {
		opts.SortMemory = DefaultSortMemory
	}
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	zw, err := flate.NewWriter(io.Discard, opts.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip level %d", ErrInvalidMeta, opts.Level)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	dir, err := os.MkdirTemp(opts.TempDir, "monsys-pack-*")
	if err != nil {
		return nil, fmt.Errorf("pack: temp dir: %w", err)
	}
	b := &Builder{
		meta: meta, signer: signer, opts: opts, dir: dir, zw: zw, files: map[string]*FileWriter{},
	}
	for range opts.Workers {
		b.lanes = append(b.lanes, newLane(dir, opts.SortMemory/int64(opts.Workers)))
	}
	if opts.Workers > 1 {
		b.workers = newWorkers(b.lanes)
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
	b      *Builder
	path   string
	key    fileKey // its lines' prefix in the lanes
	n      int64   // records added
	closed bool
}

// Create starts the data file at path (relative to data/, e.g.
// "alerts/anomalies.ndjson"). Several files may be open at once.
func (b *Builder) Create(path string) (*FileWriter, error) {
	if b.closed || b.finished {
		return nil, ErrClosed
	}
	if b.err != nil {
		return nil, fmt.Errorf("pack: a data file failed: %w", b.err)
	}
	if err := CheckDataPath(path); err != nil {
		return nil, err
	}
	if _, ok := b.files[path]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, path)
	}
	if len(b.byID) >= maxFiles {
		return nil, fmt.Errorf("%w: more than %d data files", ErrInvalidPath, maxFiles)
	}
	fw := &FileWriter{b: b, path: path, key: newFileKey(len(b.byID))}
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
		return fmt.Errorf("pack: record %d of %q: %w", fw.n+1, fw.path, err)
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
	b := fw.b
	if b.closed || b.finished {
		return ErrClosed
	}
	if b.workers != nil {
		return b.workers.add(fw, raw)
	}
	if b.err != nil {
		return fmt.Errorf("pack: a data file failed: %w", b.err)
	}
	fw.n++
	if err := b.lanes[0].add(fw, raw, fw.n); err != nil {
		b.err = err
		return err
	}
	return nil
}

// Close ends the file: nothing more can be added to it. With workers it
// waits until its records are canonicalized and returns the first error
// any record had.
func (fw *FileWriter) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	b := fw.b
	if b.workers == nil || b.closed || b.finished {
		return nil
	}
	if err := b.workers.flush(); err != nil {
		if b.err == nil {
			b.err = err
		}
		return err
	}
	return nil
}

// writeSegments merges every lane's runs and last lines once and deflates
// each file's lines into its segment of the segment file, hashing,
// checksumming and counting them on the way. It returns the files by id.
func (b *Builder) writeSegments(ctx context.Context) ([]spooled, error) {
	var runs []string
	var tails [][][]byte
	for _, l := range b.lanes {
		r, t := l.take()
		runs = append(runs, r...)
		if len(t) > 0 {
			tails = append(tails, t)
		}
	}
	defer func() {
		for _, r := range runs {
			os.Remove(r) // merged or not, they are done with
		}
	}()
	// The lanes' last lines are sorted side by side, a core each.
	var wg sync.WaitGroup
	for _, t := range tails[min(1, len(tails)):] {
		wg.Go(func() { sortLines(t) })
	}
	if len(tails) > 0 {
		sortLines(tails[0])
	}
	wg.Wait()
	var err error
	if runs, err = reduceRuns(b.dir, runs); err != nil {
		return nil, fmt.Errorf("pack: merge runs: %w", err)
	}
	if b.segs, err = os.CreateTemp(b.dir, "segments-*"); err != nil {
		return nil, fmt.Errorf("pack: segment file: %w", err)
	}
	segw := bufio.NewWriterSize(b.segs, 256<<10)
	g := newSegmenter(b.zw, &countWriter{w: segw})
	d := &demux{ctx: ctx, g: g, cur: -1}
	err = mergeRuns(runs, tails, d)
	if d.cur >= 0 {
		g.End()
	}
	got, gerr := g.Close()
	if err == nil {
		err = gerr
	}
	if err == nil {
		err = segw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("pack: write data files: %w", err)
	}
	empty := sha256.Sum256(nil)
	out := make([]spooled, len(b.byID))
	for id, fw := range b.byID {
		out[id] = spooled{path: fw.path, sha256: hex.EncodeToString(empty[:])}
	}
	for i, sp := range got {
		sp.path = out[d.ids[i]].path
		out[d.ids[i]] = sp
	}
	return out, nil
}

// demux passes merged lines, one whole line a Write, to a segmenter
// without their file key, ending a file's segment where the key changes.
// It stops the merge when ctx ends.
type demux struct {
	ctx   context.Context
	g     *segmenter
	cur   int   // the current file's id, -1 before the first line
	ids   []int // the id of each file ended, in order
	lines int
}

func (d *demux) Write(line []byte) (int, error) {
	var k fileKey
	if len(line) < len(k) {
		return 0, fmt.Errorf("pack: merged line of %d bytes has no file key", len(line))
	}
	copy(k[:], line)
	if d.lines++; d.lines%(64<<10) == 0 {
		if err := d.ctx.Err(); err != nil {
			return 0, err
		}
	}
	if id := k.id(); id != d.cur {
		if d.cur >= 0 {
			d.g.End()
		}
		d.cur = id
		d.ids = append(d.ids, id)
	}
	d.g.Write(line[len(k):])
	return len(line), nil
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
	if b.segs != nil {
		b.segs.Close()
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
	if b.err != nil {
		return nil, fmt.Errorf("pack: a data file failed: %w", b.err)
	}
	if b.workers != nil {
		if err := b.workers.flush(); err != nil {
			return nil, err
		}
	}
	var open []string
	for _, fw := range b.byID {
		if !fw.closed {
			open = append(open, fw.path)
		}
	}
	if len(open) > 0 {
		slices.Sort(open)
		return nil, fmt.Errorf("%w: %q", ErrOpenFile, open)
	}
	paths := slices.Sorted(maps.Keys(b.files))
	for i := 1; i < len(paths); i++ {
		// "a.ndjson" and "a.ndjson/b.ndjson" cannot both exist on disk.
		if strings.HasPrefix(paths[i], paths[i-1]+"/") {
			return nil, fmt.Errorf("%w: %q is also a directory of %q", ErrInvalidPath, paths[i-1], paths[i])
		}
	}
	b.finished = true
	defer b.Close()
	byID, err := b.writeSegments(ctx)
	if err != nil {
		return nil, err
	}
	files := make([]spooled, 0, len(paths))
	for _, p := range paths {
		files = append(files, byID[b.files[p].key.id()])
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
	manSig, err := b.signer.SignDigest(ctx, digest[:])
	if err != nil {
		return nil, fmt.Errorf("pack: sign manifest: %w", err)
	}
	if sig.VerifyEd25519(m.PublicKey, digest[:], manSig) != nil {
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
	gz, err := newGzipStream(cw, b.zw, b.opts.Level)
	if err != nil {
		return nil, fmt.Errorf("pack: write gzip header: %w", err)
	}
	small := []struct {
		name string
		body []byte
	}{
		{ManifestName, manJSON},
		{SignatureName, []byte(hex.EncodeToString(manSig))},
		{PublicKeyName, pubPEM},
		{LineageName, lineageJSON},
		{VerifyPyName, verifyPy},
		{ReadmeName, []byte(readme)},
	}
	for _, s := range small {
		if err := writeMember(gz, s.name, s.body, m.GeneratedAt); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pack: write data: %w", err)
		}
		name := DataDir + f.path
		hdr, err := tarHeaderBytes(tarHeader(name, f.size, m.GeneratedAt))
		if err != nil {
			return nil, err
		}
		if _, err := gz.Write(hdr); err != nil {
			return nil, fmt.Errorf("pack: write %s: %w", name, err)
		}
		if f.size > 0 {
			if err := gz.Splice(io.NewSectionReader(b.segs, f.off, f.clen), f.size, f.crc); err != nil {
				return nil, fmt.Errorf("pack: write %s: %w", name, err)
			}
		}
		if _, err := gz.Write(tarPadding(f.size)); err != nil {
			return nil, fmt.Errorf("pack: write %s: %w", name, err)
		}
	}
	if _, err := gz.Write(tarEnd); err != nil {
		return nil, fmt.Errorf("pack: close tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("pack: close gzip: %w", err)
	}
	res.FileName = name
	res.Manifest = man
	res.ManifestJSON = manJSON
	res.ManifestSHA256 = hex.EncodeToString(digest[:])
	res.Signature = manSig
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

// writeMember writes one small member: header, body, padding.
func writeMember(gz *gzipStream, name string, body []byte, mtime time.Time) error {
	hdr, err := tarHeaderBytes(tarHeader(name, int64(len(body)), mtime))
	if err != nil {
		return err
	}
	for _, p := range [][]byte{hdr, body, tarPadding(int64(len(body)))} {
		if _, err := gz.Write(p); err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
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
