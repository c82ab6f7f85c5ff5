package kmssign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/local/kmsserver"
)

// newClient starts an in-memory local KMS and returns a real SDK client.
func newClient(t *testing.T) *kms.Client {
	t.Helper()
	srv, err := kmsserver.Open("")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(hs.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMS", "local-secret", ""),
		HTTPClient:   hs.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func createKey(t *testing.T, c *kms.Client, spec types.KeySpec) string {
	t.Helper()
	in := &kms.CreateKeyInput{KeySpec: spec}
	if spec != types.KeySpecSymmetricDefault {
		in.KeyUsage = types.KeyUsageTypeSignVerify
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func TestNew(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	p256 := createKey(t, client, types.KeySpecEccNistP256)
	ed := createKey(t, client, types.KeySpecEccNistEdwards25519)
	sym := createKey(t, client, types.KeySpecSymmetricDefault)
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/hub/ca"), TargetKeyId: aws.String(p256)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		keyID   string
		wantAlg types.SigningAlgorithmSpec
		wantIs  error
		wantAs  func(error) bool
	}{
		{name: "ok/p256", keyID: p256, wantAlg: types.SigningAlgorithmSpecEcdsaSha256},
		{name: "ok/p256-by-alias", keyID: "alias/hub/ca", wantAlg: types.SigningAlgorithmSpecEcdsaSha256},
		{name: "ok/ed25519", keyID: ed, wantAlg: types.SigningAlgorithmSpecEd25519Sha512},
		{name: "fail/symmetric", keyID: sym, wantAs: func(err error) bool {
			var e *types.UnsupportedOperationException
			return errors.As(err, &e)
		}},
		{name: "fail/unknown", keyID: "alias/none", wantAs: func(err error) bool {
			var e *types.NotFoundException
			return errors.As(err, &e)
		}},
		{name: "fail/empty", keyID: "", wantIs: kmssign.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := kmssign.New(ctx, client, tt.keyID)
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("New error = %v, want %v", err, tt.wantIs)
				}
			case tt.wantAs != nil:
				if !tt.wantAs(err) {
					t.Fatalf("New error = %v", err)
				}
				if !strings.Contains(err.Error(), tt.keyID) {
					t.Errorf("error %q does not name the key", err)
				}
			case err != nil:
				t.Fatalf("New: %v", err)
			case s.Algorithm() != tt.wantAlg || s.KeyID() != tt.keyID:
				t.Errorf("Signer = %s %s", s.Algorithm(), s.KeyID())
			}
		})
	}
}

func TestCreateCertificate(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	for _, spec := range []types.KeySpec{types.KeySpecEccNistP256, types.KeySpecEccNistEdwards25519} {
		t.Run("ok/"+string(spec), func(t *testing.T) {
			signer, err := kmssign.New(ctx, client, createKey(t, client, spec))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			tmpl := &x509.Certificate{
				SerialNumber:          big.NewInt(1),
				Subject:               pkix.Name{CommonName: "monsys hub CA", Organization: []string{"monsys"}},
				NotBefore:             now.Add(-time.Minute),
				NotAfter:              now.Add(time.Hour),
				KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
				IsCA:                  true,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
			if err != nil {
				t.Fatalf("CreateCertificate: %v", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := cert.CheckSignatureFrom(cert); err != nil {
				t.Errorf("self-signed certificate does not verify: %v", err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
				t.Errorf("chain verification: %v", err)
			}
		})
	}
}

func TestSign(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	p256, err := kmssign.New(ctx, client, createKey(t, client, types.KeySpecEccNistP256))
	if err != nil {
		t.Fatal(err)
	}
	ed, err := kmssign.New(ctx, client, createKey(t, client, types.KeySpecEccNistEdwards25519))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("tbs"))
	pack := []byte(`{"manifest":"canonical json of the evidence pack"}`)
	tests := []struct {
		name   string
		signer *kmssign.Signer
		msg    []byte
		opts   crypto.SignerOpts
		want   error
	}{
		{name: "ok/p256-sha256", signer: p256, msg: digest[:], opts: crypto.SHA256},
		{name: "ok/ed25519-hash-0", signer: ed, msg: pack, opts: crypto.Hash(0)},
		{name: "ok/ed25519-options", signer: ed, msg: pack, opts: &ed25519.Options{}},
		{name: "ok/ed25519-empty-message", signer: ed, msg: nil, opts: crypto.Hash(0)},
		{name: "ok/ed25519-4096", signer: ed, msg: bytes.Repeat([]byte{'x'}, 4096), opts: crypto.Hash(0)},
		{name: "fail/p256-sha384", signer: p256, msg: make([]byte, 48), opts: crypto.SHA384, want: kmssign.ErrUnsupportedOpts},
		{name: "fail/p256-hash-0", signer: p256, msg: pack, opts: crypto.Hash(0), want: kmssign.ErrUnsupportedOpts},
		{name: "fail/p256-nil-opts", signer: p256, msg: digest[:], opts: nil, want: kmssign.ErrUnsupportedOpts},
		{name: "fail/p256-short-digest", signer: p256, msg: digest[:31], opts: crypto.SHA256, want: kmssign.ErrBadInput},
		{name: "fail/ed25519ph", signer: ed, msg: make([]byte, 64), opts: crypto.SHA512, want: kmssign.ErrUnsupportedOpts},
		{name: "fail/ed25519ph-options", signer: ed, msg: make([]byte, 64), opts: &ed25519.Options{Hash: crypto.SHA512}, want: kmssign.ErrUnsupportedOpts},
		{name: "fail/ed25519ctx", signer: ed, msg: pack, opts: &ed25519.Options{Context: "monsys"}, want: kmssign.ErrUnsupportedOpts},
		{name: "fail/ed25519-4097", signer: ed, msg: bytes.Repeat([]byte{'x'}, 4097), opts: crypto.Hash(0), want: kmssign.ErrBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := tt.signer.Sign(nil, tt.msg, tt.opts)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Sign error = %v, want %v", err, tt.want)
				}
				if !strings.Contains(err.Error(), tt.signer.KeyID()) {
					t.Errorf("error %q does not name the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			switch pub := tt.signer.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, tt.msg, sig) {
					t.Error("ECDSA signature does not verify")
				}
			case ed25519.PublicKey:
				if !ed25519.Verify(pub, tt.msg, sig) {
					t.Error("Ed25519 signature does not verify")
				}
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()
	keyID := createKey(t, client, types.KeySpecEccNistEdwards25519)
	signer, err := kmssign.New(ctx, client, keyID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("fail/canceled-context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := signer.SignContext(cctx, []byte("m"), crypto.Hash(0))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})
	t.Run("fail/kms-answers-with-another-key", func(t *testing.T) {
		other := createKey(t, client, types.KeySpecEccNistEdwards25519)
		s, err := kmssign.New(ctx, redirect{API: client, to: other}, keyID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Sign(nil, []byte("m"), crypto.Hash(0))
		if !errors.Is(err, kmssign.ErrBadSignature) {
			t.Errorf("error = %v, want ErrBadSignature", err)
		}
	})
	// Last: it disables the key.
	t.Run("fail/disabled-key", func(t *testing.T) {
		if _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
			t.Fatal(err)
		}
		_, err := signer.Sign(nil, []byte("m"), crypto.Hash(0))
		var disabled *types.DisabledException
		if !errors.As(err, &disabled) {
			t.Fatalf("error = %v, want *types.DisabledException", err)
		}
		if !strings.Contains(err.Error(), keyID) {
			t.Errorf("error %q does not name the key", err)
		}
	})
}

// redirect forwards to a real client but signs with another key, as a
// misconfigured or misbehaving KMS would.
type redirect struct {
	kmssign.API
	to string
}

func (r redirect) Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error) {
	cp := *in
	cp.KeyId = aws.String(r.to)
	return r.API.Sign(ctx, &cp, optFns...)
}
