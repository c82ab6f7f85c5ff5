package verify

import (
	"os"
	"testing"
)

func TestProfTmp(t *testing.T) {
	p := os.Getenv("PROF_PACK")
	if p == "" {
		t.Skip()
	}
	r, err := VerifyPath(p, Options{Deep: true})
	if err != nil || !r.OK {
		t.Fatal(err, r)
	}
}
