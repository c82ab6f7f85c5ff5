package packtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Member is one tar entry of a pack: its header and its content.
type Member struct {
	Hdr  tar.Header
	Body []byte
}

// Unpack reads every entry of a tar.gz without judging any of them, so tests
// can change a pack the way an attacker with ordinary tools would.
func Unpack(tgz []byte) ([]Member, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("packtest: unpack: %w", err)
	}
	tr := tar.NewReader(zr)
	var ms []Member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ms, nil
		}
		if err != nil {
			return nil, fmt.Errorf("packtest: unpack: %w", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("packtest: unpack %s: %w", h.Name, err)
		}
		ms = append(ms, Member{Hdr: *h, Body: body})
	}
}

// Repack writes members with archive/tar and compress/gzip, keeping each
// header but the size of regular files, which follows the body.
func Repack(ms []Member) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		h := m.Hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("packtest: repack %s: %w", h.Name, err)
		}
		if len(m.Body) > 0 {
			if _, err := tw.Write(m.Body); err != nil {
				return nil, fmt.Errorf("packtest: repack %s: %w", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("packtest: repack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("packtest: repack: %w", err)
	}
	return buf.Bytes(), nil
}

// FlipByte returns a copy of the pack with one bit of one data file changed,
// as an auditor checking verify.py would: the anomalies file when it has
// content, else the first data file that has. It names the file changed;
// every other member, verify.py included, is kept as it is.
func FlipByte(tgz []byte) ([]byte, string, error) {
	ms, err := Unpack(tgz)
	if err != nil {
		return nil, "", err
	}
	victim := -1
	for i, m := range ms {
		if m.Hdr.Typeflag == tar.TypeReg && strings.HasPrefix(m.Hdr.Name, "data/") && len(m.Body) > 0 &&
			(victim < 0 || m.Hdr.Name == "data/alerts/anomalies.ndjson") {
			victim = i
		}
	}
	if victim < 0 {
		return nil, "", errors.New("packtest: the pack has no data file to tamper with")
	}
	b := bytes.Clone(ms[victim].Body)
	i := bytes.IndexByte(b, ':') + 2 // inside the first value
	if i < 2 || i >= len(b) {
		i = 0
	}
	b[i] ^= 0x01
	ms[victim].Body = b
	out, err := Repack(ms)
	if err != nil {
		return nil, "", err
	}
	return out, ms[victim].Hdr.Name, nil
}

// Contents reads a pack archive into its members' contents by name (what a
// test reads back from a stored pack); a tar.gz it cannot read fails tb.
func Contents(tb testing.TB, tgz []byte) map[string][]byte {
	tb.Helper()
	ms, err := Unpack(tgz)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string][]byte, len(ms))
	for _, m := range ms {
		out[m.Hdr.Name] = m.Body
	}
	return out
}
