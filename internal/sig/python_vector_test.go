package sig_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/monsys/hub/internal/sig"
)

// TestSignVector checks what the agent sends (Sign) against a vector made
// outside Go, with Python's cryptography, from SPEC 3's definition and a
// fixed seed.
func TestSignVector(t *testing.T) {
	var v struct {
		Seed      []byte `json:"seed"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "python_vector.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(v.Seed)
	tests := []struct {
		name string
		body string
		sig  string
		ok   bool
	}{
		{name: "ok/vector", body: v.Body, sig: v.Signature, ok: true},
		{name: "fail/body changed", body: v.Body + " ", sig: v.Signature},
		{name: "fail/not base64", body: v.Body, sig: "!!!"},
		{name: "fail/short", body: v.Body, sig: "AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok {
				if got := sig.Sign(key, []byte(tt.body)); got != tt.sig {
					t.Fatalf("Sign = %s, want %s", got, tt.sig)
				}
			}
			if got := sig.VerifyHeader(key.Public().(ed25519.PublicKey), []byte(tt.body), tt.sig) == nil; got != tt.ok {
				t.Fatalf("VerifyHeader ok = %v, want %v", got, tt.ok)
			}
		})
	}
	t.Run("fail/other key", func(t *testing.T) {
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		if sig.VerifyHeader(other.Public().(ed25519.PublicKey), []byte(v.Body), v.Signature) == nil {
			t.Fatal("signature verified under another key")
		}
	})
}
