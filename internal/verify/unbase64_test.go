package verify

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// TestUnbase64Append holds the batch body's decoder to unbase64 (decode,
// then the encoding must be the canonical one) on awkward and random input.
func TestUnbase64Append(t *testing.T) {
	cases := []string{"", "QQ==", "QR==", "QQ=", "QQ", "QUI=", "QUJ=", "QUJD", "QU\nJD", "QU\rJD", "QUJD\n",
		"QQ==QQ==", "QQ==\n", "====", "Q===", "QUJD====", " QUJD", "QUJD ", "QU JD", "QUJD/+==", "-_==", "QUJDRA=="}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\r -_")
	for range 20000 {
		if rng.IntN(2) == 0 {
			b := make([]byte, rng.IntN(12))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			s := []byte(base64.StdEncoding.EncodeToString(b))
			if len(s) > 0 && rng.IntN(2) == 0 { // one change
				s[rng.IntN(len(s))] = alphabet[rng.IntN(len(alphabet))]
			}
			cases = append(cases, string(s))
			continue
		}
		s := make([]byte, rng.IntN(13))
		for i := range s {
			s[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(s))
	}
	for _, c := range cases {
		want, err := unbase64(c)
		got, ok := unbase64Append(nil, []byte(c))
		if ok != (err == nil) || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("%q: unbase64Append = %x, %v; unbase64 = %x, %v", c, got, ok, want, err)
		}
	}
}
