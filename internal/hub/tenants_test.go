package hub_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/storetest"
)

func TestTenantsCreateListRotate(t *testing.T) {
	ctx := t.Context()
	st := storetest.NewMemory()
	s := st.Stores()
	tn, err := hub.NewTenants(s.Tenants, s.Credentials, s.Audit, hub.Env{})
	if err != nil {
		t.Fatal(err)
	}
	valid := func(tenant, key string) bool {
		ok, err := tn.AdminKeyValid(ctx, tenant, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	acme, err := tn.Create(ctx, "acme")
	if err != nil || !strings.HasPrefix(acme, "msa_") || !valid("acme", acme) {
		t.Fatalf("create acme: %q, %v", acme, err)
	}
	t.Run("fail/create an existing tenant", func(t *testing.T) {
		if _, err := tn.Create(ctx, "acme"); !errors.Is(err, hub.ErrTenantExists) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("fail/create a bad id", func(t *testing.T) {
		if _, err := tn.Create(ctx, "Not_A_Tenant"); err == nil {
			t.Fatal("created")
		}
	})
	t.Run("ok/list", func(t *testing.T) {
		if _, err := tn.Create(ctx, "globex"); err != nil {
			t.Fatal(err)
		}
		ts, err := tn.List(ctx)
		if err != nil || len(ts) != 2 || ts[0].TenantID != "acme" || ts[1].TenantID != "globex" {
			t.Fatalf("list %+v, %v", ts, err)
		}
	})
	t.Run("ok/rotate: the new key works, the old one no longer", func(t *testing.T) {
		next, err := tn.RotateAdminKey(ctx, "acme", acme)
		if err != nil || next == acme || !valid("acme", next) || valid("acme", acme) {
			t.Fatalf("rotate: %v", err)
		}
		if _, err := st.GetCredential(ctx, cred.Hash(acme)); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("the old key's credential: %v", err)
		}
		acme = next
	})
	t.Run("fail/rotate with a key of another tenant, or a dead one", func(t *testing.T) {
		if _, err := tn.RotateAdminKey(ctx, "globex", acme); !errors.Is(err, hub.ErrAdminKeyUnknown) {
			t.Fatalf("err %v", err)
		}
		if _, err := tn.RotateAdminKey(ctx, "acme", "msa_dead"); !errors.Is(err, hub.ErrAdminKeyUnknown) {
			t.Fatalf("err %v", err)
		}
		if !valid("acme", acme) {
			t.Fatal("a refused rotation retired the key")
		}
	})
}
