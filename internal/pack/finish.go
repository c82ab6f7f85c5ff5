package pack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/monsys/hub/internal/sig"
)

// Finish builds manifest.json, has the Signer sign its SHA-256, checks the
// signature against Meta.PublicKey and writes the deterministic tar.gz to w.
// It does not close w. The same data and Meta give the same bytes.
func (b *Builder) Finish(ctx context.Context, w io.Writer) (*Result, error) {
	paths, err := b.finishable()
	if err != nil {
		return nil, err
	}
	b.finished = true
	defer b.Close()
	files, err := b.seal(ctx, paths)
	if err != nil {
		return nil, err
	}
	m := b.meta
	lineageJSON, err := m.Lineage.AsOf(m.GeneratedAt).MarshalCanonical()
	if err != nil {
		return nil, fmt.Errorf("pack: key lineage: %w", err)
	}
	man := newManifest(m, files, lineageJSON)
	if b.format1 {
		man.FormatVersion = 1
	}
	manJSON, err := man.MarshalCanonical()
	if err != nil {
		return nil, fmt.Errorf("pack: manifest: %w", err)
	}
	digest := sha256.Sum256(manJSON)
	manSig, err := sign(ctx, b.signer, m.SigningKeyID, m.PublicKey, digest[:])
	if err != nil {
		return nil, err
	}
	name, err := FileName(m.TenantID, m.PeriodStart, m.PeriodEnd)
	if err != nil {
		return nil, err
	}
	root, err := rootMembers(&man, manJSON, manSig, m.PublicKey, lineageJSON, name)
	if err != nil {
		return nil, err
	}
	res := &Result{FileName: name, Manifest: man, ManifestJSON: manJSON, ManifestSHA256: hex.EncodeToString(digest[:]),
		Signature: manSig, Fingerprint: Fingerprint(m.PublicKey), KeyHistory: b.keyHistory}
	for _, f := range files {
		res.Records += f.Lines
		res.DataBytes += f.Size
	}
	// transparency/ comes after signing (SPEC 8): the pack is logged once
	// its manifest exists, and nothing is written before it is.
	var tail []member
	if b.prove != nil {
		if tail, err = b.transparencyMembers(ctx, res); err != nil {
			return nil, err
		}
	}
	if res.Size, err = b.writeArchive(ctx, w, root, files, tail); err != nil {
		return nil, err
	}
	return res, nil
}

// finishable says whether the builder can be finished: open, unbroken,
// every file closed, and no path that is also another's directory. It
// returns the paths in manifest order.
func (b *Builder) finishable() ([]string, error) {
	if b.closed || b.finished {
		return nil, ErrClosed
	}
	if err := b.spool.Err(); err != nil {
		return nil, fmt.Errorf("pack: a data file failed: %w", err)
	}
	if err := b.spool.Flush(); err != nil {
		return nil, err
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
	return paths, nil
}

// seal has the spool merge, hash, count and deflate every file, and
// returns them in paths' order.
func (b *Builder) seal(ctx context.Context, paths []string) ([]dataFile, error) {
	segs, err := b.spool.Seal(ctx)
	if err != nil {
		return nil, err
	}
	files := make([]dataFile, 0, len(paths))
	for _, p := range paths {
		files = append(files, dataFile{path: p, Segment: segs[b.files[p].id]})
	}
	return files, nil
}

// newManifest is manifest.json (SPEC 8) of a pack of meta holding files
// and the key lineage lineageJSON.
func newManifest(m Meta, files []dataFile, lineageJSON []byte) Manifest {
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
		man.Files = append(man.Files, FileEntry{Path: f.path, SHA256: f.SHA256, RecordCount: f.Lines})
	}
	man.InputsHash = InputsHash(man.Files)
	return man
}

// sign has signer sign the manifest's digest and checks the signature
// against pub, so that no pack goes out that its verifiers reject.
func sign(ctx context.Context, signer Signer, keyID string, pub ed25519.PublicKey, digest []byte) ([]byte, error) {
	s, err := signer.SignDigest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("pack: sign manifest: %w", err)
	}
	if sig.VerifyEd25519(pub, digest, s) != nil {
		return nil, fmt.Errorf("%w: manifest signature by %q", ErrSignature, keyID)
	}
	return s, nil
}
