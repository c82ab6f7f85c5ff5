package pack_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack/packtest"
)

// canonPy is run by TestCanonicalJSONPython: verify.py's strict_json and
// canonical_json over every line of a file, one canonical line out each;
// and, in a second file, each line as --deep canonicalizes a body's record
// (_parse_batch, then json.dumps when it says the record is plain). It
// prints how many records were plain.
const canonPy = `import importlib.util, sys
spec = importlib.util.spec_from_file_location("verify", sys.argv[1])
v = importlib.util.module_from_spec(spec)
spec.loader.exec_module(v)
plain = 0
with open(sys.argv[2], "rb") as f, open(sys.argv[3], "wb") as out, open(sys.argv[4], "wb") as deep:
    for line in f:
        line = line.rstrip(b"\n")
        out.write(v.canonical_json(v.strict_json(line)).encode("utf-8") + b"\n")
        _, records, p = v._parse_batch(b"[" + line + b"]", False)
        plain += p
        deep.write((v._PLAIN_ENCODE if p else v.canonical_json)(records[0][0]).encode("utf-8") + b"\n")
print(plain)
`

// TestCanonicalJSONPython: verify.py's RFC 8785 form of records (what
// --deep compares with the pack's lines) is internal/canon's, byte for
// byte, on a large random set of records with awkward numbers and strings
// written by this test; and each Go canonical line is a fixed point of
// verify.py's canonicalizer. (The RFC 8785 appendix vectors are run by
// verify_test.py against internal/canon/testdata.)
func TestCanonicalJSONPython(t *testing.T) {
	py := packtest.Python(t, packtest.PurePython)
	script := filepath.Join(t.TempDir(), "canon.py")
	if err := os.WriteFile(script, []byte(canonPy), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &recordGen{r: rand.New(rand.NewPCG(13, 8785))}
	var raw, want bytes.Buffer
	n := 50000
	if testing.Short() {
		n = 5000
	}
	for range n {
		rec := g.object(0)
		c, err := canon.Transform([]byte(rec))
		if err != nil {
			t.Fatalf("generated record not I-JSON: %v\n%s", err, rec)
		}
		raw.WriteString(rec + "\n")
		want.Write(append(c, '\n'))
	}
	run := func(in []byte) (canonical, deep []byte, plain int) {
		dir := t.TempDir()
		inPath, outPath, deepPath := filepath.Join(dir, "in.ndjson"), filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "deep.ndjson")
		if err := os.WriteFile(inPath, in, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, packtest.VerifyPy(t), inPath, outPath, deepPath)
		cmd.Env = packtest.Env(t, packtest.PurePython)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		if plain, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			t.Fatalf("python printed %q", out)
		}
		if canonical, err = os.ReadFile(outPath); err != nil {
			t.Fatal(err)
		}
		if deep, err = os.ReadFile(deepPath); err != nil {
			t.Fatal(err)
		}
		return canonical, deep, plain
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"records", raw.Bytes()}, {"canonical", want.Bytes()}} {
		canonical, deep, plain := run(tc.in)
		// Both ways must be exercised: the random records hold plain ones
		// and ones with awkward numbers or keys.
		if plain == 0 || plain == n {
			t.Errorf("%s: %d of %d records plain: the fast path is not tested both ways", tc.name, plain, n)
		}
		for way, got := range map[string][]byte{"canonical_json": canonical, "--deep": deep} {
			gl, wl, in := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n"), strings.Split(string(tc.in), "\n")
			if len(gl) != len(wl) {
				t.Fatalf("%s, %s: python wrote %d lines, want %d", tc.name, way, len(gl), len(wl))
			}
			for i := range wl {
				if gl[i] != wl[i] {
					t.Fatalf("%s, %s, line %d:\n in %s\ngot %s\nwant %s", tc.name, way, i+1, in[i], gl[i], wl[i])
				}
			}
		}
	}
}

// recordGen writes random JSON records with the numbers and strings
// canonicalizers get wrong: doubles of every magnitude, integers around
// 2^53, exponents, negative zero, escapes, control characters, lone BMP
// characters sorted against surrogate pairs, U+2028.
type recordGen struct{ r *rand.Rand }

func (g *recordGen) ws() string {
	return []string{"", "", "", " ", "\t", " \t "}[g.r.IntN(6)]
}

func (g *recordGen) object(depth int) string {
	n := 1 + g.r.IntN(6)
	seen := map[string]bool{}
	var parts []string
	if depth == 0 {
		parts = append(parts, `"type":"metric"`, `"ts":"2026-03-0`+strconv.Itoa(1+g.r.IntN(9))+`T00:00:00Z"`)
		seen["type"], seen["ts"] = true, true
	}
	for range n {
		k := g.text(1 + g.r.IntN(4))
		if seen[k] {
			continue
		}
		seen[k] = true
		parts = append(parts, g.ws()+g.quote(k)+g.ws()+":"+g.ws()+g.value(depth+1)+g.ws())
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return "{" + strings.Join(parts, ",") + "}"
}

func (g *recordGen) value(depth int) string {
	switch k := g.r.IntN(10); {
	case k < 4:
		return g.number()
	case k < 7:
		return g.quote(g.text(g.r.IntN(12)))
	case k == 7 && depth < 5:
		return g.object(depth)
	case k == 8 && depth < 5:
		var items []string
		for range g.r.IntN(4) {
			items = append(items, g.value(depth+1))
		}
		return "[" + g.ws() + strings.Join(items, ","+g.ws()) + "]"
	default:
		return []string{"true", "false", "null"}[g.r.IntN(3)]
	}
}

var runePool = []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x00, 0x1f, 0x7f, 0x80, 'é', '€', 0x2028, 0x2029,
	0xfeff, 0xffff, 0xff5e, 0x10000, 0x1f600, 0x10ffff, 'ｱ', 'ß'}

func (g *recordGen) text(n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(runePool[g.r.IntN(len(runePool))])
	}
	return b.String()
}

// quote writes s as a JSON string, each character raw or escaped at random.
func (g *recordGen) quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c < 0x20 || g.r.IntN(4) == 0:
			if c >= 0x10000 {
				c -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04X`, 0xd800+(c>>10), 0xdc00+(c&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	if !utf8.ValidString(b.String()) {
		panic("invalid UTF-8")
	}
	return b.String()
}

func (g *recordGen) number() string {
	switch g.r.IntN(8) {
	case 0: // any finite double, shortest form
		for {
			f := math.Float64frombits(g.r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
	case 1: // a double written with too many or too few digits
		f := math.Float64frombits(g.r.Uint64() >> 2)
		return strconv.FormatFloat(f, 'e', g.r.IntN(25), 64)
	case 2: // integers around 2^53
		return strconv.FormatInt((1<<53)+g.r.Int64N(64)-32, 10)
	case 3:
		return strconv.FormatInt(g.r.Int64()-g.r.Int64(), 10)
	case 4:
		return []string{"-0", "0", "-0.0", "1E2", "1e+2", "0.000001", "1e-7", "1e21", "1e20", "123456789012345678901234567890",
			"0.1", "5e-324", "1.7976931348623157e308", "-4.9e-324", "9007199254740993", "2.5E-0", "100e-2"}[g.r.IntN(17)]
	case 5:
		return strconv.FormatFloat(g.r.Float64()*1000, 'f', g.r.IntN(20), 64)
	case 6:
		return strconv.Itoa(g.r.IntN(1000))
	default:
		return strconv.FormatFloat(g.r.NormFloat64()*math.Pow(10, float64(g.r.IntN(60)-30)), 'g', 17, 64)
	}
}
