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

// KeyClaimLease is how long a claim on a tenant's pending key holds: longer
// than the vault call it covers (a context deadline of half of it bounds
// that call), short enough that a holder that died blocks rotations for
// only this long.
const KeyClaimLease = 2 * time.Minute

// KeyView is the answer of POST /signing-keys/rotate.
type KeyView struct {
	TenantID     string       `json:"tenant_id"`
	SigningKeyID string       `json:"signing_key_id"`
	Fingerprint  string       `json:"fingerprint"`
	Lineage      pack.Lineage `json:"key_lineage"`
}

// Keys manages tenants' pack-signing keys and their lineage (SPEC 7,
// POST /signing-keys/rotate), and hands the packs their signers.
type Keys struct {
	store KeyStore
	vault KeyVault
	env   Env
	audit auditor
}

// NewKeys returns the key manager.
func NewKeys(store KeyStore, vault KeyVault, audit AuditSink, env Env) (*Keys, error) {
	if store == nil || vault == nil || audit == nil {
		return nil, errors.New("hub: keys need a key store, a vault and the audit log")
	}
	env = env.filled()
	return &Keys{store: store, vault: vault, env: env, audit: auditor{audit, env}}, nil
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
// Concurrent callers converge on one key: only the one that claims the
// pending slot makes a key (pendingKey); one that keeps meeting another's
// live claim gets 409 conflict.
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
		if errors.Is(err, errKeyRecordMoved) {
			continue
		}
		if err != nil {
			return KeyRecord{}, false, err
		}
		now := k.env.now()
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
		if err := k.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: "hub", At: now, Action: "signing_key_created",
			ID: auditID("signing_key_created", pend.KeyID), Detail: map[string]string{"key_id": pend.KeyID, "fingerprint": l[0].Fingerprint}}); err != nil {
			return KeyRecord{}, false, err
		}
		return next, true, nil
	}
	// Another writer is making the tenant's first key right now.
	return KeyRecord{}, false, keyConflict(errors.New("create first signing key: the key record kept changing"))
}

// errKeyRecordMoved means the key record changed under a write: another
// writer won. Callers decide again on a fresh read, or answer conflict.
var errKeyRecordMoved = errors.New("the signing-key record changed concurrently")

// keyConflict is the answer to a rotation that lost to a concurrent change
// of the same tenant's key (SPEC 4: 409, never 5xx).
func keyConflict(cause error) *Error {
	return &Error{Code: CodeConflict, Message: "the tenant's signing key is being changed by another request; retry",
		Cause: cause, RetryAfter: time.Second}
}

// pendingKey returns the key the next lineage entry will use: the record's
// pending key if an earlier attempt made one, else a new one. A new key is
// claimed first (a conditional write of the pending slot without a
// reference), then made in the vault, then recorded: only the writer that
// wins the claim calls the vault, so concurrent rotations never make keys
// that nobody records, and a crash after the record leaves a key the next
// attempt reuses. A live claim of another writer is errKeyRecordMoved.
func (k *Keys) pendingKey(ctx context.Context, rec *KeyRecord) (PendingKey, ed25519.PublicKey, error) {
	now := k.env.now()
	if p := rec.Pending; p != nil {
		switch {
		case p.Ref != "":
			sg, err := k.vault.Signer(ctx, rec.TenantID, p.KeyID, p.Ref)
			if err == nil {
				if pub, ok := publicOf(sg); ok {
					return *p, pub, nil
				}
			}
			// Unusable: make another in its place.
		case now.Sub(p.At) < KeyClaimLease:
			return PendingKey{}, nil, fmt.Errorf("%w: key %q is being made", errKeyRecordMoved, p.KeyID)
		}
		// A claim older than the lease: its holder is gone; take it over.
	}
	id, err := k.env.newID("sk_")
	if err != nil {
		return PendingKey{}, nil, backend("new key id", err)
	}
	claim := *rec
	claim.Version++
	claim.Pending = &PendingKey{KeyID: id, At: now}
	if err := k.store.PutKeys(ctx, claim); errors.Is(err, ErrConflict) {
		return PendingKey{}, nil, fmt.Errorf("%w: claim of key %q: %w", errKeyRecordMoved, id, err)
	} else if err != nil {
		return PendingKey{}, nil, backend("claim new signing key", err)
	}
	vctx, cancel := context.WithTimeout(ctx, KeyClaimLease/2)
	ref, pub, err := k.vault.NewKey(vctx, rec.TenantID, id)
	cancel()
	if err != nil {
		k.releaseClaim(ctx, claim)
		return PendingKey{}, nil, backend("create signing key", err)
	}
	made := claim
	made.Version++
	made.Pending = &PendingKey{KeyID: id, Ref: ref, At: now}
	if err := k.store.PutKeys(ctx, made); err != nil {
		// Only a claim held past its lease can be taken over; the key made
		// for it is then recorded nowhere (docs/signing-keys.md).
		k.env.Log.ErrorContext(ctx, "signing key made but not recorded", "tenant_id", rec.TenantID, "key_id", id, "ref", ref, "err", err)
		if errors.Is(err, ErrConflict) {
			return PendingKey{}, nil, fmt.Errorf("%w: record of key %q: %w", errKeyRecordMoved, id, err)
		}
		return PendingKey{}, nil, backend("record pending signing key", err)
	}
	*rec = made
	return *made.Pending, pub, nil
}

// releaseClaim clears a claim whose vault call failed, so that the next
// attempt need not wait for the lease; if the record moved on, it is left.
func (k *Keys) releaseClaim(ctx context.Context, claim KeyRecord) {
	free := claim
	free.Version++
	free.Pending = nil
	if err := k.store.PutKeys(context.WithoutCancel(ctx), free); err != nil && !errors.Is(err, ErrConflict) {
		k.env.Log.WarnContext(ctx, "release signing-key claim", "tenant_id", claim.TenantID, "err", err)
	}
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
// Concurrent rotations of one tenant never both win and never answer 5xx:
// the losers get 409 conflict (SPEC 4), and so does a rotation within the
// second of the previous one, whose window would overlap it.
func (k *Keys) Rotate(ctx context.Context, ad Admin) (KeyView, error) {
	tenantID := ad.TenantID
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
	from, _ := time.Parse(time.RFC3339, cur.ActiveFrom)
	if !k.env.now().Truncate(time.Second).After(from) {
		// Windows are whole seconds; two rotations in one second would overlap.
		e := keyConflict(nil)
		e.Message = "the active key became active less than a second ago; retry"
		return KeyView{}, e
	}
	outgoing, err := k.vault.Signer(ctx, tenantID, cur.KeyID, rec.Refs[cur.KeyID])
	if err != nil {
		return KeyView{}, backend("signer of the outgoing key", err)
	}
	pend, pub, err := k.pendingKey(ctx, &rec)
	if errors.Is(err, errKeyRecordMoved) {
		return KeyView{}, keyConflict(err)
	}
	if err != nil {
		return KeyView{}, err
	}
	now := k.env.now()
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
		return KeyView{}, keyConflict(err)
	}
	if err != nil {
		return KeyView{}, backend("put signing keys", err)
	}
	in := l[len(l)-1]
	if err := k.audit.record(ctx, AuditEvent{TenantID: tenantID, Actor: actorOf(ad), At: now, Action: "signing_key_rotated",
		ID: auditID("signing_key_rotated", in.KeyID), Detail: map[string]string{"key_id": in.KeyID, "fingerprint": in.Fingerprint,
			"previous_key_id": cur.KeyID}}); err != nil {
		return KeyView{}, err
	}
	return KeyView{TenantID: tenantID, SigningKeyID: in.KeyID, Fingerprint: in.Fingerprint, Lineage: l}, nil
}

// Signing returns the tenant's lineage, the entry of one of its keys,
// retired or not, and a signer of it (Reproduce re-signs old packs with the
// key that signed them); ErrNotFound for a key that is not the tenant's.
func (k *Keys) Signing(ctx context.Context, tenantID, keyID string) (KeyRecord, pack.LineageEntry, pack.Signer, error) {
	rec, err := k.store.GetKeys(ctx, tenantID)
	if err != nil {
		return KeyRecord{}, pack.LineageEntry{}, nil, fmt.Errorf("signer of key %q: %w", keyID, err)
	}
	entry, inLineage := rec.Lineage.Key(keyID)
	ref, ok := rec.Refs[keyID]
	if !ok || !inLineage {
		return KeyRecord{}, pack.LineageEntry{}, nil, fmt.Errorf("signer of key %q: %w", keyID, ErrNotFound)
	}
	sg, err := k.vault.Signer(ctx, tenantID, keyID, ref)
	if err != nil {
		return KeyRecord{}, pack.LineageEntry{}, nil, fmt.Errorf("signer of key %q: %w", keyID, err)
	}
	return rec, entry, sg, nil
}
