package tlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/monsys/hub/internal/canon"
)

// Entry types (SPEC 10).
const (
	TypePin   = "pin"
	TypeUnpin = "unpin"
	TypePack  = "pack"
	TypeHeads = "heads"
)

// MaxEntrySize is the largest entry an entry bundle can hold: c2sp.org/tlog-tiles
// prefixes each entry with a 16-bit length.
const MaxEntrySize = 0xFFFF

// Entry is one log entry of SPEC 10. Only the fields of its Type are encoded;
// Bytes gives its canonical JSON (RFC 8785), which is what the log stores.
type Entry struct {
	Type     string
	TenantID string
	// pin and unpin
	AgentID     string
	Fingerprint string
	// pin, unpin and heads: when it happened (RFC 3339, as the pack shows it)
	At string
	// pack
	PackID         string
	ManifestSHA256 string
	GeneratedAt    string
	// heads
	Heads []ChainHead
}

// ChainHead is one agent's chain head in a heads entry: the seq (a decimal
// string, as in batch.ndjson, since canonical JSON numbers are doubles) and
// SHA-256 of the last signed batch the hub accepted from that agent.
type ChainHead struct {
	AgentID string `json:"agent_id"`
	Seq     string `json:"seq"`
	SHA256  string `json:"sha256"`
}

// FormatTime is the time format of entries: RFC 3339 in UTC with as many
// fractional digits as needed, which is pack.TimeString's output for the
// second-truncated times packs hold.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Pin is the entry of a signing-key pin.
func Pin(tenantID, agentID, fingerprint string, at time.Time) Entry {
	return Entry{Type: TypePin, TenantID: tenantID, AgentID: agentID, Fingerprint: fingerprint, At: FormatTime(at)}
}

// Unpin is the entry of a signing-key unpin (rotate-signing-key).
func Unpin(tenantID, agentID, fingerprint string, at time.Time) Entry {
	return Entry{Type: TypeUnpin, TenantID: tenantID, AgentID: agentID, Fingerprint: fingerprint, At: FormatTime(at)}
}

// Pack is the entry of a ready pack; generatedAt is the manifest's string.
func Pack(tenantID, packID, manifestSHA256, generatedAt string) Entry {
	return Entry{Type: TypePack, TenantID: tenantID, PackID: packID, ManifestSHA256: manifestSHA256, GeneratedAt: generatedAt}
}

// Heads returns the heads entries of one integrity cycle, sorted by agent,
// split so that each fits MaxEntrySize (an empty heads list gives no entry).
func Heads(tenantID string, at time.Time, heads []ChainHead) ([]Entry, error) {
	hs := slices.Clone(heads)
	slices.SortFunc(hs, func(a, b ChainHead) int { return strings.Compare(a.AgentID, b.AgentID) })
	var out []Entry
	for len(hs) > 0 {
		// Halve the chunk until it fits; the first try takes everything.
		n := len(hs)
		for {
			e := Entry{Type: TypeHeads, TenantID: tenantID, At: FormatTime(at), Heads: hs[:n]}
			_, err := e.Bytes()
			if err == nil {
				out = append(out, e)
				break
			}
			if !errors.Is(err, errTooLarge) {
				return nil, err
			}
			if n == 1 {
				return nil, fmt.Errorf("%w: the chain head of agent %q alone is larger than an entry", ErrEntry, hs[0].AgentID)
			}
			n = (n + 1) / 2
		}
		hs = hs[n:]
	}
	return out, nil
}

var (
	fingerprintRE = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){31}$`)
	hex64RE       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	seqRE         = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)
)

var errTooLarge = fmt.Errorf("%w: larger than %d bytes", ErrEntry, MaxEntrySize)

// Validate checks the fields of e's type: identifiers present, a SHA-256
// fingerprint, lowercase hex digests, RFC 3339 times, decimal seqs.
func (e Entry) Validate() error {
	bad := func(field, v string) error { return fmt.Errorf("%w: %s entry: bad %s %q", ErrEntry, e.Type, field, v) }
	if e.TenantID == "" {
		return bad("tenant_id", e.TenantID)
	}
	timeOK := func(s string) bool { _, err := time.Parse(time.RFC3339Nano, s); return err == nil }
	switch e.Type {
	case TypePin, TypeUnpin:
		switch {
		case e.AgentID == "":
			return bad("agent_id", e.AgentID)
		case !fingerprintRE.MatchString(e.Fingerprint):
			return bad("fingerprint", e.Fingerprint)
		case !timeOK(e.At):
			return bad("at", e.At)
		}
	case TypePack:
		switch {
		case e.PackID == "":
			return bad("pack_id", e.PackID)
		case !hex64RE.MatchString(e.ManifestSHA256):
			return bad("manifest_sha256", e.ManifestSHA256)
		case !timeOK(e.GeneratedAt):
			return bad("generated_at", e.GeneratedAt)
		}
	case TypeHeads:
		if !timeOK(e.At) {
			return bad("at", e.At)
		}
		if len(e.Heads) == 0 {
			return fmt.Errorf("%w: heads entry without heads", ErrEntry)
		}
		for _, h := range e.Heads {
			switch {
			case h.AgentID == "":
				return bad("heads agent_id", h.AgentID)
			case !seqRE.MatchString(h.Seq):
				return bad("heads seq", h.Seq)
			case !hex64RE.MatchString(h.SHA256):
				return bad("heads sha256", h.SHA256)
			}
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrEntry, e.Type)
	}
	return nil
}

// fields returns the JSON members of e's type.
func (e Entry) fields() map[string]any {
	m := map[string]any{"type": e.Type, "tenant_id": e.TenantID}
	switch e.Type {
	case TypePin, TypeUnpin:
		m["agent_id"], m["fingerprint"], m["at"] = e.AgentID, e.Fingerprint, e.At
	case TypePack:
		m["pack_id"], m["manifest_sha256"], m["generated_at"] = e.PackID, e.ManifestSHA256, e.GeneratedAt
	case TypeHeads:
		m["at"], m["heads"] = e.At, e.Heads
	}
	return m
}

// Bytes returns the canonical JSON of a valid entry.
func (e Entry) Bytes() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := canon.Marshal(e.fields())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntry, err)
	}
	if len(b) > MaxEntrySize {
		return nil, errTooLarge
	}
	return b, nil
}

// ParseEntry parses a logged entry: canonical JSON holding exactly the
// members of a known type, each valid.
func ParseEntry(b []byte) (Entry, error) {
	c, err := canon.Transform(b)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrEntry, err)
	}
	if string(c) != string(b) {
		return Entry{}, fmt.Errorf("%w: not canonical JSON", ErrEntry)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Entry{}, fmt.Errorf("%w: not a JSON object", ErrEntry)
	}
	var e Entry
	str := func(k string, dst *string) error {
		v, ok := raw[k]
		if !ok {
			return fmt.Errorf("%w: missing %s", ErrEntry, k)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%w: %s is not a string", ErrEntry, k)
		}
		return nil
	}
	if err := str("type", &e.Type); err != nil {
		return Entry{}, err
	}
	var want []string
	switch e.Type {
	case TypePin, TypeUnpin:
		want = []string{"tenant_id", "agent_id", "fingerprint", "at"}
	case TypePack:
		want = []string{"tenant_id", "pack_id", "manifest_sha256", "generated_at"}
	case TypeHeads:
		want = []string{"tenant_id", "at"}
	default:
		return Entry{}, fmt.Errorf("%w: unknown type %q", ErrEntry, e.Type)
	}
	dst := map[string]*string{"tenant_id": &e.TenantID, "agent_id": &e.AgentID, "fingerprint": &e.Fingerprint,
		"at": &e.At, "pack_id": &e.PackID, "manifest_sha256": &e.ManifestSHA256, "generated_at": &e.GeneratedAt}
	for _, k := range want {
		if err := str(k, dst[k]); err != nil {
			return Entry{}, err
		}
	}
	n := len(want) + 1
	if e.Type == TypeHeads {
		n++
		dec := json.NewDecoder(strings.NewReader(string(raw["heads"])))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e.Heads); err != nil {
			return Entry{}, fmt.Errorf("%w: bad heads: %w", ErrEntry, err)
		}
	}
	if len(raw) != n {
		return Entry{}, fmt.Errorf("%w: %s entry has %d members, want %d", ErrEntry, e.Type, len(raw), n)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// ID identifies an entry in the pool: the SHA-256 of its bytes (not the
// RFC 6962 leaf hash, so that it can name an entry before it is logged).
type ID [sha256.Size]byte

// EntryID returns the ID of entry bytes.
func EntryID(entry []byte) ID { return sha256.Sum256(entry) }

// String is the lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses the hex form.
func ParseID(s string) (ID, error) {
	var id ID
	if !hex64RE.MatchString(s) {
		return id, fmt.Errorf("%w: bad entry id %q", ErrEntry, s)
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err
}
