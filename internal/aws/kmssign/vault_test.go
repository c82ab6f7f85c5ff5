package kmssign_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/aws/kmssign"
)

func TestVaults(t *testing.T) {
	client := newClient(t)
	wrap := createKey(t, client, types.KeySpecSymmetricDefault)
	ctx := context.Background()
	digest := sha256.Sum256([]byte("manifest.json bytes"))
	for _, tc := range []struct{ name, mode, wrap string }{
		{"ok/kms", kmssign.ModeKMS, ""},
		{"ok/kms-envelope", kmssign.ModeKMSEnvelope, wrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := kmssign.NewVault(tc.mode, client, tc.wrap)
			if err != nil {
				t.Fatal(err)
			}
			ref, pub, err := v.NewKey(ctx, "acme", "sk_one")
			if err != nil {
				t.Fatal(err)
			}
			if len(pub) != ed25519.PublicKeySize || ref == "" {
				t.Fatalf("NewKey = %q, %d-byte key", ref, len(pub))
			}
			s, err := v.Signer(ctx, "acme", "sk_one", ref)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.SignDigest(ctx, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if !ed25519.Verify(pub, digest[:], sig) {
				t.Fatal("signature does not verify under the key's public key")
			}
			if p, ok := s.(interface{ Public() ed25519.PublicKey }); !ok || !p.Public().Equal(pub) {
				t.Fatal("signer does not report the key's public key")
			}
			if _, err := s.SignDigest(ctx, digest[:31]); !errors.Is(err, kmssign.ErrBadInput) {
				t.Fatalf("SignDigest(31 bytes) = %v, want ErrBadInput", err)
			}
		})
	}
	t.Run("fail/envelope-other-tenant", func(t *testing.T) {
		v, _ := kmssign.NewVault(kmssign.ModeKMSEnvelope, client, wrap)
		ref, _, err := v.NewKey(ctx, "acme", "sk_one")
		if err != nil {
			t.Fatal(err)
		}
		// The encryption context names tenant and key id: another pair cannot decrypt.
		for _, who := range [][2]string{{"globex", "sk_one"}, {"acme", "sk_two"}} {
			s, err := v.Signer(ctx, who[0], who[1], ref)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SignDigest(ctx, digest[:]); err == nil {
				t.Fatalf("seed of acme/sk_one decrypted as %s/%s", who[0], who[1])
			}
		}
	})
	t.Run("fail/config", func(t *testing.T) {
		for _, c := range [][2]string{{"", ""}, {"KMS", ""}, {"envelope", wrap}, {kmssign.ModeKMSEnvelope, ""}} {
			if _, err := kmssign.NewVault(c[0], client, c[1]); !errors.Is(err, kmssign.ErrVault) {
				t.Errorf("NewVault(%q, %q) = %v, want ErrVault", c[0], c[1], err)
			}
		}
	})
	t.Run("fail/malformed-envelope-ref", func(t *testing.T) {
		v, _ := kmssign.NewVault(kmssign.ModeKMSEnvelope, client, wrap)
		for _, ref := range []string{"", "v1:", "v2:AAAA:AAAA", "v1:AAAA:AAAA", "v1:" + strings.Repeat("A", 44) + ":"} {
			if _, err := v.Signer(ctx, "acme", "sk", ref); !errors.Is(err, kmssign.ErrVault) {
				t.Errorf("Signer(%q) = %v, want ErrVault", ref, err)
			}
		}
	})
}
