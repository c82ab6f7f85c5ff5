package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
)

// TestKeyRecordPending: the pending slot of a tenant's signing-key record
// keeps a claim (no reference yet) and its time, then the reference, and
// every write is conditional on the version (docs/signing-keys.md).
func TestKeyRecordPending(t *testing.T) {
	s, _ := newStore(t, emutest.DynamoForTest(t))
	ctx := t.Context()
	at := time.Date(2026, 4, 1, 10, 0, 0, 123456789, time.UTC)
	steps := []struct {
		name    string
		rec     hub.KeyRecord
		wantErr error
	}{
		{"ok/claim", hub.KeyRecord{TenantID: "acme", Version: 1, Refs: map[string]string{}, Pending: &hub.PendingKey{KeyID: "sk_a", At: at}}, nil},
		{"fail/second-claim-same-version", hub.KeyRecord{TenantID: "acme", Version: 1, Refs: map[string]string{}, Pending: &hub.PendingKey{KeyID: "sk_b", At: at}}, hub.ErrConflict},
		{"ok/recorded", hub.KeyRecord{TenantID: "acme", Version: 2, Refs: map[string]string{}, Pending: &hub.PendingKey{KeyID: "sk_a", Ref: "arn:aws:kms:x:1:key/a", At: at}}, nil},
		{"fail/stale-version", hub.KeyRecord{TenantID: "acme", Version: 2, Refs: map[string]string{}}, hub.ErrConflict},
		{"ok/released", hub.KeyRecord{TenantID: "acme", Version: 3, Refs: map[string]string{}}, nil},
	}
	last := hub.KeyRecord{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := s.Keys.PutKeys(ctx, st.rec)
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("PutKeys = %v, want %v", err, st.wantErr)
			}
			if err == nil {
				last = st.rec
			}
			got, err := s.Keys.GetKeys(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != last.Version || (got.Pending == nil) != (last.Pending == nil) ||
				got.Pending != nil && (*got.Pending != *last.Pending) {
				t.Fatalf("GetKeys = v%d %+v, want v%d %+v", got.Version, got.Pending, last.Version, last.Pending)
			}
		})
	}
}
