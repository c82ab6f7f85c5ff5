package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/tlog"
)

// bootstrap --log-key with a kms-envelope reference prints the verifier key
// of the public key the reference records, without any KMS call; a
// malformed reference is refused before anything is written.
func TestBootstrapEnvelopeLogKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{5}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	const origin = "hub.example.com/monsys"
	ref := "envelope:v1:" + base64.StdEncoding.EncodeToString(pub) + ":" + base64.StdEncoding.EncodeToString([]byte("sealed"))
	want, err := tlog.VerifierKey(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok/verifier-key", func(t *testing.T) {
		got, _, err := logKeys(t.Context(), Options{LogKeyID: ref, LogOrigin: origin}, Clients{})
		if err != nil || got != want {
			t.Fatalf("logKeys = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("fail/malformed-reference", func(t *testing.T) {
		_, _, err := logKeys(t.Context(), Options{LogKeyID: "envelope:v1:AAAA", LogOrigin: origin}, Clients{})
		if err == nil || !strings.Contains(err.Error(), "--log-key") {
			t.Fatalf("logKeys: %v", err)
		}
	})
}
