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

// TestShapeReuse runs records through one Transformer, so that each may
// reuse the key order of one before: same keys, same keys spelled with
// escapes, a duplicate where a record before had two different keys,
// nested objects and arrays of the same shape, kinds that alternate.
func TestShapeReuse(t *testing.T) {
	var tr Transformer
	for _, tc := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"b":"x","a":[3]}`, `{"a":[3],"b":"x"}`},
		{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"b":1,"b":2}`, "error"},
		{`{"a":1,"b":2}`, `{"a":1,"b":2}`},
		{`{"b":{"d":1,"c":2},"a":{"b":1,"a":2}}`, `{"a":{"a":2,"b":1},"b":{"c":2,"d":1}}`},
		{`{"b":1,"a":2,"c":3}`, `{"a":2,"b":1,"c":3}`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"a":1,"b":2,"a":3}`, "error"},
		{`[{"b":1,"a":2},{"b":1,"a":2}]`, `[{"a":2,"b":1},{"a":2,"b":1}]`},
		{`{"\uffff":1,"😀":2}`, "{\"😀\":2,\"\uffff\":1}"},
		{`{"\uffff":3,"😀":4}`, "{\"😀\":4,\"\uffff\":3}"},
		// Kinds that alternate, each reusing its own order.
		{`{"type":"m","ts":"t","v":1}`, `{"ts":"t","type":"m","v":1}`},
		{`{"type":"p","ts":"t","pid":1,"exe":"x"}`, `{"exe":"x","pid":1,"ts":"t","type":"p"}`},
		{`{"type":"m","ts":"u","v":2}`, `{"ts":"u","type":"m","v":2}`},
		{`{"type":"p","ts":"u","pid":2,"exe":"y"}`, `{"exe":"y","pid":2,"ts":"u","type":"p"}`},
		{`{"type":"p","ts":"u","pid":2,"pid":3}`, "error"},
		{`{"type":"m","ts":"u","type":3}`, "error"},
		{`{"type":"m","ts":"u","\u0074s":3}`, "error"},
		{`{"type":"m","v":1,"ts":"u"}`, `{"ts":"u","type":"m","v":1}`},
	} {
		got, err := tr.Append(nil, []byte(tc.in))
		if tc.want == "error" {
			if err == nil {
				t.Fatalf("Append(%s) = %s, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Fatalf("Append(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
