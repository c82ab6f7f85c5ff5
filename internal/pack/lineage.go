package pack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/sig"
)

// Endorsement is the outgoing key's signature over an incoming lineage entry.
type Endorsement struct {
	ByKeyID   string `json:"by_key_id"`
	Signature string `json:"signature"` // hex(Ed25519(SHA-256(EndorsementMessage)))
}

// LineageEntry is one pack-signing key of a tenant (SPEC 7).
type LineageEntry struct {
	KeyID       string       `json:"key_id"`
	PublicKey   string       `json:"public_key"` // standard base64 of the raw 32 bytes
	Fingerprint string       `json:"fingerprint"`
	ActiveFrom  string       `json:"active_from"`  // RFC 3339 UTC
	ActiveUntil *string      `json:"active_until"` // null while active
	Endorsement *Endorsement `json:"endorsement"`  // null for the first key or an unendorsed rotation
}

// Lineage is a tenant's pack-signing keys, oldest first. key_lineage.json
// is its canonical JSON: an array of entries.
type Lineage []LineageEntry

// NewLineageEntry returns an unendorsed, open-ended entry for pub.
func NewLineageEntry(keyID string, pub ed25519.PublicKey, activeFrom time.Time) (LineageEntry, error) {
	if len(pub) != ed25519.PublicKeySize {
		return LineageEntry{}, fmt.Errorf("%w: key %q: %d bytes", ErrPublicKey, keyID, len(pub))
	}
	if !validID(keyID) {
		return LineageEntry{}, fmt.Errorf("%w: key id %q", ErrLineage, keyID)
	}
	return LineageEntry{
		KeyID:       keyID,
		PublicKey:   base64.StdEncoding.EncodeToString(pub),
		Fingerprint: Fingerprint(pub),
		ActiveFrom:  TimeString(activeFrom),
	}, nil
}

// NewLineage starts a tenant's lineage with its first key.
func NewLineage(keyID string, pub ed25519.PublicKey, activeFrom time.Time) (Lineage, error) {
	e, err := NewLineageEntry(keyID, pub, activeFrom)
	if err != nil {
		return nil, err
	}
	return Lineage{e}, nil
}

// EndorsementMessage returns the bytes an endorsement signs: the canonical
// JSON of the entry without its "endorsement" member, with "active_until"
// null, i.e. the entry exactly as it was when it became the active key.
func EndorsementMessage(e LineageEntry) ([]byte, error) {
	e.Endorsement = nil
	e.ActiveUntil = nil
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("pack: endorsement message of %q: %w", e.KeyID, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("pack: endorsement message of %q: %w", e.KeyID, err)
	}
	delete(m, "endorsement")
	return canon.Marshal(m)
}

// Rotate closes the active key at "at" and appends keyID/pub as the new
// active key. outgoing, the retiring key's signer, endorses the new entry;
// pass nil only for a rotation after compromise (the entry stays unendorsed
// and verifiers say so). The receiver is not modified.
func (l Lineage) Rotate(ctx context.Context, keyID string, pub ed25519.PublicKey, at time.Time, outgoing Signer) (Lineage, error) {
	if len(l) == 0 {
		return nil, fmt.Errorf("%w: rotate an empty lineage", ErrLineage)
	}
	if _, ok := l.Key(keyID); ok {
		return nil, fmt.Errorf("%w: key id %q already in the lineage", ErrLineage, keyID)
	}
	last := l[len(l)-1]
	if last.ActiveUntil != nil {
		return nil, fmt.Errorf("%w: last key %q is already closed", ErrLineage, last.KeyID)
	}
	from, err := time.Parse(time.RFC3339, last.ActiveFrom)
	if err != nil || !at.Truncate(time.Second).After(from) {
		return nil, fmt.Errorf("%w: rotation at %s is not after %q became active", ErrLineage, TimeString(at), last.KeyID)
	}
	next, err := NewLineageEntry(keyID, pub, at)
	if err != nil {
		return nil, err
	}
	if outgoing != nil {
		msg, err := EndorsementMessage(next)
		if err != nil {
			return nil, err
		}
		digest := sha256.Sum256(msg)
		endorsement, err := outgoing.SignDigest(ctx, digest[:])
		if err != nil {
			return nil, fmt.Errorf("pack: endorse %q by %q: %w", keyID, last.KeyID, err)
		}
		prevPub, err := last.Key()
		if err != nil {
			return nil, err
		}
		if sig.VerifyEd25519(prevPub, digest[:], endorsement) != nil {
			return nil, fmt.Errorf("%w: endorsement of %q by %q", ErrSignature, keyID, last.KeyID)
		}
		next.Endorsement = &Endorsement{ByKeyID: last.KeyID, Signature: hex.EncodeToString(endorsement)}
	}
	out := make(Lineage, 0, len(l)+1)
	out = append(out, l...)
	until := TimeString(at)
	out[len(out)-1].ActiveUntil = &until
	return append(out, next), nil
}

// Key returns the raw public key of e.
func (e LineageEntry) Key() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(e.PublicKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key %q: public_key is not base64 of 32 bytes", ErrLineage, e.KeyID)
	}
	return ed25519.PublicKey(b), nil
}

// Key finds the entry for keyID.
func (l Lineage) Key(keyID string) (LineageEntry, bool) {
	for _, e := range l {
		if e.KeyID == keyID {
			return e, true
		}
	}
	return LineageEntry{}, false
}

// AsOf returns the lineage as it stood at t: keys that became active later
// are left out and a key retired after t is still open. Endorsements stay
// valid because they never cover active_until.
func (l Lineage) AsOf(t time.Time) Lineage {
	ts := t.UTC().Truncate(time.Second)
	var out Lineage
	for _, e := range l {
		from, err := time.Parse(time.RFC3339, e.ActiveFrom)
		if err != nil || from.After(ts) {
			continue
		}
		if e.ActiveUntil != nil {
			if until, err := time.Parse(time.RFC3339, *e.ActiveUntil); err == nil && until.After(ts) {
				e.ActiveUntil = nil
			}
		}
		out = append(out, e)
	}
	return out
}

// ActiveAt checks that keyID is in l, holds pub and was active at t
// (active_from <= t <= active_until, SPEC 7 and the seed's rule).
func (l Lineage) ActiveAt(keyID string, pub ed25519.PublicKey, t time.Time) error {
	e, ok := l.Key(keyID)
	if !ok {
		return fmt.Errorf("%w: key %q is not in the lineage", ErrLineage, keyID)
	}
	k, err := e.Key()
	if err != nil {
		return err
	}
	if !k.Equal(pub) {
		return fmt.Errorf("%w: key %q in the lineage is not the signing key", ErrLineage, keyID)
	}
	from, err := time.Parse(time.RFC3339, e.ActiveFrom)
	if err != nil {
		return fmt.Errorf("%w: key %q: active_from %q", ErrLineage, keyID, e.ActiveFrom)
	}
	if t.Before(from) {
		return fmt.Errorf("%w: key %q active from %s, generated_at %s", ErrKeyInactive, keyID, e.ActiveFrom, TimeString(t))
	}
	if e.ActiveUntil != nil {
		until, err := time.Parse(time.RFC3339, *e.ActiveUntil)
		if err != nil {
			return fmt.Errorf("%w: key %q: active_until %q", ErrLineage, keyID, *e.ActiveUntil)
		}
		if t.After(until) {
			return fmt.Errorf("%w: key %q active until %s, generated_at %s", ErrKeyInactive, keyID, *e.ActiveUntil, TimeString(t))
		}
	}
	return nil
}

// MarshalCanonical returns key_lineage.json: the canonical JSON array.
func (l Lineage) MarshalCanonical() ([]byte, error) {
	if l == nil {
		l = Lineage{}
	}
	return canon.Marshal([]LineageEntry(l))
}

// Validate checks the rules verifiers apply to key_lineage.json (SPEC 7):
// at least one key, unique key ids, canonical base64 keys whose fingerprints
// match, RFC 3339 windows in order that do not overlap, only the last key
// open, and every endorsement by the previous key and valid.
func (l Lineage) Validate() error {
	if len(l) == 0 {
		return fmt.Errorf("%w: no keys", ErrLineage)
	}
	ids := map[string]bool{}
	var prevUntil *time.Time
	for i, e := range l {
		if !validID(e.KeyID) || ids[e.KeyID] {
			return fmt.Errorf("%w: entry %d: key id %q missing, malformed or repeated", ErrLineage, i, e.KeyID)
		}
		ids[e.KeyID] = true
		pub, err := e.Key()
		if err != nil || base64.StdEncoding.EncodeToString(pub) != e.PublicKey {
			return fmt.Errorf("%w: entry %d (%q): public_key", ErrLineage, i, e.KeyID)
		}
		if e.Fingerprint != Fingerprint(pub) {
			return fmt.Errorf("%w: entry %d (%q): fingerprint does not match public_key", ErrLineage, i, e.KeyID)
		}
		from, err := time.Parse(time.RFC3339, e.ActiveFrom)
		if err != nil {
			return fmt.Errorf("%w: entry %d (%q): active_from %q", ErrLineage, i, e.KeyID, e.ActiveFrom)
		}
		if prevUntil != nil && from.Before(*prevUntil) {
			return fmt.Errorf("%w: entry %d (%q): active before the previous key retired", ErrLineage, i, e.KeyID)
		}
		prevUntil = nil
		if e.ActiveUntil != nil {
			until, err := time.Parse(time.RFC3339, *e.ActiveUntil)
			if err != nil || until.Before(from) {
				return fmt.Errorf("%w: entry %d (%q): active_until %q", ErrLineage, i, e.KeyID, *e.ActiveUntil)
			}
			prevUntil = &until
		} else if i != len(l)-1 {
			return fmt.Errorf("%w: entry %d (%q): only the last key may be open", ErrLineage, i, e.KeyID)
		}
		if e.Endorsement == nil || i == 0 {
			continue
		}
		prev := l[i-1]
		if e.Endorsement.ByKeyID != prev.KeyID {
			return fmt.Errorf("%w: entry %d (%q): endorsed by %q, not by the previous key %q", ErrLineage, i, e.KeyID, e.Endorsement.ByKeyID, prev.KeyID)
		}
		prevPub, err := prev.Key()
		if err != nil {
			return err
		}
		msg, err := EndorsementMessage(e)
		if err != nil {
			return err
		}
		endorsement, err := hex.DecodeString(e.Endorsement.Signature)
		digest := sha256.Sum256(msg)
		if err != nil || sig.VerifyEd25519(prevPub, digest[:], endorsement) != nil {
			return fmt.Errorf("%w: entry %d (%q): endorsement by %q does not verify", ErrLineage, i, e.KeyID, prev.KeyID)
		}
	}
	return nil
}
