package kmssign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/aws/kmssign"
)

// The kms-envelope log key: sealed under the envelope key with the log's
// origin in the encryption context, it signs pure Ed25519 under the public
// key its reference records; another origin, another envelope key or a
// reference whose public key is not the seed's cannot sign.
func TestEnvelopeLogKey(t *testing.T) {
	client := newClient(t)
	wrap := createKey(t, client, types.KeySpecSymmetricDefault)
	other := createKey(t, client, types.KeySpecSymmetricDefault)
	ctx := context.Background()
	const origin = "hub.example.com/monsys"
	ref, err := kmssign.SealLogKey(ctx, client, wrap, origin, rand.Reader)
	if err != nil || !kmssign.IsEnvelopeLogKey(ref) {
		t.Fatalf("seal: %q, %v", ref, err)
	}
	msg := []byte("hub.example.com/monsys\n1\nAAAA\n")
	t.Run("ok/signs", func(t *testing.T) {
		s, err := kmssign.NewEnvelopeLogSigner(client, wrap, origin, ref)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.SignContext(ctx, msg, crypto.Hash(0))
		if err != nil || !ed25519.Verify(s.Public().(ed25519.PublicKey), msg, sig) {
			t.Fatalf("signature does not verify: %v", err)
		}
	})
	fails := []struct {
		name, wrap, origin, ref string
	}{
		{"fail/other-origin", wrap, "other.example.com/monsys", ref},
		{"fail/other-envelope-key", other, origin, ref},
		{"fail/public-key-swapped", wrap, origin, swapPub(t, ref)},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			s, err := kmssign.NewEnvelopeLogSigner(client, tc.wrap, tc.origin, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if sig, err := s.SignContext(ctx, msg, crypto.Hash(0)); err == nil {
				t.Fatalf("signed (%x)", sig)
			}
		})
	}
	for _, bad := range []string{"", "envelope:v1:", "envelope:v1:AAAA:", "envelope:v2:" + strings.TrimPrefix(ref, "envelope:v1:"), "arn:aws:kms:us-east-1:1:key/x"} {
		if _, err := kmssign.NewEnvelopeLogSigner(client, wrap, origin, bad); !errors.Is(err, kmssign.ErrLogKey) {
			t.Errorf("reference %q: %v, want ErrLogKey", bad, err)
		}
	}
	s, err := kmssign.NewEnvelopeLogSigner(client, wrap, origin, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignContext(ctx, msg, crypto.SHA256); !errors.Is(err, kmssign.ErrUnsupportedOpts) {
		t.Fatalf("a hashed signature: %v", err)
	}
}

// swapPub replaces the public key of ref by another one.
func swapPub(t *testing.T, ref string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ref, ":")
	other := parts[0] + ":" + parts[1] + ":" + base64.StdEncoding.EncodeToString(pub) + ":" + parts[3]
	return other
}
