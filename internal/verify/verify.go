// Package verify checks evidence packs (SPEC sections 7, 8 and 8.1) the
// same way the verify.py shipped inside every pack does: same checks, same
// output lines, same exit semantics. Verify is a thin orchestrator over
// exported step functions; each step names the SPEC section it enforces.
// Archive structure is checked, with hard caps and duplicate rejection,
// while the archive is read and before any of its content is trusted.
package verify

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/monsys/hub/internal/pack"
)

// Sentinel errors.
var (
	// ErrUnreadable means the input could not be opened or read at all
	// (verify.py and monsys-verify exit 2).
	ErrUnreadable = errors.New("verify: cannot read input")
	// ErrFingerprint means an expected fingerprint is not 32 hex pairs.
	ErrFingerprint = errors.New("verify: malformed fingerprint")
)

// Limits are the hard caps applied while reading a pack.
type Limits struct {
	MaxMembers      int   // archive entries of any kind
	MaxMemberSize   int64 // one data file
	MaxManifestSize int64 // manifest.json
	MaxLineageSize  int64 // key_lineage.json
	MaxSmallSize    int64 // manifest.sig, signing_key.pub
	MaxDocSize      int64 // verify.py, README.txt
	MaxProofSize    int64 // transparency/pack.tlog-proof
	MaxProofsSize   int64 // transparency/pins.tlog-proofs
}

// DefaultLimits are the caps verify.py uses too.
var DefaultLimits = Limits{
	MaxMembers:      100000,
	MaxMemberSize:   64 << 30,
	MaxManifestSize: 32 << 20,
	MaxLineageSize:  4 << 20,
	MaxSmallSize:    64 << 10,
	MaxDocSize:      4 << 20,
	MaxProofSize:    1 << 20,
	MaxProofsSize:   64 << 20,
}

// maxPadding bounds the zero bytes accepted after the end of the tar
// archive, inside the gzip stream (tar writers pad to at most 10 KiB).
const maxPadding = 1 << 20

// Options configure Verify.
type Options struct {
	// ExpectFingerprint, when set, is the fingerprint the signing key must
	// have (normalized with NormalizeFingerprint).
	ExpectFingerprint string
	// Limits default to DefaultLimits when zero.
	Limits Limits
	// Deep adds the provenance checks of SPEC 9 (--deep).
	Deep bool
	// Transparency, when set, adds the checks of SPEC 10 against these keys
	// (--log-key, --witness-key, --witness-quorum; ParseTransparencyOptions).
	Transparency *TransparencyKeys
}

// Report is the outcome of verifying one pack.
type Report struct {
	OK          bool
	Target      string
	Checks      []Check
	Manifest    *Manifest // nil when manifest.json could not be parsed
	Fingerprint string    // "" when signing_key.pub could not be read
}

// VerifyPath verifies the pack at path: a .tar.gz file, or the directory of
// an extracted pack. The error is non-nil only for usage errors or input
// that cannot be opened (exit 2); a pack that fails checks gives a Report
// with OK false.
func VerifyPath(path string, opts Options) (*Report, error) {
	expected, err := normalizeExpected(opts.ExpectFingerprint)
	if err != nil {
		return nil, err
	}
	opts.ExpectFingerprint = expected
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	var c *Contents
	if st.IsDir() {
		c = readDir(path, limits(opts), opts.Deep, opts.Transparency != nil)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
		}
		defer f.Close()
		c = readArchive(f, limits(opts), opts.Deep, opts.Transparency != nil)
		if c.ioErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnreadable, c.ioErr)
		}
	}
	r := Verify(c, opts)
	r.Target = path
	return r, nil
}

// VerifyReader verifies a .tar.gz read from r.
func VerifyReader(r io.Reader, opts Options) (*Report, error) {
	expected, err := normalizeExpected(opts.ExpectFingerprint)
	if err != nil {
		return nil, err
	}
	opts.ExpectFingerprint = expected
	c := readArchive(r, limits(opts), opts.Deep, opts.Transparency != nil)
	if c.ioErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, c.ioErr)
	}
	return Verify(c, opts), nil
}

func limits(opts Options) Limits {
	if opts.Limits == (Limits{}) {
		return DefaultLimits
	}
	return opts.Limits
}

func normalizeExpected(fp string) (string, error) {
	if fp == "" {
		return "", nil
	}
	return NormalizeFingerprint(fp)
}

// Verify runs every step over what ReadArchive or ReadDir collected, in the
// order verify.py prints them. opts.ExpectFingerprint must be normalized.
func Verify(c *Contents, opts Options) *Report {
	r := &Report{}
	r.Checks = append(r.Checks, CheckArchive(c))
	if c.Fatal {
		return r
	}
	r.Checks = append(r.Checks, CheckSignature(c))
	fc, fp := CheckFingerprint(c, opts.ExpectFingerprint)
	r.Checks = append(r.Checks, fc)
	r.Fingerprint = fp
	mc, m := CheckManifest(c)
	r.Checks = append(r.Checks, mc)
	if m != nil {
		r.Manifest = m
		pub, _ := ParsePublicKey(c.Members[pack.PublicKeyName])
		r.Checks = append(r.Checks,
			CheckFiles(c, m),
			CheckInputsHash(m),
			CheckLineage(c, m, pub),
			CheckPeriod(m),
			CheckTenant(m),
		)
	}
	r.Checks = append(r.Checks, CheckQuarantine(c))
	if c.deep != nil && m != nil {
		r.Checks = append(r.Checks, CheckProvenance(c, m)...)
	}
	if opts.Transparency != nil && m != nil {
		r.Checks = append(r.Checks, CheckPackTransparency(c, m, opts.Transparency)...)
	}
	r.OK = true
	for _, ch := range r.Checks {
		r.OK = r.OK && ch.OK
	}
	return r
}

var hex64RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NormalizeFingerprint accepts "aa:bb:…", plain hex or "sha256:…", any
// case, and returns the lowercase colon-separated form.
func NormalizeFingerprint(fp string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(fp))
	s = strings.TrimPrefix(s, "sha256:")
	s = strings.ReplaceAll(s, ":", "")
	if !hex64RE.MatchString(s) {
		return "", fmt.Errorf("%w: %q", ErrFingerprint, fp)
	}
	pairs := make([]string, 32)
	for i := range pairs {
		pairs[i] = s[2*i : 2*i+2]
	}
	return strings.Join(pairs, ":"), nil
}
