package kmsserver_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// publicKey fetches and parses a key's DER SubjectPublicKeyInfo.
func publicKey(t *testing.T, c *kms.Client, keyID *string) crypto.PublicKey {
	t.Helper()
	out, err := c.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: keyID})
	if err != nil {
		t.Fatalf("GetPublicKey: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		t.Fatalf("ParsePKIXPublicKey: %v", err)
	}
	return pub
}

// verifyLocally checks a KMS signature with the Go standard library only.
func verifyLocally(pub crypto.PublicKey, alg types.SigningAlgorithmSpec, mt types.MessageType, msg, sig []byte) error {
	switch alg {
	case types.SigningAlgorithmSpecEcdsaSha256:
		digest := msg
		if mt != types.MessageTypeDigest {
			h := sha256.Sum256(msg)
			digest = h[:]
		}
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig) {
			return fmt.Errorf("ecdsa signature does not verify")
		}
		return nil
	case types.SigningAlgorithmSpecEd25519Sha512:
		if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			return fmt.Errorf("ed25519 signature does not verify")
		}
		return nil
	case types.SigningAlgorithmSpecEd25519PhSha512:
		// AWS: with DIGEST, KMS still applies the Ed25519ph SHA-512 prehash
		// to the 64-byte digest it is given.
		h := sha512.Sum512(msg)
		return ed25519.VerifyWithOptions(pub.(ed25519.PublicKey), h[:], sig, &ed25519.Options{Hash: crypto.SHA512})
	}
	return fmt.Errorf("no local verifier for %s", alg)
}

func TestSignVerify(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	p256 := createKey(t, client, types.KeySpecEccNistP256)
	ed := createKey(t, client, types.KeySpecEccNistEdwards25519)
	sym := createKey(t, client, types.KeySpecSymmetricDefault)
	pubs := map[string]crypto.PublicKey{
		aws.ToString(p256.KeyId): publicKey(t, client, p256.KeyId),
		aws.ToString(ed.KeyId):   publicKey(t, client, ed.KeyId),
	}
	if k, ok := pubs[aws.ToString(p256.KeyId)].(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("P-256 public key is %T", pubs[aws.ToString(p256.KeyId)])
	}
	if _, ok := pubs[aws.ToString(ed.KeyId)].(ed25519.PublicKey); !ok {
		t.Fatalf("Ed25519 public key is %T", pubs[aws.ToString(ed.KeyId)])
	}

	digest256 := sha256.Sum256([]byte("tbs certificate"))
	digest512 := sha512.Sum512([]byte("evidence pack"))
	msg4096 := bytes.Repeat([]byte{'a'}, 4096)
	msg4097 := bytes.Repeat([]byte{'a'}, 4097)
	const (
		ecdsa256 = types.SigningAlgorithmSpecEcdsaSha256
		pure     = types.SigningAlgorithmSpecEd25519Sha512
		ph       = types.SigningAlgorithmSpecEd25519PhSha512
		raw      = types.MessageTypeRaw
		dig      = types.MessageTypeDigest
	)
	invalidUsage := wantType[*types.InvalidKeyUsageException]()
	validation := wantCode("ValidationException")
	tests := []struct {
		name string
		key  *types.KeyMetadata
		alg  types.SigningAlgorithmSpec
		mt   types.MessageType
		msg  []byte
		want errCheck
	}{
		{name: "ok/p256/raw", key: p256, alg: ecdsa256, mt: raw, msg: []byte("hello")},
		{name: "ok/p256/raw-default-message-type", key: p256, alg: ecdsa256, msg: []byte("hello")},
		{name: "ok/p256/raw-empty", key: p256, alg: ecdsa256, mt: raw, msg: []byte{}},
		{name: "ok/p256/raw-4096", key: p256, alg: ecdsa256, mt: raw, msg: msg4096},
		{name: "ok/p256/digest", key: p256, alg: ecdsa256, mt: dig, msg: digest256[:]},
		{name: "ok/ed25519/raw", key: ed, alg: pure, mt: raw, msg: []byte(`{"pack":"canonical json"}`)},
		{name: "ok/ed25519/raw-4096", key: ed, alg: pure, mt: raw, msg: msg4096},
		{name: "ok/ed25519ph/digest", key: ed, alg: ph, mt: dig, msg: digest512[:]},
		{name: "fail/p256/raw-4097", key: p256, alg: ecdsa256, mt: raw, msg: msg4097, want: validation},
		{name: "fail/ed25519/raw-4097", key: ed, alg: pure, mt: raw, msg: msg4097, want: validation},
		{name: "fail/p256/digest-31-bytes", key: p256, alg: ecdsa256, mt: dig, msg: digest256[:31], want: validation},
		{name: "fail/p256/digest-64-bytes", key: p256, alg: ecdsa256, mt: dig, msg: digest512[:], want: validation},
		{name: "fail/ed25519/pure-with-digest", key: ed, alg: pure, mt: dig, msg: digest512[:], want: validation},
		{name: "fail/ed25519ph/raw", key: ed, alg: ph, mt: raw, msg: []byte("hello"), want: validation},
		{name: "fail/ed25519ph/digest-32-bytes", key: ed, alg: ph, mt: dig, msg: digest256[:], want: validation},
		{name: "fail/ed25519/external-mu", key: ed, alg: pure, mt: types.MessageTypeExternalMu, msg: digest512[:], want: validation},
		{name: "fail/unknown-message-type", key: ed, alg: pure, mt: "HASHED", msg: []byte("m"), want: validation},
		{name: "fail/unknown-algorithm", key: p256, alg: "ECDSA_SHA_1", mt: raw, msg: []byte("m"), want: validation},
		{name: "fail/p256/ed25519-algorithm", key: p256, alg: pure, mt: raw, msg: []byte("m"), want: invalidUsage},
		{name: "fail/p256/ecdsa384-algorithm", key: p256, alg: types.SigningAlgorithmSpecEcdsaSha384, mt: raw, msg: []byte("m"), want: invalidUsage},
		{name: "fail/ed25519/ecdsa-algorithm", key: ed, alg: ecdsa256, mt: raw, msg: []byte("m"), want: invalidUsage},
		{name: "fail/symmetric-key", key: sym, alg: ecdsa256, mt: raw, msg: []byte("m"), want: invalidUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.Sign(ctx, &kms.SignInput{KeyId: tt.key.KeyId, Message: tt.msg, MessageType: tt.mt, SigningAlgorithm: tt.alg})
			check(t, err, tt.want)
			if tt.want != nil {
				return
			}
			if aws.ToString(out.KeyId) != aws.ToString(tt.key.Arn) || out.SigningAlgorithm != tt.alg {
				t.Errorf("Sign = KeyId %q, SigningAlgorithm %s", aws.ToString(out.KeyId), out.SigningAlgorithm)
			}
			if err := verifyLocally(pubs[aws.ToString(tt.key.KeyId)], tt.alg, tt.mt, tt.msg, out.Signature); err != nil {
				t.Errorf("local verification: %v", err)
			}
		})
	}
}

func TestGetPublicKey(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		spec    types.KeySpec
		wantSig []types.SigningAlgorithmSpec
		want    errCheck
	}{
		{name: "ok/p256", spec: types.KeySpecEccNistP256, wantSig: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256}},
		{name: "ok/ed25519", spec: types.KeySpecEccNistEdwards25519, wantSig: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEd25519Sha512, types.SigningAlgorithmSpecEd25519PhSha512}},
		{name: "fail/symmetric", spec: types.KeySpecSymmetricDefault, want: wantType[*types.UnsupportedOperationException]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := createKey(t, client, tt.spec)
			out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.KeyId})
			check(t, err, tt.want)
			if err != nil {
				return
			}
			if out.KeySpec != tt.spec || out.KeyUsage != types.KeyUsageTypeSignVerify || !slices.Equal(out.SigningAlgorithms, tt.wantSig) {
				t.Errorf("GetPublicKey = %s %s %v", out.KeySpec, out.KeyUsage, out.SigningAlgorithms)
			}
			if aws.ToString(out.KeyId) != aws.ToString(md.Arn) {
				t.Errorf("KeyId = %q, want the key ARN", aws.ToString(out.KeyId))
			}
			again, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.Arn})
			if err != nil || !bytes.Equal(again.PublicKey, out.PublicKey) {
				t.Errorf("second GetPublicKey differs (%v)", err)
			}
		})
	}
}

// TestSignConcurrent is meant for go test -race.
func TestSignConcurrent(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	keys := []*types.KeyMetadata{createKey(t, client, types.KeySpecEccNistEdwards25519), createKey(t, client, types.KeySpecEccNistP256)}
	algs := []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEd25519Sha512, types.SigningAlgorithmSpecEcdsaSha256}
	pubs := []crypto.PublicKey{publicKey(t, client, keys[0].KeyId), publicKey(t, client, keys[1].KeyId)}

	const workers, each = 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each+1)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := (w + i) % 2
				msg := fmt.Appendf(nil, "worker %d message %d", w, i)
				out, err := client.Sign(ctx, &kms.SignInput{KeyId: keys[k].KeyId, Message: msg, SigningAlgorithm: algs[k], MessageType: types.MessageTypeRaw})
				if err == nil {
					err = verifyLocally(pubs[k], algs[k], types.MessageTypeRaw, msg, out.Signature)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	// A key created and disabled meanwhile exercises the write path too.
	wg.Go(func() {
		out, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeSignVerify})
		if err == nil {
			_, err = client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: out.KeyMetadata.KeyId})
		}
		if err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
