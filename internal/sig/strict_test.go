package sig_test

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"filippo.io/edwards25519"

	"github.com/monsys/hub/internal/sig"
)

// The Ed25519 edge-case vectors of SPEC 3, shared with verify.py's tests
// (internal/pack/verify_test.py reads the same files). Each file is a list of
// vectors; every vector names the edge cases it exercises in flags, and valid
// is what strict verification must answer.
var vectorFiles = []string{
	"rfc8032.json",         // RFC 8032 section 7.1 and two S-bound cases
	"speccheck.json",       // "Taming the many EdDSAs" (ed25519-speccheck)
	"ed25519vectors.json",  // every small-order A and R encoding, mixed orders
	constructedVectorsFile, // made by this file: forgeries, identity R, S + nL
}

const constructedVectorsFile = "constructed.json"

// strictRejects are the flags that make a signature invalid under SPEC 3.
var strictRejects = []string{"low_order_A", "low_order_R", "non_canonical_A", "non_canonical_R",
	"low_order_residue", "s_out_of_range", "reencoded_k", "wrong_message"}

// stdlibRejects are the flags that Go's crypto/ed25519 (like OpenSSL) refuses
// on its own: non-canonical R, S >= L and a failed cofactorless equation. It
// accepts small-order and non-canonical public keys and small-order R. The
// tests hold crypto/ed25519 to this rule as an independent check that the
// vectors were transcribed and flagged correctly.
var stdlibRejects = []string{"non_canonical_R", "low_order_residue", "s_out_of_range", "reencoded_k", "wrong_message"}

// keyRejects are the flags that make a public key unusable (SPEC 3, 4.1).
var keyRejects = []string{"low_order_A", "non_canonical_A", "not_on_curve"}

type edVector struct {
	Name      string   `json:"name"`
	Flags     []string `json:"flags"`
	Seed      string   `json:"seed,omitempty"`
	Public    string   `json:"public"`
	Message   string   `json:"message"`
	Signature string   `json:"signature"`
	Valid     bool     `json:"valid"`
}

type keyVector struct {
	Name   string   `json:"name"`
	Flags  []string `json:"flags"`
	Public string   `json:"public"`
	OK     bool     `json:"ok"`
}

type vectorDoc struct {
	Source  string      `json:"source"`
	Vectors []edVector  `json:"vectors"`
	Keys    []keyVector `json:"keys,omitempty"`
}

func anyFlag(flags, set []string) bool {
	return slices.ContainsFunc(flags, func(f string) bool { return slices.Contains(set, f) })
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func readDoc(t *testing.T, name string) vectorDoc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "ed25519", name))
	if err != nil {
		t.Fatalf("read %s (regenerate constructed.json with go test ./internal/sig -run TestStrictVectors -update): %v", name, err)
	}
	var d vectorDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if d.Source == "" || len(d.Vectors) == 0 {
		t.Fatalf("%s: no source or no vectors", name)
	}
	return d
}

// TestStrictVectors runs every vector through VerifyEd25519 and, as a check
// on the data, through crypto/ed25519.
func TestStrictVectors(t *testing.T) {
	if *update {
		writeConstructed(t)
	}
	total, valid := 0, 0
	for _, file := range vectorFiles {
		d := readDoc(t, file)
		for _, v := range d.Vectors {
			total++
			name := "fail/" + v.Name
			if v.Valid {
				name, valid = "ok/"+v.Name, valid+1
			}
			t.Run(name, func(t *testing.T) {
				pub, msg, s := unhex(t, v.Public), unhex(t, v.Message), unhex(t, v.Signature)
				if want := !anyFlag(v.Flags, strictRejects); v.Valid != want {
					t.Fatalf("the file says valid=%v, but flags %v say %v", v.Valid, v.Flags, want)
				}
				if got, want := ed25519.Verify(pub, msg, s), !anyFlag(v.Flags, stdlibRejects); got != want {
					t.Fatalf("crypto/ed25519.Verify = %v, flags %v say %v: the vector is wrong", got, v.Flags, want)
				}
				if v.Seed != "" {
					k := ed25519.NewKeyFromSeed(unhex(t, v.Seed))
					if hex.EncodeToString(k.Public().(ed25519.PublicKey)) != v.Public {
						t.Fatal("public key is not the one of seed")
					}
					if v.Valid && hex.EncodeToString(ed25519.Sign(k, msg)) != v.Signature {
						t.Fatal("signing again from seed gives another signature")
					}
				}
				// First under a key never seen (every check one by one),
				// then again once the key is known (the fast path): the
				// same answer, the same reason.
				sig.ForgetKeys()
				err := sig.VerifyEd25519(pub, msg, s)
				if sig.CheckPublicKey(pub) == nil && sig.CheckedKeys() != 1 {
					t.Fatal("a good key was not remembered")
				}
				if again := sig.VerifyEd25519(pub, msg, s); fmt.Sprint(again) != fmt.Sprint(err) {
					t.Fatalf("with the key known: %v, first: %v", again, err)
				}
				if v.Valid && err != nil {
					t.Fatalf("VerifyEd25519: %v", err)
				}
				if !v.Valid && err == nil {
					t.Fatalf("VerifyEd25519 accepted a signature flagged %v", v.Flags)
				}
			})
		}
	}
	if total < 800 || valid < 50 {
		t.Fatalf("only %d vectors (%d valid)", total, valid)
	}
}

// TestStrictKeys runs the key encodings through CheckPublicKey.
func TestStrictKeys(t *testing.T) {
	d := readDoc(t, constructedVectorsFile)
	if len(d.Keys) < 30 {
		t.Fatalf("only %d keys", len(d.Keys))
	}
	for _, k := range d.Keys {
		name := "fail/" + k.Name
		if k.OK {
			name = "ok/" + k.Name
		}
		t.Run(name, func(t *testing.T) {
			if want := !anyFlag(k.Flags, keyRejects); k.OK != want {
				t.Fatalf("the file says ok=%v, but flags %v say %v", k.OK, k.Flags, want)
			}
			err := sig.CheckPublicKey(unhex(t, k.Public))
			if k.OK && err != nil {
				t.Fatalf("CheckPublicKey: %v", err)
			}
			if !k.OK && err == nil {
				t.Fatalf("CheckPublicKey accepted a key flagged %v", k.Flags)
			}
		})
	}
}

// --- constructed.json

// lowOrderEncodings are the 14 encodings of the eight points of small order:
// each canonical one, then its non-canonical alternatives (y >= p, or x = 0
// with the sign bit set). The test checks each against edwards25519.
var lowOrderEncodings = []struct {
	hex       string
	order     int
	canonical bool
}{
	{"0100000000000000000000000000000000000000000000000000000000000000", 1, true},
	{"0100000000000000000000000000000000000000000000000000000000000080", 1, false},
	{"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 1, false},
	{"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 1, false},
	{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 2, true},
	{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 2, false},
	{"0000000000000000000000000000000000000000000000000000000000000000", 4, true},
	{"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 4, false},
	{"0000000000000000000000000000000000000000000000000000000000000080", 4, true},
	{"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 4, false},
	{"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", 8, true},
	{"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", 8, true},
	{"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", 8, true},
	{"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", 8, true},
}

// TestLowOrderEncodings checks the table above with edwards25519: every
// encoding decodes, has the stated order, and is canonical exactly when it
// says so; and the canonical ones are eight distinct points.
func TestLowOrderEncodings(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range lowOrderEncodings {
		b := unhex(t, e.hex)
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			t.Fatalf("%s does not decode: %v", e.hex, err)
		}
		if got := hex.EncodeToString(p.Bytes()) == e.hex; got != e.canonical {
			t.Fatalf("%s: canonical = %v, want %v", e.hex, got, e.canonical)
		}
		q, order := new(edwards25519.Point).Set(p), 1
		for q.Equal(edwards25519.NewIdentityPoint()) != 1 {
			q.Add(q, p)
			order++
			if order > 8 {
				t.Fatalf("%s is not of small order", e.hex)
			}
		}
		if order != e.order {
			t.Fatalf("%s has order %d, want %d", e.hex, order, e.order)
		}
		seen[hex.EncodeToString(p.Bytes())] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d distinct small-order points, want 8", len(seen))
	}
}

// TestSmallOrderSet checks that the encodings VerifyEd25519's fast path
// refuses as R are exactly the canonical encodings of the table above.
func TestSmallOrderSet(t *testing.T) {
	var want, got []string
	for _, e := range lowOrderEncodings {
		if e.canonical {
			want = append(want, e.hex)
		}
	}
	for _, b := range sig.SmallOrderEncodings() {
		got = append(got, hex.EncodeToString(b[:]))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("fast path refuses R in\n%v\nwant the canonical small-order encodings\n%v", got, want)
	}
}

// TestCheckedKeysBounded: the set of checked keys never holds more than its
// bound, and a key it forgot is checked again.
func TestCheckedKeysBounded(t *testing.T) {
	sig.ForgetKeys()
	var first ed25519.PrivateKey
	for i := range sig.MaxGoodKeys + 1 {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint32(seed, uint32(i))
		k := ed25519.NewKeyFromSeed(seed)
		if i == 0 {
			first = k
		}
		if err := sig.CheckPublicKey(k.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
		if n := sig.CheckedKeys(); n > sig.MaxGoodKeys {
			t.Fatalf("%d keys held, bound %d", n, sig.MaxGoodKeys)
		}
	}
	msg := []byte("after the set was emptied")
	if err := sig.VerifyEd25519(first.Public().(ed25519.PublicKey), msg, ed25519.Sign(first, msg)); err != nil {
		t.Fatal(err)
	}
	if err := sig.VerifyEd25519(first.Public().(ed25519.PublicKey), []byte("other"), ed25519.Sign(first, msg)); err == nil {
		t.Fatal("a wrong message verified under a forgotten key")
	}
}

func lowOrderFlags(canonical bool, point string) []string {
	if canonical {
		return []string{"low_order_" + point}
	}
	return []string{"low_order_" + point, "non_canonical_" + point}
}

// constructed makes the vectors that the published sets leave out, all
// deterministic: the keyless forgery of the issue against every small-order
// key encoding, R = identity under a real key, S + nL, and a wrong message;
// and the key encodings: small order, y >= p, and not on the curve.
func constructed(t testing.TB) vectorDoc {
	t.Helper()
	d := vectorDoc{Source: "made by constructed() in internal/sig/strict_test.go (go test ./internal/sig -run TestStrictVectors -update)"}
	seed := unhex(t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60") // RFC 8032 TEST 1
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	base := edwards25519.NewGeneratorPoint().Bytes()

	// The forgery: R = B and S = 1 satisfy [S]B = R + [k]A whenever [k]A is
	// the identity, which for a small-order A happens for a fraction 1/order
	// of all messages; crypto/ed25519 then accepts a signature made without
	// any private key.
	one := make([]byte, 32)
	one[0] = 1
	forged := append(slices.Clone(base), one...)
	for _, e := range lowOrderEncodings {
		a := unhex(t, e.hex)
		var msg []byte
		for i := 0; ; i++ {
			msg = fmt.Appendf(nil, "monsys keyless forgery %d", i)
			if ed25519.Verify(a, msg, forged) {
				break
			}
			if i > 1000 {
				t.Fatalf("no message found for %s", e.hex)
			}
		}
		d.Vectors = append(d.Vectors, edVector{Name: "constructed/forgery R=B S=1 A=" + e.hex, Flags: lowOrderFlags(e.canonical, "A"),
			Public: e.hex, Message: hex.EncodeToString(msg), Signature: hex.EncodeToString(forged)})
	}

	// R = identity under a real key: S = k*a makes [S]B - [k]A the identity,
	// which only the key's owner can do; the non-canonical identity encodings
	// are refused by byte comparison already.
	h := sha512.Sum512(seed)
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range lowOrderEncodings[:4] {
		r := unhex(t, e.hex)
		msg := []byte("monsys identity R")
		kh := sha512.New()
		kh.Write(r)
		kh.Write(pub)
		kh.Write(msg)
		k, err := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		s := new(edwards25519.Scalar).Multiply(k, a)
		d.Vectors = append(d.Vectors, edVector{Name: "constructed/identity R=" + e.hex, Flags: lowOrderFlags(e.canonical, "R"),
			Public: hex.EncodeToString(pub), Message: hex.EncodeToString(msg), Signature: hex.EncodeToString(append(slices.Clone(r), s.Bytes()...))})
	}

	// S + nL: the same scalar mod L, a malleated signature.
	msg := []byte("monsys S + nL")
	good := ed25519.Sign(priv, msg)
	d.Vectors = append(d.Vectors, edVector{Name: "constructed/valid", Public: hex.EncodeToString(pub),
		Message: hex.EncodeToString(msg), Signature: hex.EncodeToString(good)})
	for _, n := range []uint64{1, 2, 15} {
		s := addMultipleOfL(good[32:], n)
		d.Vectors = append(d.Vectors, edVector{Name: fmt.Sprintf("constructed/S+%dL", n), Flags: []string{"s_out_of_range"},
			Public: hex.EncodeToString(pub), Message: hex.EncodeToString(msg), Signature: hex.EncodeToString(append(slices.Clone(good[:32]), s...))})
	}
	d.Vectors = append(d.Vectors, edVector{Name: "constructed/wrong message", Flags: []string{"wrong_message"},
		Public: hex.EncodeToString(pub), Message: hex.EncodeToString([]byte("monsys S + nM")), Signature: hex.EncodeToString(good)})
	for i := range d.Vectors {
		d.Vectors[i].Valid = !anyFlag(d.Vectors[i].Flags, strictRejects)
		if d.Vectors[i].Flags == nil {
			d.Vectors[i].Flags = []string{}
		}
	}

	// Keys.
	d.Keys = append(d.Keys, keyVector{Name: "rfc8032 TEST 1", Flags: []string{}, Public: hex.EncodeToString(pub)},
		keyVector{Name: "mixed order (prime-order part and a torsion part)", Flags: []string{"low_order_component_A"},
			Public: "10eb7c3acfb2bed3e0d6ab89bf5a3d6afddd1176ce4812e38d9fd485058fdb1f"},
		keyVector{Name: "base point", Flags: []string{}, Public: hex.EncodeToString(base)})
	for _, e := range lowOrderEncodings {
		d.Keys = append(d.Keys, keyVector{Name: fmt.Sprintf("order %d %s", e.order, e.hex), Flags: lowOrderFlags(e.canonical, "A"), Public: e.hex})
	}
	// y in [2, 19): a point exists for some y (and their negations, sign bit
	// set); y + p < 2^255 is then a second, non-canonical encoding of it.
	for y := uint64(2); y < 19; y++ {
		for _, neg := range []bool{false, true} {
			canon := make([]byte, 32)
			binary.LittleEndian.PutUint64(canon, y)
			alt := addP(canon)
			if neg {
				canon[31] |= 0x80
				alt[31] |= 0x80
			}
			if _, err := new(edwards25519.Point).SetBytes(canon); err != nil {
				d.Keys = append(d.Keys, keyVector{Name: fmt.Sprintf("y=%d not on the curve", y), Flags: []string{"not_on_curve"}, Public: hex.EncodeToString(canon)})
				break
			}
			d.Keys = append(d.Keys,
				keyVector{Name: fmt.Sprintf("y=%d neg=%v", y, neg), Flags: []string{}, Public: hex.EncodeToString(canon)},
				keyVector{Name: fmt.Sprintf("y=%d+p neg=%v", y, neg), Flags: []string{"non_canonical_A"}, Public: hex.EncodeToString(alt)})
		}
	}
	for i := range d.Keys {
		d.Keys[i].OK = !anyFlag(d.Keys[i].Flags, keyRejects)
	}
	return d
}

// orderL is the group order, little-endian.
var orderL = [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}

// fieldP is 2^255 - 19, little-endian.
var fieldP = [32]byte{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}

// addLE returns a + n*b as 32 little-endian bytes (the caller keeps it below 2^256).
func addLE(a []byte, b [32]byte, n uint64) []byte {
	out := make([]byte, 32)
	var carry uint64
	for i := range 32 {
		v := uint64(a[i]) + n*uint64(b[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

func addMultipleOfL(s []byte, n uint64) []byte { return addLE(s, orderL, n) }
func addP(y []byte) []byte                     { return addLE(y, fieldP, 1) }

func writeConstructed(t *testing.T) {
	d := constructed(t)
	var b []byte
	b = fmt.Appendf(b, "{\"source\":%q,\n\"vectors\":[\n", d.Source)
	for i, v := range d.Vectors {
		line, _ := json.Marshal(v)
		b = append(b, line...)
		if i < len(d.Vectors)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	b = append(b, "],\n\"keys\":[\n"...)
	for i, k := range d.Keys {
		line, _ := json.Marshal(k)
		b = append(b, line...)
		if i < len(d.Keys)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	b = append(b, "]}\n"...)
	if err := os.WriteFile(filepath.Join("testdata", "ed25519", constructedVectorsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConstructedVectorsUpToDate: constructed.json is exactly what
// constructed() makes, so that every vector in it is explained by code.
func TestConstructedVectorsUpToDate(t *testing.T) {
	got := readDoc(t, constructedVectorsFile)
	want := constructed(t)
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Fatal("testdata/ed25519/constructed.json is stale: go test ./internal/sig -run TestStrictVectors -update")
	}
}

// BenchmarkVerifyEd25519 is the strict verification of one agent's
// signatures, its key known after the first; BenchmarkVerifyStdlib is
// crypto/ed25519 alone on the same signature (the floor).
func BenchmarkVerifyEd25519(b *testing.B) {
	pub, msg, s := benchSignature()
	for b.Loop() {
		if err := sig.VerifyEd25519(pub, msg, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyStdlib(b *testing.B) {
	pub, msg, s := benchSignature()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, s) {
			b.Fatal("verify")
		}
	}
}

func benchSignature() (ed25519.PublicKey, []byte, []byte) {
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := make([]byte, 32)
	return k.Public().(ed25519.PublicKey), msg, ed25519.Sign(k, msg)
}
