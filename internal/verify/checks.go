package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/sig"
)

const (
	markOK   = "✓"
	markFail = "✗"
	markWarn = "⚠"
	arrow    = "→"
)

// Check is the outcome of one step: its printed lines (with their marks),
// the problems and warnings it found, and a one-line detail for --json.
type Check struct {
	Name     string
	OK       bool
	Detail   string
	Lines    []string
	Problems []Problem
	Warnings []string
}

func newCheck(name string) Check { return Check{Name: name, OK: true} }

func (c *Check) pass(text string) {
	c.Lines = append(c.Lines, markOK+" "+text)
	c.Detail = text
}

func (c *Check) fail(code, text string, details ...string) {
	c.OK = false
	c.Lines = append(c.Lines, markFail+" "+text)
	c.Lines = append(c.Lines, details...)
	c.Problems = append(c.Problems, Problem{Code: code, Message: text})
	if c.Detail == "" {
		c.Detail = text
	}
}

func (c *Check) warn(text string) {
	c.Lines = append(c.Lines, markWarn+" "+text)
	c.Warnings = append(c.Warnings, text)
}

// CheckArchive reports the structural problems found while reading (SPEC
// 8.1: absolute paths, "..", links, devices, duplicates, data after the end
// of the gzip stream) and the root members SPEC 8 requires.
func CheckArchive(c *Contents) Check {
	ch := newCheck("archive")
	for _, p := range c.Problems {
		ch.fail(p.Code, p.Message)
	}
	if !c.Fatal {
		for _, name := range requiredMembers {
			if _, ok := c.Members[name]; !ok {
				ch.fail("missing_member", "Missing "+name)
			}
		}
		for _, name := range docMembers {
			if _, ok := c.Members[name]; !ok {
				ch.warn("Missing " + name + " (not needed to verify)")
			}
		}
	}
	if ch.OK {
		ch.Detail = "archive well-formed"
	}
	return ch
}

var sigHexRE = regexp.MustCompile(`^[0-9a-fA-F]{128}$`)

// CheckSignature enforces SPEC 8: manifest.sig is the hex of an Ed25519
// signature, by the key in signing_key.pub, over SHA-256(manifest.json).
func CheckSignature(c *Contents) Check {
	ch := newCheck("signature")
	man, okm := c.Members[pack.ManifestName]
	sigFile, oks := c.Members[pack.SignatureName]
	pem, okp := c.Members[pack.PublicKeyName]
	if !okm || !oks || !okp {
		ch.fail("not_checked", "Signature not checked: manifest.json, manifest.sig or signing_key.pub missing")
		return ch
	}
	pub, ok := ParsePublicKey(pem)
	if !ok {
		ch.fail("public_key", "Signature not checked: signing_key.pub is not a PEM Ed25519 public key")
		return ch
	}
	if sig.CheckPublicKey(pub) != nil {
		ch.fail("public_key", "Signature invalid (Ed25519): signing_key.pub is a weak key (small order or non-canonical)")
		return ch
	}
	text := ""
	if isASCII(sigFile) {
		text = strings.Trim(string(sigFile), " \t\r\n")
	}
	if !sigHexRE.MatchString(text) {
		ch.fail("bad_signature", "Signature invalid (Ed25519): manifest.sig is not the hex of 64 bytes")
		return ch
	}
	raw, _ := hex.DecodeString(text)
	digest := sha256.Sum256(man)
	if sig.VerifyEd25519(pub, digest[:], raw) != nil {
		ch.fail("bad_signature", "Signature invalid (Ed25519): manifest.json is not signed by the key in signing_key.pub")
		return ch
	}
	ch.pass("Signature valid (Ed25519)")
	return ch
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// CheckFingerprint compares the signing key's SPEC 7 fingerprint with the
// expected one (SPEC 8.1 --expect-fingerprint); without one it says the key
// was not checked. It returns the fingerprint, or "" when unreadable.
func CheckFingerprint(c *Contents, expected string) (Check, string) {
	ch := newCheck("fingerprint")
	pub, ok := ParsePublicKey(c.Members[pack.PublicKeyName])
	if !ok {
		ch.fail("not_checked", "Signing key fingerprint not checked: signing_key.pub unreadable")
		return ch, ""
	}
	fp := pack.Fingerprint(pub)
	switch expected {
	case "":
		ch.pass("Signing key fingerprint: " + fp + " (not checked against an expected fingerprint; use --expect-fingerprint)")
	case fp:
		ch.pass("Signing key matches expected fingerprint: " + fp)
	default:
		ch.fail("fingerprint_mismatch", "Signing key does not match expected fingerprint: expected "+expected+", got "+fp)
	}
	return ch, fp
}

// CheckManifest parses manifest.json (SPEC 8). It prints nothing when the
// manifest is well-formed; the later steps need its result.
func CheckManifest(c *Contents) (Check, *Manifest) {
	ch := newCheck("manifest")
	b, ok := c.Members[pack.ManifestName]
	if !ok {
		ch.fail("not_checked", "manifest.json not checked: missing")
		return ch, nil
	}
	m, err := ParseManifest(b)
	if err != nil {
		ch.fail("manifest_invalid", "manifest.json invalid: "+err.Error())
		return ch, nil
	}
	ch.Detail = "manifest.json well-formed"
	return ch, m
}

// CheckFiles enforces SPEC 8's file rules: every file under data/ is listed,
// every listed file is there with the same SHA-256 and record_count.
func CheckFiles(c *Contents, m *Manifest) Check {
	ch := newCheck("files")
	listed := map[string]pack.FileEntry{}
	var paths []string
	for _, f := range m.Files {
		listed[f.Path] = f
		paths = append(paths, f.Path)
	}
	for p := range c.Files {
		if _, ok := listed[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		f, inManifest := listed[p]
		got, present := c.Files[p]
		switch {
		case !present:
			ch.fail("file_missing", "File missing: data/"+show(p))
		case !inManifest:
			ch.fail("file_unlisted", "File not listed in manifest: data/"+show(p))
		case got.SHA256 != f.SHA256:
			ch.fail("file_tampered", "File tampered: data/"+show(p),
				"  Expected SHA256: "+f.SHA256,
				"  Actual SHA256:   "+got.SHA256)
		case got.Lines != f.RecordCount:
			ch.fail("record_count", fmt.Sprintf("Record count mismatch: data/%s (manifest says %d, file has %d)", show(p), f.RecordCount, got.Lines))
		}
	}
	if ch.OK {
		ch.pass(fmt.Sprintf("All %d files intact (SHA256 match)", len(m.Files)))
	}
	return ch
}

// CheckInputsHash enforces SPEC 8's inputs_hash.
func CheckInputsHash(m *Manifest) Check {
	ch := newCheck("inputs_hash")
	want := pack.InputsHash(m.Files)
	if m.InputsHash != want {
		ch.fail("inputs_hash", "inputs_hash inconsistent: manifest says "+m.InputsHash+", files give "+want)
	} else {
		ch.pass("inputs_hash consistent")
	}
	return ch
}

// CheckLineage enforces SPEC 7 and 8: key_lineage.json is the one the
// manifest names, the signing key is in it, is the key in signing_key.pub
// and was active at generated_at, and every rotation is endorsed by the
// outgoing key (an unendorsed rotation is a warning: "verifiers say so").
func CheckLineage(c *Contents, m *Manifest, pub []byte) Check {
	ch := newCheck("key_lineage")
	data, ok := c.Members[pack.LineageName]
	if !ok {
		ch.fail("not_checked", "Key lineage not checked: key_lineage.json missing")
		return ch
	}
	if pack.SHA256Hex(data) != m.KeyLineageSHA256 {
		ch.fail("lineage_hash", "key_lineage.json does not match key_lineage_sha256 in manifest.json")
	}
	keys, err := ParseLineage(data)
	if err != nil {
		ch.fail("lineage_invalid", "key_lineage.json invalid: "+err.Error())
		return ch
	}
	var key *LineageKey
	for i := range keys {
		if keys[i].KeyID == m.SigningKeyID {
			key = &keys[i]
		}
	}
	if key == nil {
		ch.fail("key_not_in_lineage", "Signing key "+show(m.SigningKeyID)+" not found in key lineage")
	} else {
		if pub == nil || string(key.Public) != string(pub) {
			ch.fail("key_mismatch", "Signing key "+show(m.SigningKeyID)+" in key lineage is not the key in signing_key.pub")
		}
		if m.Generated.Before(key.From) || (!key.Open && m.Generated.After(key.Until)) {
			until := "now"
			if !key.Open {
				until = key.ActiveUntil
			}
			ch.fail("key_inactive", fmt.Sprintf("Signing key %s not active at generated_at %s (active %s %s %s)",
				show(m.SigningKeyID), m.GeneratedAt, key.ActiveFrom, arrow, until))
		}
	}
	for i, k := range keys {
		end := k.Endorsement
		if i == 0 {
			if end != nil {
				ch.warn(fmt.Sprintf("Key lineage: first key %s is endorsed by %s, which is not in the lineage; not checked", show(k.KeyID), show(end.ByKeyID)))
			}
			continue
		}
		prev := keys[i-1]
		if end == nil {
			ch.warn(fmt.Sprintf("Key lineage: %s is not endorsed by the previous key %s (a rotation after compromise?)", show(k.KeyID), show(prev.KeyID)))
			continue
		}
		if end.ByKeyID != prev.KeyID {
			ch.fail("endorsement_invalid", fmt.Sprintf("Key lineage endorsement broken: %s is endorsed by %s, not by the previous key %s",
				show(k.KeyID), show(end.ByKeyID), show(prev.KeyID)))
			continue
		}
		if !endorsed(prev.Public, k, end.Signature) {
			ch.fail("endorsement_invalid", fmt.Sprintf("Key lineage endorsement broken: %s is not validly endorsed by %s", show(k.KeyID), show(prev.KeyID)))
		}
	}
	if ch.OK {
		ch.Lines = append([]string{markOK + " Signing key active at generated_at (key lineage)"}, ch.Lines...)
		ch.Detail = "Signing key active at generated_at (key lineage)"
	}
	return ch
}

var endorsementRE = regexp.MustCompile(`^[0-9a-f]{128}$`)

func endorsed(by []byte, k LineageKey, sigHex string) bool {
	if !endorsementRE.MatchString(sigHex) {
		return false
	}
	s, _ := hex.DecodeString(sigHex)
	for _, msg := range EndorsementMessages(k) {
		d := sha256.Sum256(msg)
		if sig.VerifyEd25519(by, d[:], s) == nil {
			return true
		}
	}
	return false
}

// CheckPeriod prints the period's first and last day (UTC) and fails when
// it ends before it starts.
func CheckPeriod(m *Manifest) Check {
	ch := newCheck("period")
	if m.End.Before(m.Start) {
		ch.fail("period_invalid", "Period invalid: period_end "+m.PeriodEnd+" before period_start "+m.PeriodStart)
	} else {
		ch.pass("Period: " + m.Start.Format("2006-01-02") + " " + arrow + " " + m.End.Format("2006-01-02"))
	}
	return ch
}

// CheckTenant prints the tenant the pack is about.
func CheckTenant(m *Manifest) Check {
	ch := newCheck("tenant")
	ch.pass("Tenant: " + show(m.TenantID))
	return ch
}
