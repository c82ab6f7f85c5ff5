package verify

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/monsys/hub/internal/pack"
)

// The members at the root of a pack (SPEC 8): those needed to verify it,
// and those that help a reader.
var (
	requiredMembers = []string{pack.ManifestName, pack.SignatureName, pack.PublicKeyName, pack.LineageName}
	docMembers      = []string{pack.VerifyPyName, pack.ReadmeName}
)

// dataDir is the folder of the data files, without its slash.
var dataDir = strings.TrimSuffix(pack.DataDir, "/")

// transparencyDir is the folder of the log's proofs (SPEC 8, 10): outside
// data/ and the manifest, it holds PackProofName and PinsProofsName only.
const transparencyDir = "transparency"

// FileDigest is what reading a data file yields: it is hashed and counted
// as it streams by, never held in memory.
type FileDigest struct {
	SHA256 string
	Size   int64
	Lines  int64 // '\n' count, plus one for an unterminated last line
}

// Problem is one failed rule: a stable code (the same in verify.py) and
// the message both verifiers print after "✗ ".
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Contents is what was read from a pack: the root members in memory (each
// capped), every data file as a digest, and the structural problems found
// on the way, in archive order.
type Contents struct {
	Members  map[string][]byte     // manifest.json, manifest.sig, ... by name
	Files    map[string]FileDigest // by path relative to data/
	Problems []Problem
	Fatal    bool // the archive could not be read to its end
	// Quarantined lists the batch.ndjson lines that say their batch was
	// quarantined (SPEC 9), read as those files stream by.
	Quarantined []Quarantine

	deep  *deepScan // nil unless the provenance checks run (SPEC 9)
	lim   Limits
	seen  map[string]bool
	count int
	ioErr error

	// history holds data/agents.ndjson when the transparency checks run
	// (SPEC 10: its key history must be in the log); nil otherwise.
	history *agentsFile
}

func newContents(lim Limits) *Contents {
	return &Contents{
		Members: map[string][]byte{}, Files: map[string]FileDigest{},
		lim: lim, seen: map[string]bool{},
	}
}

func (c *Contents) problem(code, msg string) {
	c.Problems = append(c.Problems, Problem{Code: code, Message: msg})
}

// fatalError stops reading; its code and message become a Problem.
type fatalError struct{ code, msg string }

func (e *fatalError) Error() string { return e.msg }

var (
	errTruncated  = &fatalError{"truncated", "Archive truncated: unexpected end of data"}
	errNotGzip    = &fatalError{"corrupt", "Archive unreadable: not a gzip file"}
	errGzipHeader = &fatalError{"corrupt", "Archive unreadable: corrupt gzip header"}
	errGzipData   = &fatalError{"corrupt", "Archive unreadable: corrupt gzip data"}
	errGzipSum    = &fatalError{"corrupt", "Archive unreadable: gzip checksum mismatch"}
	errTarHeader  = &fatalError{"corrupt", "Archive unreadable: corrupt tar header"}
	errIO         = &fatalError{codeUnreadable, "Archive unreadable: read error"}
)

const codeUnreadable = "unreadable"

// ioRecorder remembers a real read error of the underlying file, so that it
// is reported as unreadable input (exit 2) rather than as a bad pack.
type ioRecorder struct {
	r   io.Reader
	err error
}

func (r *ioRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// ReadArchive reads a pack from a gzip-compressed tar stream (SPEC 8.1): it
// never extracts and never follows links. Unsafe names, links, devices,
// duplicates, unexpected members, oversized members and data after the end
// of the tar archive or of the gzip stream become Problems; a truncated or
// corrupt stream ends reading with Fatal set.
func ReadArchive(r io.Reader, lim Limits) *Contents { return readArchive(r, lim, false, false) }

// readArchive is ReadArchive; with deep it also reads what the provenance
// checks need (SPEC 9) as the data files stream by, with history the key
// history the transparency checks need (SPEC 10).
func readArchive(r io.Reader, lim Limits, deep, history bool) *Contents {
	c := newContents(lim)
	if deep {
		c.deep = newDeepScan()
	}
	if history {
		c.history = &agentsFile{}
	}
	rec := &ioRecorder{r: r}
	err := c.readArchive(bufio.NewReaderSize(rec, 64<<10))
	if rec.err != nil {
		c.ioErr = rec.err
		err = errIO
	}
	if err != nil {
		var fe *fatalError
		if !errors.As(err, &fe) {
			fe = classify(err)
		}
		c.problem(fe.code, fe.msg)
		c.Fatal = true
	}
	return c
}

// classify maps a gzip, flate or tar error to the Problem verify.py reports.
func classify(err error) *fatalError {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errTruncated
	case errors.As(err, &corrupt):
		return errGzipData
	case errors.Is(err, gzip.ErrChecksum):
		return errGzipSum
	case errors.Is(err, gzip.ErrHeader):
		return errGzipHeader
	default:
		return errTarHeader
	}
}

func (c *Contents) readArchive(br *bufio.Reader) error {
	head, err := br.Peek(10)
	if err != nil {
		return errTruncated
	}
	if head[0] != 0x1f || head[1] != 0x8b {
		return errNotGzip
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return err
	}
	zr.Multistream(false) // a second member is data after the gzip stream
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return err
		}
		kind := kindOf(hdr)
		size := hdr.Size
		if kind == kindDir || kind == kindLink || kind == kindSpecial {
			size = 0 // header-only types: archive/tar ignores their size field
		}
		t, err := c.classify(hdr.Name, kind, size)
		if err != nil {
			return err
		}
		if t != nil {
			if err := c.consume(t, tr); err != nil {
				return err
			}
		}
	}
	// The rest of the gzip member may hold tar padding: zeros only, and not
	// more than maxPadding of them (reading stops there: a gzip bomb of zeros
	// must not keep the verifier busy).
	buf := make([]byte, 64<<10)
	var padding int64
	for {
		n, err := zr.Read(buf)
		padding += int64(n)
		if (n > 0 && len(bytes.Trim(buf[:n], "\x00")) > 0) || padding > maxPadding {
			c.problem("trailing_data", "Data after the end of the tar archive")
			return nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if _, err := br.Peek(1); err == nil {
		c.problem("trailing_data", "Data after the end of the gzip stream")
	}
	return nil
}

type kind int

const (
	kindFile kind = iota
	kindDir
	kindLink
	kindSpecial
	kindOther
)

func kindOf(h *tar.Header) kind {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return kindOther
		}
	}
	switch h.Typeflag {
	case tar.TypeReg:
		return kindFile
	case tar.TypeDir:
		return kindDir
	case tar.TypeLink, tar.TypeSymlink:
		return kindLink
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return kindSpecial
	default:
		return kindOther
	}
}

// target says where an entry's data goes: a root member or a data file.
type target struct {
	root string // member name, or "" for a data file
	data string // path relative to data/
}

// classify applies SPEC 8.1's structural rules to one entry, in the order
// verify.py does, and decides whether its data is read.
func (c *Contents) classify(raw string, k kind, size int64) (*target, error) {
	c.count++
	if c.count > c.lim.MaxMembers {
		return nil, &fatalError{"limit", fmt.Sprintf("Too many entries in archive (limit %d)", c.lim.MaxMembers)}
	}
	name := strings.TrimPrefix(raw, "./")
	if size > c.lim.MaxMemberSize {
		// Even skipping such an entry means reading it: stop here.
		return nil, &fatalError{"limit", fmt.Sprintf("Entry too large: %s (%d bytes, limit %d)", show(name), size, c.lim.MaxMemberSize)}
	}
	if k == kindDir {
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			return nil, nil // the archive's own root, as "tar -C dir ." writes it
		}
	}
	switch {
	case !PathSafe(name):
		c.problem("unsafe_path", "Unsafe path in archive: "+show(name))
		return nil, nil
	case k == kindLink:
		c.problem("link", "Link not allowed in archive: "+show(name))
		return nil, nil
	case k == kindSpecial:
		c.problem("special_file", "Device or special file not allowed in archive: "+show(name))
		return nil, nil
	case k == kindOther:
		c.problem("unsupported_type", "Unsupported entry type in archive: "+show(name))
		return nil, nil
	case c.seen[name]:
		c.problem("duplicate", "Duplicate entry in archive: "+show(name))
		return nil, nil
	}
	c.seen[name] = true
	if k == kindDir {
		if name != dataDir && !strings.HasPrefix(name, pack.DataDir) && name != transparencyDir {
			c.problem("unexpected_member", "Unexpected entry in archive: "+show(name))
		}
		return nil, nil
	}
	if limit, ok := c.rootCap(name); ok {
		if size > limit {
			c.problem("limit", fmt.Sprintf("Entry too large: %s (%d bytes, limit %d)", name, size, limit))
			return nil, nil
		}
		return &target{root: name}, nil
	}
	if rel, ok := strings.CutPrefix(name, pack.DataDir); ok {
		return &target{data: rel}, nil
	}
	c.problem("unexpected_member", "Unexpected entry in archive: "+show(name))
	return nil, nil
}

func (c *Contents) rootCap(name string) (int64, bool) {
	switch name {
	case pack.ManifestName:
		return c.lim.MaxManifestSize, true
	case pack.SignatureName, pack.PublicKeyName:
		return c.lim.MaxSmallSize, true
	case pack.LineageName:
		return c.lim.MaxLineageSize, true
	case pack.VerifyPyName, pack.ReadmeName:
		return c.lim.MaxDocSize, true
	case PackProofName:
		return c.lim.MaxProofSize, true
	case PinsProofsName:
		return c.lim.MaxProofsSize, true
	}
	return 0, false
}

// consume reads one entry's data: root members into memory (already capped
// by their declared size, and again while reading), data files into a digest.
func (c *Contents) consume(t *target, r io.Reader) error {
	if t.root != "" {
		limit, _ := c.rootCap(t.root)
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if int64(len(b)) > limit {
			c.problem("limit", fmt.Sprintf("Entry too large: %s (limit %d)", t.root, limit))
			return nil
		}
		c.Members[t.root] = b
		return nil
	}
	var q *quarantineScan
	var fns []func(n int64, line []byte, long bool)
	if agent, ok := pack.BatchPathAgent(t.data); ok {
		q = &quarantineScan{path: t.data, agent: agent}
		fns = append(fns, q.line)
	}
	if c.deep != nil {
		if fn := c.deep.lines(t.data); fn != nil {
			fns = append(fns, fn)
		}
	}
	if c.history != nil && t.data == pack.AgentsPath {
		fns = append(fns, c.history.line)
	}
	var split *lineSplit
	if len(fns) > 0 {
		split = &lineSplit{fn: func(n int64, line []byte, long bool) {
			for _, fn := range fns {
				fn(n, line, long)
			}
		}}
	}
	d, err := digest(io.LimitReader(r, c.lim.MaxMemberSize+1), split)
	if err != nil {
		return err
	}
	c.Files[t.data] = d
	if split != nil {
		split.close()
	}
	if q != nil {
		c.Quarantined = append(c.Quarantined, q.found...)
	}
	return nil
}

// digest hashes and counts a data file; q, when not nil, reads its lines.
func digest(r io.Reader, q *lineSplit) (FileDigest, error) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var d FileDigest
	var last byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if q != nil {
				q.write(buf[:n])
			}
			h.Write(buf[:n])
			d.Size += int64(n)
			d.Lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return FileDigest{}, err
		}
	}
	if d.Size > 0 && last != '\n' {
		d.Lines++
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// ReadDir reads an extracted pack from a directory with the same rules as
// ReadArchive: symbolic links are reported, never followed; entries are
// visited in lexical order.
func ReadDir(dir string, lim Limits) *Contents { return readDir(dir, lim, false, false) }

func readDir(dir string, lim Limits, deep, history bool) *Contents {
	c := newContents(lim)
	if deep {
		c.deep = newDeepScan()
	}
	if history {
		c.history = &agentsFile{}
	}
	if err := c.walk(dir, ""); err != nil {
		var fe *fatalError
		if !errors.As(err, &fe) {
			fe = &fatalError{codeUnreadable, "Cannot read: " + err.Error()}
		}
		c.problem(fe.code, fe.msg)
		c.Fatal = true
	}
	return c
}

func (c *Contents) walk(top, rel string) error {
	dir := top
	if rel != "" {
		dir = path.Join(top, rel)
	}
	f, err := os.Open(dir)
	if err != nil {
		return &fatalError{codeUnreadable, "Cannot read directory: " + show(orDot(rel))}
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return &fatalError{codeUnreadable, "Cannot read directory: " + show(orDot(rel))}
	}
	sort.Strings(names)
	for _, n := range names {
		r := n
		if rel != "" {
			r = rel + "/" + n
		}
		full := path.Join(top, r)
		st, err := os.Lstat(full)
		if err != nil {
			return &fatalError{codeUnreadable, "Cannot read: " + show(r)}
		}
		var k kind
		switch m := st.Mode(); {
		case m&os.ModeSymlink != 0:
			k = kindLink
		case m.IsDir():
			k = kindDir
		case m.IsRegular():
			k = kindFile
		default:
			k = kindSpecial
		}
		t, err := c.classify(r, k, st.Size())
		if err != nil {
			return err
		}
		switch {
		case k == kindDir && t == nil && c.seen[r]:
			if err := c.walk(top, r); err != nil {
				return err
			}
		case t != nil:
			fh, err := os.Open(full)
			if err != nil {
				return &fatalError{codeUnreadable, "Cannot read: " + show(r)}
			}
			err = c.consume(t, fh)
			fh.Close()
			if err != nil {
				return &fatalError{codeUnreadable, "Cannot read: " + show(r)}
			}
		}
	}
	return nil
}

func orDot(s string) string {
	if s == "" {
		return "."
	}
	return s
}
