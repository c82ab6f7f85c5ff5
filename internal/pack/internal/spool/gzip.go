package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
)

// A pack's gzip stream is assembled from deflate pieces: every data file is
// deflated once, as the merge of the sorted runs produces it, into a
// segment that ends with a sync flush (an empty stored block, so it ends on
// a byte boundary) and refers to nothing before it. The archive's own
// bytes (tar headers, small members) are deflated around them, flushing
// the same way before each segment and starting a fresh compressor after
// it. The result is one ordinary gzip member (RFC 1952) whose deflate
// stream (RFC 1951) is a sequence of non-final blocks ended by a final
// one; any gzip reader reads it. Its CRC-32 is combined from the pieces'
// CRCs.

// Gzip writes one gzip member from plain bytes (Write) and the spool's
// segments (Splice).
type Gzip struct {
	s *gzipStream
	w *countWriter
	f io.ReaderAt // the segment file
}

// Gzip starts a gzip member on w. Seal must have been called; the spool
// must stay open until the member is closed.
func (s *Spool) Gzip(w io.Writer) (*Gzip, error) {
	if s.segs == nil {
		return nil, errors.New("pack: gzip before seal")
	}
	cw := &countWriter{w: w}
	gz, err := newGzipStream(cw, s.zw, s.opts.Level)
	if err != nil {
		return nil, err
	}
	return &Gzip{s: gz, w: cw, f: s.segs}, nil
}

// Write deflates p.
func (g *Gzip) Write(p []byte) (int, error) { return g.s.Write(p) }

// Splice copies a file's deflate segment into the member.
func (g *Gzip) Splice(seg Segment) error {
	if seg.Size == 0 {
		return nil
	}
	return g.s.Splice(io.NewSectionReader(g.f, seg.Off, seg.Len), seg.Size, seg.CRC)
}

// Close writes the final block and the trailer.
func (g *Gzip) Close() error { return g.s.Close() }

// Written is how many bytes the member has taken so far on w.
func (g *Gzip) Written() int64 { return g.w.n }

// gzipStream writes one gzip member to w from plain bytes (Write) and
// deflate segments (Splice).
type gzipStream struct {
	w    io.Writer
	zw   *flate.Writer
	crc  uint32
	size int64 // uncompressed bytes; the trailer keeps them mod 2^32
}

// newGzipStream writes the gzip header: no name, comment or time, XFL as
// compress/gzip sets it for the level, OS 255 (unknown).
func newGzipStream(w io.Writer, zw *flate.Writer, level int) (*gzipStream, error) {
	hdr := [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	switch level {
	case flate.BestCompression:
		hdr[8] = 2
	case flate.BestSpeed:
		hdr[8] = 4
	}
	if _, err := w.Write(hdr[:]); err != nil {
		return nil, err
	}
	zw.Reset(w)
	return &gzipStream{w: w, zw: zw}, nil
}

// Write deflates p.
func (g *gzipStream) Write(p []byte) (int, error) {
	n, err := g.zw.Write(p)
	g.crc = crc32.Update(g.crc, crc32.IEEETable, p[:n])
	g.size += int64(n)
	return n, err
}

// Splice ends the current deflate run on a byte boundary and copies seg, a
// deflate segment of size uncompressed bytes with CRC-32 crc, after it.
func (g *gzipStream) Splice(seg io.Reader, size int64, crc uint32) error {
	if err := g.zw.Flush(); err != nil {
		return err
	}
	if _, err := io.Copy(g.w, seg); err != nil {
		return err
	}
	g.zw.Reset(g.w) // what follows must not refer back across the segment
	g.crc = crc32Combine(g.crc, crc, size)
	g.size += size
	return nil
}

// Close writes the final block and the trailer.
func (g *gzipStream) Close() error {
	if err := g.zw.Close(); err != nil {
		return err
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:4], g.crc)
	binary.LittleEndian.PutUint32(tr[4:], uint32(g.size))
	_, err := g.w.Write(tr[:])
	return err
}

// crc32Combine returns the CRC-32 (IEEE) of A followed by B from crcA, crcB
// and len(B), as zlib's crc32_combine does: CRCs are remainders of
// polynomial division over GF(2), so crc(A‖B) = crc(A)·x^(8·len(B)) ⊕
// crc(B) modulo the CRC polynomial (the pre- and post-conditioning cancel
// out). Polynomials are bit-reflected, as in the table-driven CRC: bit 31
// is x^0.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

// mulModP multiplies a and b modulo the reflected IEEE polynomial.
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// x2k[k] is x^(2^k) modulo the polynomial.
var x2k = func() (t [66]uint32) { // n < 2^63: k <= 3+62
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = mulModP(p, p)
	}
	return t
}()

// xPow8n is x^(8n) modulo the polynomial.
func xPow8n(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = mulModP(x2k[k], p)
		}
	}
	return p
}
