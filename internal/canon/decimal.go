package canon

import (
	"math"
	"math/bits"
	"strconv"
)

// longDecimal reports whether lit, a valid JSON number, is already what
// ECMAScript prints for its double, for the literals of 16 or 17
// significant digits in plain decimal notation that producers print most:
// shortest round-trip forms such as 142.71428571428572 (Go, JavaScript and
// Python all print doubles that way). Transformer.number gathers the
// digits itself and calls shortestLong; this is the same decision from the
// literal alone, for tests.
func longDecimal(lit []byte) bool {
	body := lit
	if body[0] == '-' {
		body = body[1:]
	}
	var d uint64
	k, P, i := 0, 0, 0
	if len(body) > 1 && body[0] == '0' {
		if body[1] != '.' {
			return false
		}
		i = 2
		for i < len(body) && body[i] == '0' {
			i++
			P++
		}
		if P > 5 { // below 1e-6: exponential notation
			return false
		}
	}
	seenDot := i > 0
	for ; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '.':
			if seenDot {
				return false
			}
			seenDot = true
			continue
		case c < '0' || c > '9':
			return false // an exponent
		}
		if k == 17 {
			return false
		}
		d = d*10 + uint64(c-'0')
		k++
		if seenDot {
			P++
		}
	}
	if !seenDot || k < 16 || body[len(body)-1] == '0' || P > 19 {
		return false
	}
	return shortestLong(lit, d, P)
}

// shortestLong reports whether lit = ±d·10^-P, in plain decimal notation
// with d of 16 or 17 digits (no trailing zero) and P ≤ 19, is what
// ECMAScript prints for its double x. It proves it with exact integer
// arithmetic instead of formatting x, and says false whenever it cannot
// (the caller then formats): a false answer is never wrong, only slower.
//
// With x = m·2^-E (m of 53 bits), ECMAScript prints the fewest digits that
// read back as x, and of those the closest to x. lit is that when
//
//  1. no decimal of fewer digits reads back as x: the two multiples of
//     10^(1-P) around lit both lie outside x's rounding interval, which is
//     ±2^-E/2 wide (m is not a power of two, so both halves are equal), and
//  2. lit is the closest decimal of its length to x: |lit - x| < 10^-P/2.
//
// Scaled by 2·10^P·2^E both are comparisons of integers below 2^128.
func shortestLong(lit []byte, d uint64, P int) bool {
	// x, the double lit denotes: exact when d and 10^P are (Clinger's fast
	// path), otherwise parsed.
	var x float64
	if d < 1<<53 {
		x = float64(d) / pow10[P]
	} else {
		var err error
		if x, err = strconv.ParseFloat(string(lit), 64); err != nil {
			return false
		}
		x = math.Abs(x)
	}
	b := math.Float64bits(x)
	exp := int(b>>52) & 0x7ff
	m := b&(1<<52-1) | 1<<52
	if exp == 0 || m == 1<<52 {
		return false // subnormal, or a power of two with uneven halves
	}
	E := 1075 - exp // x = m·2^-E
	if E < 1 || bits.Len64(d)+E+5 > 127 {
		return false // out of the range the 128-bit sums below cover
	}
	pw := uint64(1)
	for range P {
		pw *= 10
	}
	xs := shl128(mul128(m, pw), 1) // 2·m·10^P: x scaled
	// 2. |d·2^(E+1) - xs| < 2^E
	if !lessThan(absDiff(shl128(u128{lo: d}, uint(E+1)), xs), shl128(u128{lo: 1}, uint(E))) {
		return false
	}
	// 1. for c = ⌊d/10⌋ and ⌊d/10⌋+1: |c·10·2^(E+1) - xs| > 10^P
	c := d / 10 * 10
	for _, v := range [2]uint64{c, c + 10} {
		if !lessThan(u128{lo: pw}, absDiff(shl128(u128{lo: v}, uint(E+1)), xs)) {
			return false
		}
	}
	return true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

type u128 struct{ hi, lo uint64 }

func mul128(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

// shl128 shifts v left by s < 128 bits (the callers keep it below 2^128).
func shl128(v u128, s uint) u128 {
	switch {
	case s == 0:
		return v
	case s >= 64:
		return u128{hi: v.lo << (s - 64)}
	default:
		return u128{hi: v.hi<<s | v.lo>>(64-s), lo: v.lo << s}
	}
}

func lessThan(a, b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func absDiff(a, b u128) u128 {
	if lessThan(a, b) {
		a, b = b, a
	}
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}
