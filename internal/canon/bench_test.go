package canon_test

import (
	"strings"
	"testing"

	"github.com/monsys/hub/internal/canon"
)

// BenchmarkTransformNumbers canonicalizes numbers that are not already in
// ECMAScript's form (exponents, trailing zeros, more than 15 integer or 17
// significant digits) and 17-digit decimals beyond 2^53 that must be proved
// shortest: every one is read with strconv.ParseFloat, the conversions of
// the literal to a string included.
func BenchmarkTransformNumbers(b *testing.B) {
	forms := []string{"1.50", "2.0e3", "-0.000000123", "12345678901234567890", "3.14159265358979323846", "1E-7", "100.000", "6.02214076e23", "0.12345678901234567"}
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(forms[i%len(forms)])
	}
	sb.WriteByte(']')
	in := []byte(sb.String())
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := canon.Transform(in); err != nil {
			b.Fatal(err)
		}
	}
}
