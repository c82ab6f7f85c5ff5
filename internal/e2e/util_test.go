package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"

	"github.com/monsys/hub/internal/sig"
)

func signOf(a *agent, body []byte) string { return sig.Sign(a.signKey, body) }

// newAgentKeysOnly makes a signing key and a TLS key without creating an
// agent on the hub: a second host that uses another agent's token.
func (e *env) newAgentKeysOnly() *agent {
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	tk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &agent{e: e, signKey: sk, tlsKey: tk, version: "1.4.2"}
}
