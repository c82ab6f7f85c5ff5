package verify

import (
	"os"
	"testing"
)

// TestDeepProfile verifies the pack at MONSYS_DEEP_PACK with --deep, so
// that the deep checks can be profiled on a large pack
// (docs/evidence-pack.md, "Speed"):
//
//	MONSYS_DEEP_PACK=pack.tar.gz go test -run TestDeepProfile -cpuprofile cpu.out ./internal/verify/
func TestDeepProfile(t *testing.T) {
	p := os.Getenv("MONSYS_DEEP_PACK")
	if p == "" {
		t.Skip("set MONSYS_DEEP_PACK to a pack to verify")
	}
	r, err := VerifyPath(p, Options{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("the pack does not verify: %+v", r.Checks)
	}
}
