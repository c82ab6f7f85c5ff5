package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
)

// Manifest is a parsed and validated manifest.json.
type Manifest struct {
	pack.Manifest
	Start, End, Generated time.Time // microsecond precision, UTC
}

type object map[string]json.RawMessage

// parseObject decodes strict JSON (UTF-8, no duplicate keys) into an object.
func parseObject(b []byte) (object, any, string) {
	if _, err := canon.Transform(b); err != nil {
		if errors.Is(err, canon.ErrDuplicateKey) {
			return nil, nil, "duplicate key"
		}
		return nil, nil, "not valid JSON"
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, nil, "not valid JSON"
	}
	var o object
	if _, ok := v.(map[string]any); ok {
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, nil, "not valid JSON"
		}
	}
	return o, v, ""
}

func (o object) str(k string) (string, bool) {
	raw, ok := o[k]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func (o object) isNull(k string) bool {
	raw, ok := o[k]
	return !ok || string(raw) == "null"
}

var intRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func (o object) nonNegInt(k string) (int64, bool) {
	raw, ok := o[k]
	if !ok || !intRE.Match(raw) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil && n >= 0
}

func (o object) sub(k string) (object, bool) {
	raw, ok := o[k]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var s object
	return s, json.Unmarshal(raw, &s) == nil
}

func (o object) list(k string) ([]json.RawMessage, bool) {
	raw, ok := o[k]
	if !ok || len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var l []json.RawMessage
	return l, json.Unmarshal(raw, &l) == nil
}

func asObject(raw json.RawMessage) (object, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var o object
	return o, json.Unmarshal(raw, &o) == nil
}

var manifestStrings = []string{
	"pack_id", "tenant_id", "period_start", "period_end", "generated_at",
	"signing_key_id", "inputs_hash", "key_lineage_sha256",
}

// ParseManifest validates manifest.json against SPEC 8 in the order
// verify.py does; the error text is the reason both verifiers print.
func ParseManifest(b []byte) (*Manifest, error) {
	o, v, reason := parseObject(b)
	if reason != "" {
		return nil, errors.New(reason)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("not a JSON object")
	}
	m := &Manifest{}
	switch string(o["format_version"]) {
	case "1":
		m.FormatVersion = 1 // before SPEC 9 and 10: still verifies
	case strconv.Itoa(pack.FormatVersion):
		m.FormatVersion = pack.FormatVersion
	default:
		return nil, fmt.Errorf("format_version is not 1 or %d", pack.FormatVersion)
	}
	vals := map[string]string{}
	for _, k := range manifestStrings {
		s, ok := o.str(k)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s missing or not a string", k)
		}
		vals[k] = s
	}
	times := []*time.Time{&m.Start, &m.End, &m.Generated}
	for i, k := range []string{"period_start", "period_end", "generated_at"} {
		t, ok := ParseTime(vals[k])
		if !ok {
			return nil, fmt.Errorf("%s is not an RFC 3339 time", k)
		}
		*times[i] = t
	}
	if !hex64RE.MatchString(vals["key_lineage_sha256"]) {
		return nil, errors.New("key_lineage_sha256 is not 64 lowercase hex")
	}
	ih := vals["inputs_hash"]
	if !strings.HasPrefix(ih, "sha256:") || !hex64RE.MatchString(ih[7:]) {
		return nil, errors.New("inputs_hash is not sha256:<64 lowercase hex>")
	}
	files, ok := o.list("files")
	if !ok {
		return nil, errors.New("files missing or not a list")
	}
	m.Files = make([]pack.FileEntry, 0, len(files))
	for i, raw := range files {
		f, ok := asObject(raw)
		var fe pack.FileEntry
		if ok {
			var okp, oks, okn bool
			fe.Path, okp = f.str("path")
			fe.SHA256, oks = f.str("sha256")
			fe.RecordCount, okn = f.nonNegInt("record_count")
			ok = okp && oks && okn && hex64RE.MatchString(fe.SHA256)
		}
		if !ok {
			return nil, fmt.Errorf("files[%d] is malformed", i)
		}
		if !PathSafe(fe.Path) {
			return nil, fmt.Errorf("files[%d] has an unsafe path", i)
		}
		if i > 0 && !(m.Files[i-1].Path < fe.Path) {
			return nil, errors.New("files not sorted by path or not unique")
		}
		m.Files = append(m.Files, fe)
	}
	if !o.isNull("previous_pack") {
		pp, ok := o.sub("previous_pack")
		var ref pack.PackRef
		if ok {
			var oki, okh bool
			ref.PackID, oki = pp.str("pack_id")
			ref.ManifestSHA256, okh = pp.str("manifest_sha256")
			ok = oki && okh && hex64RE.MatchString(ref.ManifestSHA256)
		}
		if !ok {
			return nil, errors.New("previous_pack is malformed")
		}
		m.PreviousPack = &ref
	}
	m.PackID, m.TenantID = vals["pack_id"], vals["tenant_id"]
	m.PeriodStart, m.PeriodEnd, m.GeneratedAt = vals["period_start"], vals["period_end"], vals["generated_at"]
	m.SigningKeyID, m.InputsHash, m.KeyLineageSHA256 = vals["signing_key_id"], ih, vals["key_lineage_sha256"]
	return m, nil
}

// LineageKey is one validated key_lineage.json entry.
type LineageKey struct {
	KeyID       string
	Raw         object // the entry as decoded, for endorsement messages
	Public      []byte
	From, Until time.Time
	Open        bool // active_until null
	ActiveFrom  string
	ActiveUntil string
	Endorsement *pack.Endorsement
}

// ParseLineage validates key_lineage.json against SPEC 7: a non-empty array
// of entries (or an object whose "keys" is one), unique key ids, public keys
// that match their fingerprints, ordered non-overlapping windows, and only
// the last key open.
func ParseLineage(b []byte) ([]LineageKey, error) {
	o, v, reason := parseObject(b)
	if reason != "" {
		return nil, errors.New(reason)
	}
	var entries []json.RawMessage
	if _, isObj := v.(map[string]any); isObj {
		if l, ok := o.list("keys"); ok {
			entries = l
		} else {
			return nil, errors.New("not a non-empty list of keys")
		}
	} else if _, isList := v.([]any); isList {
		if err := json.Unmarshal(b, &entries); err != nil {
			return nil, errors.New("not valid JSON")
		}
	}
	if len(entries) == 0 {
		return nil, errors.New("not a non-empty list of keys")
	}
	keys := make([]LineageKey, 0, len(entries))
	ids := map[string]bool{}
	var prevUntil *time.Time
	for i, raw := range entries {
		e, ok := asObject(raw)
		if !ok {
			return nil, fmt.Errorf("entry %d is not an object", i)
		}
		vals := map[string]string{}
		for _, k := range []string{"key_id", "public_key", "fingerprint", "active_from"} {
			s, ok := e.str(k)
			if !ok || s == "" {
				return nil, fmt.Errorf("entry %d: %s missing or not a string", i, k)
			}
			vals[k] = s
		}
		k := LineageKey{KeyID: vals["key_id"], Raw: e, ActiveFrom: vals["active_from"]}
		if ids[k.KeyID] {
			return nil, fmt.Errorf("entry %d: key_id repeated", i)
		}
		ids[k.KeyID] = true
		pub, err := base64.StdEncoding.DecodeString(vals["public_key"])
		if err != nil || len(pub) != 32 || base64.StdEncoding.EncodeToString(pub) != vals["public_key"] {
			return nil, fmt.Errorf("entry %d: public_key is not base64 of 32 bytes", i)
		}
		k.Public = pub
		if vals["fingerprint"] != pack.Fingerprint(pub) {
			return nil, fmt.Errorf("entry %d: fingerprint does not match public_key", i)
		}
		if k.From, ok = ParseTime(vals["active_from"]); !ok {
			return nil, fmt.Errorf("entry %d: active_from is not an RFC 3339 time", i)
		}
		if !e.isNull("active_until") {
			s, ok := e.str("active_until")
			var until time.Time
			if ok {
				until, ok = ParseTime(s)
			}
			if !ok || until.Before(k.From) {
				return nil, fmt.Errorf("entry %d: active_until is not an RFC 3339 time after active_from", i)
			}
			k.Until, k.ActiveUntil = until, s
		} else if i != len(entries)-1 {
			return nil, fmt.Errorf("entry %d: only the last key may be open (active_until null)", i)
		} else {
			k.Open = true
		}
		if prevUntil != nil && k.From.Before(*prevUntil) {
			return nil, fmt.Errorf("entry %d: active_from before the previous key's active_until", i)
		}
		prevUntil = nil
		if !k.Open {
			u := k.Until
			prevUntil = &u
		}
		if !e.isNull("endorsement") {
			end, ok := e.sub("endorsement")
			var en pack.Endorsement
			if ok {
				var okb, oks bool
				en.ByKeyID, okb = end.str("by_key_id")
				en.Signature, oks = end.str("signature")
				ok = okb && oks
			}
			if !ok {
				return nil, fmt.Errorf("entry %d: endorsement is malformed", i)
			}
			k.Endorsement = &en
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// EndorsementMessages returns what an endorsement of k may sign (SPEC 7):
// the canonical JSON of the entry without "endorsement", with active_until
// as written and, for a retired key, with active_until null as it was when
// the key became active.
func EndorsementMessages(k LineageKey) [][]byte {
	o := object{}
	for name, v := range k.Raw {
		if name != "endorsement" {
			o[name] = v
		}
	}
	var out [][]byte
	add := func() {
		raw, err := json.Marshal(o)
		if err != nil {
			return
		}
		if c, err := canon.Transform(raw); err == nil {
			out = append(out, c)
		}
	}
	add()
	if !o.isNull("active_until") {
		o["active_until"] = json.RawMessage("null")
		add()
	}
	return out
}

var timeRE = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// ParseTime parses an RFC 3339 instant ("2026-05-01T08:03:14Z", fractions
// and offsets allowed) to UTC, truncated to microseconds as verify.py does.
func ParseTime(s string) (time.Time, bool) {
	m := timeRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	if tz := m[8]; tz != "Z" {
		oh, _ := strconv.Atoi(tz[1:3])
		om, _ := strconv.Atoi(tz[4:6])
		if oh > 23 || om > 59 {
			return time.Time{}, false
		}
	}
	if m[1] == "0000" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// PathSafe reports whether p is a relative '/'-separated path without
// empty, "." or ".." components, backslashes, drive letters or control
// characters, in valid UTF-8 (SPEC 8.1: no absolute paths, no "..").
func PathSafe(p string) bool {
	if p == "" || p[0] == '/' || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	if len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z') {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// show is how names are printed: control bytes and bytes that are not
// UTF-8 become \xNN.
func show(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// ParsePublicKey decodes signing_key.pub exactly as verify.py does: one PEM
// "PUBLIC KEY" block whose DER is the 44-byte Ed25519 SubjectPublicKeyInfo.
func ParsePublicKey(b []byte) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	for _, c := range b {
		if c >= 0x80 {
			return nil, false
		}
	}
	const begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
	text := strings.Trim(string(b), " \t\r\n")
	if len(text) < len(begin)+len(end) || !strings.HasPrefix(text, begin) || !strings.HasSuffix(text, end) {
		return nil, false
	}
	body := text[len(begin) : len(text)-len(end)]
	if strings.Contains(body, "-----") || strings.Contains(body, ":") {
		return nil, false
	}
	body = strings.NewReplacer(" ", "", "\t", "", "\r", "", "\n", "").Replace(body)
	der, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(der) != 44 || !bytes.HasPrefix(der, spkiPrefix) {
		return nil, false
	}
	return der[12:], true
}

var spkiPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}
