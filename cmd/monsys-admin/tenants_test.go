package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/profile"
)

func admin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb strings.Builder
	err := run(t.Context(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// TestTenantsOnAWS: after bootstrap, tenant create makes a second tenant
// with its own key and certificates, tenant list shows both, admin-key
// rotate replaces a key in its hub.json.
func TestTenantsOnAWS(t *testing.T) {
	o, c, kmsURL := envWithKMS(t)
	if _, err := Bootstrap(t.Context(), o, c); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", emutest.DynamoEndpointForTest(t))
	t.Setenv("AWS_ENDPOINT_URL_KMS", kmsURL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	out := filepath.Join(t.TempDir(), "globex")
	aws := []string{"--table-prefix", o.TablePrefix}
	tenants, err := tenantsOf(c.DynamoDB, dynamo.TablesWithPrefix(o.TablePrefix), clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	var info profile.Info
	t.Run("ok/tenant create", func(t *testing.T) {
		s, err := admin(t, append([]string{"tenant", "create", "--tenant", "globex", "--out", out, "--url", "https://hub.example.com", "--ca-key", o.CAKeyID}, aws...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		if info, err = profile.Read(filepath.Join(out, "hub.json")); err != nil || info.TenantID != "globex" || info.URL != "https://hub.example.com" {
			t.Fatalf("hub.json %+v, %v", info, err)
		}
		if strings.Contains(s, info.AdminKey) {
			t.Fatal("tenant create printed the admin key")
		}
		if ok, err := tenants.AdminKeyValid(t.Context(), "globex", info.AdminKey); !ok || err != nil {
			t.Fatalf("the new admin key does not work: %v", err)
		}
	})
	t.Run("fail/tenant create of an existing tenant", func(t *testing.T) {
		if s, err := admin(t, append([]string{"tenant", "create", "--tenant", "acme", "--out", t.TempDir(), "--ca-key", o.CAKeyID}, aws...)...); err == nil ||
			!strings.Contains(err.Error(), "exists") {
			t.Fatalf("%v\n%s", err, s)
		}
	})
	t.Run("fail/tenant create without the hub named", func(t *testing.T) {
		if _, err := admin(t, "tenant", "create", "--tenant", "x"); err == nil || !strings.Contains(err.Error(), "--local DIR") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("ok/tenant list", func(t *testing.T) {
		s, err := admin(t, append([]string{"tenant", "list"}, aws...)...)
		if err != nil || !strings.Contains(s, "acme") || !strings.Contains(s, "globex") || strings.Contains(s, "_hub") {
			t.Fatalf("%v\n%s", err, s)
		}
	})
	t.Run("ok/admin-key rotate", func(t *testing.T) {
		old := info.AdminKey
		s, err := admin(t, append([]string{"admin-key", "rotate", "--hub", filepath.Join(out, "hub.json")}, aws...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		now, err := profile.Read(filepath.Join(out, "hub.json"))
		if err != nil || now.AdminKey == old {
			t.Fatalf("hub.json keeps the old key: %v", err)
		}
		if ok, _ := tenants.AdminKeyValid(t.Context(), "globex", old); ok {
			t.Fatal("the old key still works")
		}
		if ok, _ := tenants.AdminKeyValid(t.Context(), "globex", now.AdminKey); !ok {
			t.Fatal("the new key does not work")
		}
		if _, err := admin(t, append([]string{"admin-key", "rotate", "--hub", filepath.Join(out, "hub.json")}, aws...)...); err != nil {
			t.Fatalf("a second rotation: %v", err)
		}
	})
}

// TestTenantsOnLocalHub: the same commands on a running local hub, through
// its backend.json.
func TestTenantsOnLocalHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := local.Config{Dir: dir, Addr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler),
		DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t), Bucket: emutest.UniqueBucket(t)}
	cfg.S3Endpoint, cfg.S3User, cfg.S3Password = emutest.S3EndpointForTest(t)
	h, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	out := filepath.Join(t.TempDir(), "second")
	s, err := admin(t, "tenant", "create", "--local", dir, "--tenant", "second", "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	info, err := profile.Read(filepath.Join(out, "hub.json"))
	if err != nil || info.URL != h.Info().URL || info.TenantID != "second" {
		t.Fatalf("hub.json %+v, %v", info, err)
	}
	// One log per deployment: the second tenant verifies against the same keys.
	if info.LogVKey == "" || info.LogVKey != h.Info().LogVKey || len(info.WitnessVKeys) != 1 || info.WitnessVKeys[0] != h.Info().WitnessVKeys[0] {
		t.Fatalf("hub.json log_vkey %q, witness_vkeys %q; the hub's %q, %q", info.LogVKey, info.WitnessVKeys, h.Info().LogVKey, h.Info().WitnessVKeys)
	}
	if ok, err := h.Core.Tenants.AdminKeyValid(ctx, "second", info.AdminKey); !ok || err != nil {
		t.Fatalf("the admin key does not work on the local hub: %v", err)
	}
	if s, err = admin(t, "tenant", "list", "--local", dir); err != nil || !strings.Contains(s, "demo") || !strings.Contains(s, "second") {
		t.Fatalf("%v\n%s", err, s)
	}
	if s, err = admin(t, "admin-key", "rotate", "--local", dir, "--hub", filepath.Join(out, "hub.json")); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if ok, _ := h.Core.Tenants.AdminKeyValid(ctx, "second", info.AdminKey); ok {
		t.Fatal("the rotated-out key still works")
	}
	if _, err := admin(t, "tenant", "list", "--local", t.TempDir()); err == nil || !strings.Contains(err.Error(), "backend.json") {
		t.Fatalf("a folder without a local hub: %v", err)
	}
}
