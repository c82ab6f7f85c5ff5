package canon

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestSpecialMask checks the 8-byte string scan against the byte table:
// the lowest flagged byte is the first special one (none flagged when there
// is none), for every byte value at every position among plain characters,
// then for random words mixing all kinds of bytes.
func TestSpecialMask(t *testing.T) {
	first := func(b []byte) int {
		for i, c := range b {
			if special[c] {
				return i
			}
		}
		return 8
	}
	got := func(b []byte) int {
		m := specialMask(binary.LittleEndian.Uint64(b))
		if m == 0 {
			return 8
		}
		return bits.TrailingZeros64(m) >> 3
	}
	var b [8]byte
	for pos := range 8 {
		for c := range 256 {
			for i := range b {
				b[i] = 'a' + byte(i)
			}
			b[pos] = byte(c)
			if g, w := got(b[:]), first(b[:]); g != w {
				t.Fatalf("specialMask(%q): first special byte %d, want %d", b, g, w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	kinds := []byte{0x00, 0x1f, 0x20, 0x21, '"', 0x23, '[', '\\', ']', 0x7e, 0x7f, 0x80, 0xc3, 0xf0, 0xff}
	for range 200000 {
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = kinds[r.IntN(len(kinds))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		if g, w := got(b[:]), first(b[:]); g != w {
			t.Fatalf("specialMask(%q): first special byte %d, want %d", b, g, w)
		}
	}
}
