package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/monsys/hub/internal/canon"
)

// FileEntry describes one file under data/ (SPEC 8).
type FileEntry struct {
	Path        string `json:"path"` // relative to data/
	SHA256      string `json:"sha256"`
	RecordCount int64  `json:"record_count"`
}

// PackRef chains a pack to the tenant's previous one.
type PackRef struct {
	PackID         string `json:"pack_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// Manifest is manifest.json (SPEC 8). Times are RFC 3339 UTC strings with
// whole seconds, as written; see TimeString.
type Manifest struct {
	FormatVersion    int         `json:"format_version"`
	PackID           string      `json:"pack_id"`
	TenantID         string      `json:"tenant_id"`
	PeriodStart      string      `json:"period_start"`
	PeriodEnd        string      `json:"period_end"`
	GeneratedAt      string      `json:"generated_at"`
	SigningKeyID     string      `json:"signing_key_id"`
	Files            []FileEntry `json:"files"`
	InputsHash       string      `json:"inputs_hash"`
	KeyLineageSHA256 string      `json:"key_lineage_sha256"`
	PreviousPack     *PackRef    `json:"previous_pack"`
}

// MarshalCanonical returns the RFC 8785 bytes of m: the exact manifest.json.
func (m *Manifest) MarshalCanonical() ([]byte, error) {
	files := m.Files
	if files == nil {
		files = []FileEntry{} // "files":[] rather than null
	}
	mm := *m
	mm.Files = files
	return canon.Marshal(&mm)
}

// InputsHash computes SPEC 8's inputs_hash: "sha256:" + hex SHA-256 of the
// concatenation, in files order, of each file's lowercase hex sha256.
func InputsHash(files []FileEntry) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f.SHA256))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// TimeString formats t the way packs and lineages write instants:
// RFC 3339, UTC, whole seconds ("2026-05-01T08:03:14Z").
func TimeString(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// SHA256Hex returns the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// validID accepts 1 to 256 printable ASCII characters other than space,
// quote and backslash: enough for KMS ARNs and UUIDs, safe in every output.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
