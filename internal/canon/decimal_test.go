package canon

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestLongDecimal checks longDecimal against formatting the double: it may
// only say true when AppendNumber prints the literal unchanged, and it must
// say true for most shortest forms of 16 and 17 digits (or it is useless).
// Transform, which decides the same in its own pass over the digits, must
// print every literal as AppendNumber does.
// Literals: shortest forms, 17-digit forms (%.17g, often not shortest),
// 16-digit roundings, and neighbours one unit away, of doubles from 1e-7 to
// 1e17, including near powers of two and of ten.
func TestLongDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var checked, long, hits int
	check := func(lit string) {
		t.Helper()
		if _, err := strconv.ParseFloat(lit, 64); err != nil {
			return
		}
		f, _ := strconv.ParseFloat(lit, 64)
		want, err := AppendNumber(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		got := longDecimal([]byte(lit))
		checked++
		if out, err := Transform([]byte(lit)); json.Valid([]byte(lit)) && (err != nil || string(out) != string(want)) {
			t.Fatalf("Transform(%q) = %q, %v; want %q", lit, out, err, want)
		}
		if got && string(want) != lit {
			t.Fatalf("longDecimal(%q) = true, but it prints as %q", lit, want)
		}
		if string(want) == lit {
			if n := sigDigits(lit); n >= 16 && n <= 17 && math.Abs(f) >= 1e-3 && math.Abs(f) < 1e15 {
				long++
				if got {
					hits++
				}
			}
		}
	}
	vary := func(lit string) {
		check(lit)
		// One unit up and down in the last digit.
		b := []byte(lit)
		for _, delta := range []int{1, -1} {
			c := append([]byte(nil), b...)
			for i := len(c) - 1; i >= 0; i-- {
				if c[i] < '0' || c[i] > '9' {
					continue
				}
				v := int(c[i]-'0') + delta
				if v >= 0 && v <= 9 {
					c[i] = byte('0' + v)
					break
				}
				if v > 9 {
					c[i] = '0'
				} else {
					c[i] = '9'
				}
			}
			check(string(c))
		}
	}
	for range 120000 {
		var f float64
		switch r.IntN(4) {
		case 0:
			f = math.Pow(10, r.Float64()*24-7) // 1e-7 … 1e17
		case 1:
			f = float64(r.IntN(1000000)) / float64(1+r.IntN(999)) // ratios, as metrics are
		case 2:
			e := r.IntN(80) - 23 // next to powers of two
			f = math.Nextafter(math.Ldexp(1, e), math.Inf(int(r.IntN(2))*2-1))
		default:
			f = math.Pow(10, float64(r.IntN(22)-6)) * (1 + r.Float64()*1e-15) // next to powers of ten
		}
		if r.IntN(2) == 0 {
			f = -f
		}
		vary(strconv.FormatFloat(f, 'f', -1, 64))
		vary(strconv.FormatFloat(f, 'g', 17, 64))
		vary(strconv.FormatFloat(f, 'g', 16, 64))
	}
	if hits < long*95/100 {
		t.Fatalf("longDecimal proved %d of %d canonical 16-17 digit literals", hits, long)
	}
	t.Logf("%d literals checked; %d of %d canonical 16-17 digit ones proved", checked, hits, long)
}

func sigDigits(lit string) int {
	n, lead := 0, true
	for _, c := range lit {
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' || (lead && c == '0') {
			continue
		}
		lead = false
		n++
	}
	return n
}
