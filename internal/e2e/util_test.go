package e2e

import "github.com/monsys/hub/internal/sig"

func signOf(a *agent, body []byte) string { return sig.Sign(a.signKey, body) }
