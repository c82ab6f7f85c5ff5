package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/monsys/hub/internal/pack"
)

// KeyVault holds tenants' pack-signing keys (SPEC 7). The kms adapter keeps
// the private key in KMS; the kms-envelope adapter keeps the seed encrypted
// under a KMS key. Ref is what the vault needs to find the key again; it is
// stored beside the lineage, never in a pack.
type KeyVault interface {
	NewKey(ctx context.Context, tenantID, keyID string) (ref string, pub ed25519.PublicKey, err error)
	Signer(ctx context.Context, tenantID, keyID, ref string) (pack.Signer, error)
}

// KeyRecord is a tenant's signing-key lineage as stored: the lineage, the
// vault reference of each key, and a version that every change moves on.
type KeyRecord struct {
	TenantID string
	Version  int64 // 0: no record yet
	Lineage  pack.Lineage
	Refs     map[string]string // key_id → vault reference
	// Pending is a key made by a rotation (or first creation) that is not in
	// the lineage yet; a retry reuses it instead of making another.
	Pending *PendingKey
}

// PendingKey is a key created in the vault but not yet in the lineage.
type PendingKey struct {
	KeyID string
	Ref   string
}

// KeyStore keeps key records; PutKeys is one conditional write on Version.
type KeyStore interface {
	// GetKeys returns the tenant's record, or ErrNotFound.
	GetKeys(ctx context.Context, tenantID string) (KeyRecord, error)
	// PutKeys writes r with Version r.Version if the stored version is
	// r.Version-1 (0: no record); else ErrConflict.
	PutKeys(ctx context.Context, r KeyRecord) error
}

// KeyView is the answer of POST /signing-keys/rotate.
type KeyView struct {
	TenantID     string       `json:"tenant_id"`
	SigningKeyID string       `json:"signing_key_id"`
	Fingerprint  string       `json:"fingerprint"`
	Lineage      pack.Lineage `json:"key_lineage"`
}

// Keys manages tenants' pack-signing keys and their lineage.
type Keys struct {
	svc   *Service
	store KeyStore
	vault KeyVault
}

// NewKeys returns the key manager.
func NewKeys(svc *Service, store KeyStore, vault KeyVault) (*Keys, error) {
	if svc == nil || store == nil || vault == nil {
		return nil, errors.New("hub: keys need a service, a key store and a vault")
	}
	return &Keys{svc: svc, store: store, vault: vault}, nil
}

// Active returns the tenant's lineage, its active key and a signer for it,
// creating the first key when the tenant has none (docs/signing-keys.md).
func (k *Keys) Active(ctx context.Context, tenantID string) (KeyRecord, pack.LineageEntry, pack.Signer, error) {
	rec, err := k.Ensure(ctx, tenantID)
	if err != nil {
		return KeyRecord{}, pack.LineageEntry{}, nil, err
	}
	cur := rec.Lineage[len(rec.Lineage)-1]
	sg, err := k.vault.Signer(ctx, tenantID, cur.KeyID, rec.Refs[cur.KeyID])
	if err != nil {
		return KeyRecord{}, pack.LineageEntry{}, nil, fmt.Errorf("signer of key %q: %w", cur.KeyID, err)
	}
	return rec, cur, sg, nil
}

// Ensure returns the tenant's key record, creating the first key if needed.
// Concurrent callers converge on one key: the record is written with a
// conditional put, and a vault key made by a loser is left unused.
func (k *Keys) Ensure(ctx context.Context, tenantID string) (KeyRecord, error) {
	rec, _, err := k.ensure(ctx, tenantID)
	return rec, err
}

// ensure is Ensure that also says whether this call created the first key.
func (k *Keys) ensure(ctx context.Context, tenantID string) (KeyRecord, bool, error) {
	for range 4 {
		rec, err := k.store.GetKeys(ctx, tenantID)
		if err == nil && len(rec.Lineage) > 0 {
			return rec, false, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return KeyRecord{}, false, backend("get signing keys", err)
		}
		if err != nil {
			rec = KeyRecord{TenantID: tenantID, Refs: map[string]string{}}
		}
		pend, pub, err := k.pendingKey(ctx, &rec)
		if err != nil {
			return KeyRecord{}, false, err
		}
		now := k.svc.clock()
		l, err := pack.NewLineage(pend.KeyID, pub, now)
		if err != nil {
			return KeyRecord{}, false, backend("new lineage", err)
		}
		next := KeyRecord{TenantID: tenantID, Version: rec.Version + 1, Lineage: l, Refs: map[string]string{pend.KeyID: pend.Ref}}
		err = k.store.PutKeys(ctx, next)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return KeyRecord{}, false, backend("put signing keys", err)
		}
		if err := k.svc.audit(ctx, AuditEvent{TenantID: tenantID, Actor: "hub", At: now, Action: "signing_key_created",
			ID: auditID("signing_key_created", pend.KeyID), Detail: map[string]string{"key_id": pend.KeyID, "fingerprint": l[0].Fingerprint}}); err != nil {
			return KeyRecord{}, false, err
		}
		return next, true, nil
	}
	return KeyRecord{}, false, backend("create first signing key", errors.New("key record kept changing"))
}

// pendingKey reuses the record's pending key or makes one and records it as
// pending first, so that a crash after the vault call leaves a key the next
// attempt picks up rather than an orphan.
func (k *Keys) pendingKey(ctx context.Context, rec *KeyRecord) (PendingKey, ed25519.PublicKey, error) {
	if p := rec.Pending; p != nil {
		sg, err := k.vault.Signer(ctx, rec.TenantID, p.KeyID, p.Ref)
		if err == nil {
			if pub, ok := publicOf(sg); ok {
				return *p, pub, nil
			}
		}
	}
	id, err := newID("sk_", k.svc.rand)
	if err != nil {
		return PendingKey{}, nil, backend("new key id", err)
	}
	ref, pub, err := k.vault.NewKey(ctx, rec.TenantID, id)
	if err != nil {
		return PendingKey{}, nil, backend("create signing key", err)
	}
	p := PendingKey{KeyID: id, Ref: ref}
	next := *rec
	next.Version++
	next.Pending = &p
	if err := k.store.PutKeys(ctx, next); err != nil {
		return PendingKey{}, nil, backend("record pending signing key", err)
	}
	*rec = next
	return p, pub, nil
}

// publicOf asks a signer for its public key when it can tell.
func publicOf(s pack.Signer) (ed25519.PublicKey, bool) {
	if p, ok := s.(interface{ Public() ed25519.PublicKey }); ok {
		return p.Public(), true
	}
	return nil, false
}

// Rotate is POST /signing-keys/rotate: a new key becomes active now, the
// outgoing key endorses it and gets active_until (docs/signing-keys.md).
func (k *Keys) Rotate(ctx context.Context, ad Admin) (KeyView, error) {
	tenantID := ad.TenantID
	for range 4 {
		rec, created, err := k.ensure(ctx, tenantID)
		if err != nil {
			return KeyView{}, err
		}
		cur := rec.Lineage[len(rec.Lineage)-1]
		if created {
			// The tenant had no key: its first one, made just now, is what a
			// rotation would have produced (docs/signing-keys.md).
			return KeyView{TenantID: tenantID, SigningKeyID: cur.KeyID, Fingerprint: cur.Fingerprint, Lineage: rec.Lineage}, nil
		}
		outgoing, err := k.vault.Signer(ctx, tenantID, cur.KeyID, rec.Refs[cur.KeyID])
		if err != nil {
			return KeyView{}, backend("signer of the outgoing key", err)
		}
		pend, pub, err := k.pendingKey(ctx, &rec)
		if err != nil {
			return KeyView{}, err
		}
		now := k.svc.clock()
		from, _ := time.Parse(time.RFC3339, cur.ActiveFrom)
		if !now.Truncate(time.Second).After(from) {
			// Windows are whole seconds; two rotations in one second would overlap.
			e := refuse(CodeThrottled, "the active key became active less than a second ago; retry")
			e.RetryAfter = time.Second
			return KeyView{}, e
		}
		l, err := rec.Lineage.Rotate(ctx, pend.KeyID, pub, now, outgoing)
		if err != nil {
			return KeyView{}, backend("rotate lineage", err)
		}
		next := KeyRecord{TenantID: tenantID, Version: rec.Version + 1, Lineage: l, Refs: map[string]string{}}
		for id, ref := range rec.Refs {
			next.Refs[id] = ref
		}
		next.Refs[pend.KeyID] = pend.Ref
		err = k.store.PutKeys(ctx, next)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return KeyView{}, backend("put signing keys", err)
		}
		in := l[len(l)-1]
		if err := k.svc.audit(ctx, AuditEvent{TenantID: tenantID, Actor: actorOf(ad), At: now, Action: "signing_key_rotated",
			ID: auditID("signing_key_rotated", in.KeyID), Detail: map[string]string{"key_id": in.KeyID, "fingerprint": in.Fingerprint,
				"previous_key_id": cur.KeyID}}); err != nil {
			return KeyView{}, err
		}
		return KeyView{TenantID: tenantID, SigningKeyID: in.KeyID, Fingerprint: in.Fingerprint, Lineage: l}, nil
	}
	return KeyView{}, backend("rotate signing key", errors.New("key record kept changing"))
}

// actorOf names an admin in the audit log, as the other admin actions do.
func actorOf(Admin) string { return "admin" }

// SignerFor returns a signer of one of the tenant's keys, retired or not
// (Reproduce re-signs old packs with the key that signed them).
func (k *Keys) SignerFor(ctx context.Context, tenantID, keyID string) (pack.Signer, error) {
	rec, err := k.store.GetKeys(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("signer of key %q: %w", keyID, err)
	}
	ref, ok := rec.Refs[keyID]
	if !ok {
		return nil, fmt.Errorf("signer of key %q: %w", keyID, ErrNotFound)
	}
	return k.vault.Signer(ctx, tenantID, keyID, ref)
}
