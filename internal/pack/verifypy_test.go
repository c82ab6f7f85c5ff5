package pack_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/monsys/hub/internal/pack/packtest"
)

// TestVerifyPyUnit runs verify_test.py (Ed25519 vectors, canonical JSON,
// helpers) once with `cryptography` and once with it made unimportable.
func TestVerifyPyUnit(t *testing.T) {
	for _, backend := range []string{packtest.Cryptography, packtest.PurePython} {
		t.Run("ok/"+backend, func(t *testing.T) {
			py := packtest.Python(t, backend)
			cmd := exec.Command(py, "-m", "unittest", "-v", "verify_test")
			cmd.Env = append(packtest.Env(t, backend), "EXPECT_ED25519_BACKEND="+backend)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("verify_test.py (%s): %v\n%s", backend, err, out)
			}
		})
	}
}

// TestRFC8032Vectors checks the vector file itself against crypto/ed25519,
// so that verify_test.py tests against known-good data.
func TestRFC8032Vectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc8032.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Name, Secret, Public, Message, Signature string
			Valid                                    bool
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			seed, _ := hex.DecodeString(v.Secret)
			msg, _ := hex.DecodeString(v.Message)
			sig, _ := hex.DecodeString(v.Signature)
			k := ed25519.NewKeyFromSeed(seed)
			if hex.EncodeToString(k.Public().(ed25519.PublicKey)) != v.Public {
				t.Fatal("public key mismatch")
			}
			if got := ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig); got != v.Valid {
				t.Fatalf("Verify = %v, want %v", got, v.Valid)
			}
			if v.Valid && hex.EncodeToString(ed25519.Sign(k, msg)) != v.Signature {
				t.Fatal("signature mismatch")
			}
		})
	}
}
