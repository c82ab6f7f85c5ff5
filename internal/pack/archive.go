package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/monsys/hub/internal/pack/internal/spool"
)

// dataFile is one file under data/ as the spool sealed it.
type dataFile struct {
	path string // relative to data/
	spool.Segment
}

// member is one small file at the root of a pack.
type member struct {
	name string
	body []byte
}

// rootMembers are the files at the root of a pack, in archive order
// (docs/evidence-pack.md, "Archive").
func rootMembers(man *Manifest, manJSON, manSig []byte, pub ed25519.PublicKey, lineageJSON []byte, fileName string) ([]member, error) {
	pubPEM, err := PublicKeyPEM(pub)
	if err != nil {
		return nil, err
	}
	return []member{
		{ManifestName, manJSON},
		{SignatureName, []byte(hex.EncodeToString(manSig))},
		{PublicKeyName, pubPEM},
		{LineageName, lineageJSON},
		{VerifyPyName, verifyPy},
		{ReadmeName, []byte(readmeText(man, fileName))},
	}, nil
}

// writeArchive writes the tar.gz to w: the root members, then each data
// file spliced from its segment, then the tail (transparency/). Every
// entry's mtime is generated_at. It returns the bytes written.
func (b *Builder) writeArchive(ctx context.Context, w io.Writer, root []member, files []dataFile, tail []member) (int64, error) {
	mtime := b.meta.GeneratedAt
	gz, err := b.spool.Gzip(w)
	if err != nil {
		return 0, fmt.Errorf("pack: write gzip header: %w", err)
	}
	for _, m := range root {
		if err := writeMember(gz, m.name, m.body, mtime); err != nil {
			return 0, err
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("pack: write data: %w", err)
		}
		name := DataDir + f.path
		hdr, err := tarHeaderBytes(tarHeader(name, f.Size, mtime))
		if err != nil {
			return 0, err
		}
		if _, err := gz.Write(hdr); err != nil {
			return 0, fmt.Errorf("pack: write %s: %w", name, err)
		}
		if err := gz.Splice(f.Segment); err != nil {
			return 0, fmt.Errorf("pack: write %s: %w", name, err)
		}
		if _, err := gz.Write(tarPadding(f.Size)); err != nil {
			return 0, fmt.Errorf("pack: write %s: %w", name, err)
		}
	}
	for _, m := range tail {
		if err := writeMember(gz, m.name, m.body, mtime); err != nil {
			return 0, err
		}
	}
	if _, err := gz.Write(tarEnd); err != nil {
		return 0, fmt.Errorf("pack: close tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return 0, fmt.Errorf("pack: close gzip: %w", err)
	}
	return gz.Written(), nil
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
func writeMember(w io.Writer, name string, body []byte, mtime time.Time) error {
	hdr, err := tarHeaderBytes(tarHeader(name, int64(len(body)), mtime))
	if err != nil {
		return err
	}
	for _, p := range [][]byte{hdr, body, tarPadding(int64(len(body)))} {
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("pack: write %s: %w", name, err)
		}
	}
	return nil
}

// tarHeaderBytes is what archive/tar writes for h before the member's data
// (with PAX records when the name needs them).
func tarHeaderBytes(h *tar.Header) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf) // not closed: the data is written elsewhere
	if err := tw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("pack: tar header of %s: %w", h.Name, err)
	}
	return buf.Bytes(), nil
}

// tarPadding is the zero padding after a member of size bytes.
func tarPadding(size int64) []byte {
	return make([]byte, (tarBlock-size%tarBlock)%tarBlock)
}

const tarBlock = 512

// tarEnd is the end-of-archive marker: two zero blocks.
var tarEnd = make([]byte, 2*tarBlock)
