package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Segment is one file as Seal wrote it: its lines sorted, hashed, counted
// and deflated into its piece of the segment file.
type Segment struct {
	Off, Len int64  // its deflate segment in the segment file
	CRC      uint32 // CRC-32 (IEEE) of its bytes, for the gzip trailer
	Size     int64  // uncompressed bytes
	Lines    int64
	SHA256   string // lowercase hex
}

// segmenter turns the merged lines of every file into their deflate
// segments, on two goroutines besides the merge: a file's lines (Write) are
// hashed, checksummed and counted on one, deflated into the segment file
// on the other; End closes the file's segment. Close returns the first
// error and the files' results in order.
type segmenter struct {
	free   chan []byte
	q1, q2 chan piece
	done   chan struct{}
	cur    []byte // the block being filled
	zw     *flate.Writer
	seg    *countWriter // the segment file, at its end
	out    []Segment    // one a file, in End order; set by both stages
	err    error        // the first stage error, read after done
	errMu  sync.Mutex
}

// piece is a block of a file's bytes, or (end) the end of the file.
type piece struct {
	b   []byte
	end bool
}

const segBlocks = 4

func newSegmenter(zw *flate.Writer, seg *countWriter) *segmenter {
	g := &segmenter{free: make(chan []byte, segBlocks), q1: make(chan piece, segBlocks+1),
		q2: make(chan piece, segBlocks+1), done: make(chan struct{}), zw: zw, seg: seg}
	for range segBlocks {
		g.free <- make([]byte, 0, 256<<10)
	}
	g.cur = <-g.free
	results := make(chan Segment, 1) // hash results for the deflate stage, in order
	go func() {
		defer close(g.q2)
		h := sha256.New()
		var sp Segment
		for p := range g.q1 {
			if p.end {
				sp.SHA256 = hex.EncodeToString(h.Sum(nil))
				h.Reset()
				g.q2 <- p
				results <- sp
				sp = Segment{}
				continue
			}
			h.Write(p.b)
			sp.CRC = crc32.Update(sp.CRC, crc32.IEEETable, p.b)
			sp.Size += int64(len(p.b))
			sp.Lines += int64(bytes.Count(p.b, []byte{'\n'}))
			g.q2 <- p
		}
	}()
	go func() {
		defer close(g.done)
		zw.Reset(seg)
		off := seg.n
		for p := range g.q2 {
			if p.end {
				g.fail(zw.Flush()) // the segment ends on a byte boundary
				sp := <-results
				sp.Off, sp.Len = off, seg.n-off
				g.out = append(g.out, sp)
				zw.Reset(seg)
				off = seg.n
				continue
			}
			if _, err := zw.Write(p.b); err != nil {
				g.fail(err)
			}
			g.free <- p.b[:0]
		}
	}()
	return g
}

func (g *segmenter) fail(err error) {
	if err == nil {
		return
	}
	g.errMu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.errMu.Unlock()
}

// Write adds bytes of the current file.
func (g *segmenter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(len(b), cap(g.cur)-len(g.cur))
		g.cur = append(g.cur, b[:k]...)
		b = b[k:]
		if len(g.cur) == cap(g.cur) {
			g.q1 <- piece{b: g.cur}
			g.cur = <-g.free
		}
	}
	return n, nil
}

// End ends the current file.
func (g *segmenter) End() {
	if len(g.cur) > 0 {
		g.q1 <- piece{b: g.cur}
		g.cur = <-g.free
	}
	g.q1 <- piece{end: true}
}

// Close waits for both stages and returns the files' results in End order.
func (g *segmenter) Close() ([]Segment, error) {
	close(g.q1)
	<-g.done
	return g.out, g.err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
