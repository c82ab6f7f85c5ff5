package hub

import (
	"encoding/base32"
	"io"
	"strings"
)

// Identifier shapes the API takes (SPEC 4: an identifier or cursor that
// cannot be valid is 400 or 404, never a 5xx). The hub makes agent and pack
// ids as a prefix and 24 lowercase base32 characters (newID); anything that
// cannot be one of them is refused at the edge, before the store, which
// would refuse keys over DynamoDB's limits (2048 bytes for a partition key,
// 1024 for a sort key) with an error.
const (
	maxIDLen     = 64
	maxCursorLen = 512 // base64url; the hub's cursors are far shorter
)

// ValidAgentID reports whether id has the shape of an agent id.
func ValidAgentID(id string) bool { return validID(id, "ag_") }

// ValidPackID reports whether id has the shape of a pack id.
func ValidPackID(id string) bool { return validID(id, "pk_") }

func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || rest == "" || len(id) > maxIDLen {
		return false
	}
	for i := range len(rest) {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ValidCursor reports whether c can be a pagination cursor of this hub: at
// most maxCursorLen characters of unpadded base64url. What it decodes to is
// the store's to judge (ErrBadCursor).
func ValidCursor(c string) bool {
	if c == "" || len(c) > maxCursorLen {
		return false
	}
	for i := range len(c) {
		if x := c[i]; !(x >= 'A' && x <= 'Z' || x >= 'a' && x <= 'z' || x >= '0' && x <= '9' || x == '-' || x == '_') {
			return false
		}
	}
	return true
}

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID makes an id: prefix and 15 random bytes in lowercase base32.
func newID(prefix string, r io.Reader) (string, error) {
	b := make([]byte, 15)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return prefix + strings.ToLower(idEnc.EncodeToString(b)), nil
}
