package hub

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/pack"
)

// SigningKey is one signing key an agent has had (SPEC 9, "Key history"):
// pinned at PinnedAt until UnpinnedAt (zero while it is pinned).
type SigningKey struct {
	PublicKey  []byte
	PinnedAt   time.Time
	UnpinnedAt time.Time
}

// KeyHistory returns every signing key a has had, oldest first: the
// history on its record or, for an agent pinned before histories were kept
// (no history, a pin), its current pin from signing_set_at on: a read-time
// fallback, written down by the agent's next unpin (docs/signing-keys.md).
func KeyHistory(a Agent) []SigningKey {
	if len(a.SigningKeys) == 0 && len(a.SigningPubKey) > 0 {
		return []SigningKey{{PublicKey: bytes.Clone(a.SigningPubKey), PinnedAt: a.SigningSetAt}}
	}
	return a.SigningKeys
}

// KeyChangeType is what a KeyChange did.
type KeyChangeType string

// The two changes of a signing-key pin.
const (
	KeyPin   KeyChangeType = "pin"
	KeyUnpin KeyChangeType = "unpin"
)

// KeyChange is one committed pin or unpin of an agent's signing key.
type KeyChange struct {
	Type     KeyChangeType
	TenantID string
	AgentID  string
	// Entry is the history entry the change wrote: the new one (pin) or the
	// one it closed (unpin).
	Entry SigningKey
}

// At is when the change took effect, written as the pack writes the
// history's pinned_at and unpinned_at (pack.TS), byte for byte.
func (c KeyChange) At() string {
	if c.Type == KeyUnpin {
		return pack.TS(c.Entry.UnpinnedAt)
	}
	return pack.TS(c.Entry.PinnedAt)
}

// Fingerprint is the fingerprint of the key the change pinned or unpinned.
func (c KeyChange) Fingerprint() string { return pack.Fingerprint(c.Entry.PublicKey) }

// LogMark is the log-pending mark that the write of a key change of type
// typ taking effect at at sets on the agent (Agent.LogMark): the stores
// write it in the same conditional write as the pin or unpin, and only the
// mark of that change clears it (LogMarks.ClearLogMark), so a newer
// change's mark stays. It is short (the type's initial and the time in
// Unix nanoseconds), as it sits on the item every ingest writes while set.
func LogMark(typ KeyChangeType, at time.Time) string {
	return string(typ[:1]) + strconv.FormatInt(at.UnixNano(), 10)
}

// Mark is the log-pending mark the change's write set.
func (c KeyChange) Mark() string {
	if c.Type == KeyUnpin {
		return LogMark(KeyUnpin, c.Entry.UnpinnedAt)
	}
	return LogMark(KeyPin, c.Entry.PinnedAt)
}

// commitKeyChange is the one place where a signing-key pin (typ KeyPin,
// key pinned at at) or unpin (KeyUnpin of a's current pin, at at) is
// committed: one conditional write of the pin with the agent's key history
// (SigningKeyPins). It returns the change and the history entry it wrote;
// ErrConflict when a's record changed since it was read. Whatever must
// follow every committed pin or unpin hooks here.
func commitKeyChange(ctx context.Context, w SigningKeyPins, a Agent, typ KeyChangeType, key []byte, at time.Time) (KeyChange, error) {
	c := KeyChange{Type: typ, TenantID: a.TenantID, AgentID: a.AgentID}
	switch typ {
	case KeyPin:
		if err := w.PinSigningKey(ctx, a.AgentID, key, at); err != nil {
			return KeyChange{}, err
		}
		c.Entry = SigningKey{PublicKey: bytes.Clone(key), PinnedAt: at}
	default:
		h := append([]SigningKey(nil), KeyHistory(a)...)
		if len(a.SigningPubKey) == 0 || len(h) == 0 || !bytes.Equal(h[len(h)-1].PublicKey, a.SigningPubKey) {
			return KeyChange{}, fmt.Errorf("unpin signing key of %s: no pin to unpin, or a history that does not end with it: %w", a.AgentID, ErrConflict)
		}
		h[len(h)-1].UnpinnedAt = at
		if err := w.UnpinSigningKey(ctx, a.AgentID, h); err != nil {
			return KeyChange{}, err
		}
		c.Entry = h[len(h)-1]
	}
	return c, nil
}
