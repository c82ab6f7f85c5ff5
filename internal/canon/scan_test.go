package canon

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestHasSpecial checks the 8-byte string scan against the byte table: every
// byte value at every position among plain characters, then random words
// mixing all kinds of bytes.
func TestHasSpecial(t *testing.T) {
	want := func(b []byte) bool {
		for _, c := range b {
			if special[c] {
				return true
			}
		}
		return false
	}
	var b [8]byte
	for pos := range 8 {
		for c := range 256 {
			for i := range b {
				b[i] = 'a' + byte(i)
			}
			b[pos] = byte(c)
			if got := hasSpecial(binary.LittleEndian.Uint64(b[:])); got != want(b[:]) {
				t.Fatalf("hasSpecial(%q) = %v", b, got)
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
		if got := hasSpecial(binary.LittleEndian.Uint64(b[:])); got != want(b[:]) {
			t.Fatalf("hasSpecial(%q) = %v", b, got)
		}
	}
}
