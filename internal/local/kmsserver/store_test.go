package kmsserver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/local/kmsserver"
)

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kms")
	open := func() *kms.Client {
		t.Helper()
		srv, err := kmsserver.Open(dir)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return serve(t, srv)
	}

	first := open()
	ed := createKey(t, first, types.KeySpecEccNistEdwards25519)
	p256 := createKey(t, first, types.KeySpecEccNistP256)
	sym := createKey(t, first, types.KeySpecSymmetricDefault)
	if _, err := first.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/hub/t1/pack"), TargetKeyId: ed.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.DisableKey(ctx, &kms.DisableKeyInput{KeyId: p256.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := first.Encrypt(ctx, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("seed"), EncryptionContext: map[string]string{"tenant": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	edPub, err := first.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: ed.KeyId})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ok/modes", func(t *testing.T) {
		for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "keys.json"): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("mode of %s = %o, want %o", path, got, want)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only keys.json (temporary files left behind?)", len(entries))
		}
	})

	second := open()
	t.Run("ok/same-public-key", func(t *testing.T) {
		out, err := second.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String("alias/hub/t1/pack")})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.PublicKey, edPub.PublicKey) {
			t.Error("public key changed across reopen")
		}
	})
	t.Run("ok/sign-after-reopen", func(t *testing.T) {
		msg := []byte("after restart")
		out, err := second.Sign(ctx, &kms.SignInput{KeyId: aws.String("alias/hub/t1/pack"), Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
		if err != nil {
			t.Fatal(err)
		}
		pub := publicKey(t, second, ed.KeyId).(ed25519.PublicKey)
		if !ed25519.Verify(pub, msg, out.Signature) {
			t.Error("signature after reopen does not verify")
		}
	})
	t.Run("ok/decrypt-after-reopen", func(t *testing.T) {
		out, err := second.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "t1"}})
		if err != nil || string(out.Plaintext) != "seed" {
			t.Errorf("Decrypt = %v", err)
		}
	})
	t.Run("ok/state-and-metadata-kept", func(t *testing.T) {
		out, err := second.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: p256.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		md := out.KeyMetadata
		if md.KeyState != types.KeyStateDisabled || !md.CreationDate.Equal(*p256.CreationDate) || aws.ToString(md.Arn) != aws.ToString(p256.Arn) {
			t.Errorf("after reopen: %s, %v, %s", md.KeyState, md.CreationDate, aws.ToString(md.Arn))
		}
	})
	t.Run("fail/disabled-after-reopen", func(t *testing.T) {
		_, err := second.Sign(ctx, &kms.SignInput{KeyId: p256.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		check(t, err, wantType[*types.DisabledException]())
	})
}

func TestOpen(t *testing.T) {
	write := func(t *testing.T, content string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "keys.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	const goodKey = `{"key_id":"0b6f7a3e-5a43-4c1e-9d0a-6f1de0c0a001","key_spec":"ECC_NIST_EDWARDS25519","key_usage":"SIGN_VERIFY",` +
		`"description":"","creation_date":"2025-03-01T12:00:00Z","key_state":"Enabled","material":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}`
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		opts []kmsserver.Option
		want error
	}{
		{name: "ok/memory", dir: func(*testing.T) string { return "" }},
		{name: "ok/new-dir", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "b") }},
		{name: "ok/valid-file", dir: func(t *testing.T) string {
			return write(t, `{"format":"monsys-localkms/v1","keys":[`+goodKey+`],"aliases":[]}`)
		}},
		{name: "fail/garbage", dir: func(t *testing.T) string { return write(t, "not json") }, want: kmsserver.ErrBadStore},
		{name: "fail/other-format", dir: func(t *testing.T) string { return write(t, `{"format":"v0","keys":[],"aliases":[]}`) }, want: kmsserver.ErrBadStore},
		{name: "fail/short-seed", dir: func(t *testing.T) string {
			return write(t, `{"format":"monsys-localkms/v1","keys":[{"key_id":"0b6f7a3e-5a43-4c1e-9d0a-6f1de0c0a001","key_spec":"ECC_NIST_EDWARDS25519","key_usage":"SIGN_VERIFY","creation_date":"2025-03-01T12:00:00Z","key_state":"Enabled","material":"AAEC"}],"aliases":[]}`)
		}, want: kmsserver.ErrBadStore},
		{name: "fail/duplicate-key", dir: func(t *testing.T) string {
			return write(t, `{"format":"monsys-localkms/v1","keys":[`+goodKey+`,`+goodKey+`],"aliases":[]}`)
		}, want: kmsserver.ErrBadStore},
		{name: "fail/dangling-alias", dir: func(t *testing.T) string {
			return write(t, `{"format":"monsys-localkms/v1","keys":[],"aliases":[{"alias_name":"alias/x","target_key_id":"0b6f7a3e-5a43-4c1e-9d0a-6f1de0c0a001"}]}`)
		}, want: kmsserver.ErrBadStore},
		{name: "fail/bad-account", dir: func(*testing.T) string { return "" }, opts: []kmsserver.Option{kmsserver.WithAccount("1234")}, want: kmsserver.ErrBadOption},
		{name: "fail/bad-region", dir: func(*testing.T) string { return "" }, opts: []kmsserver.Option{kmsserver.WithRegion("mars")}, want: kmsserver.ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := kmsserver.Open(tt.dir(t), tt.opts...)
			switch {
			case tt.want == nil && (err != nil || srv == nil):
				t.Fatalf("Open = %v, %v", srv, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReproducible: with the same random source, two servers create the
// same key ids and key material.
func TestReproducible(t *testing.T) {
	ctx := context.Background()
	var ids [2]string
	var pubs [2][]byte
	for i := range 2 {
		seed := [32]byte{'l', 'o', 'c', 'a', 'l', 'k', 'm', 's'}
		client, _ := newClient(t, kmsserver.WithRand(rand.NewChaCha8(seed)))
		for _, spec := range []types.KeySpec{types.KeySpecEccNistP256, types.KeySpecEccNistEdwards25519} {
			md := createKey(t, client, spec)
			out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] += aws.ToString(md.KeyId)
			pubs[i] = append(pubs[i], out.PublicKey...)
		}
	}
	if ids[0] != ids[1] || !bytes.Equal(pubs[0], pubs[1]) {
		t.Errorf("same random source, different keys: %s vs %s", ids[0], ids[1])
	}
}
