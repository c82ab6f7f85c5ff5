package kmsserver_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/monsys/hub/internal/local/kmsserver"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateKey(t *testing.T) {
	client, _ := newClient(t, kmsserver.WithRegion("eu-west-3"), kmsserver.WithAccount("123456789012"))
	ctx := context.Background()
	tests := []struct {
		name     string
		in       kms.CreateKeyInput
		wantSpec types.KeySpec
		wantUse  types.KeyUsageType
		wantSig  []types.SigningAlgorithmSpec
		wantEnc  []types.EncryptionAlgorithmSpec
		want     errCheck
	}{
		{
			name:     "ok/symmetric-by-default",
			in:       kms.CreateKeyInput{},
			wantSpec: types.KeySpecSymmetricDefault, wantUse: types.KeyUsageTypeEncryptDecrypt,
			wantEnc: []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault},
		},
		{
			name:     "ok/symmetric-explicit",
			in:       kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt, Description: aws.String("envelope")},
			wantSpec: types.KeySpecSymmetricDefault, wantUse: types.KeyUsageTypeEncryptDecrypt,
			wantEnc: []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault},
		},
		{
			name:     "ok/p256",
			in:       kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify},
			wantSpec: types.KeySpecEccNistP256, wantUse: types.KeyUsageTypeSignVerify,
			wantSig: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256},
		},
		{
			name: "ok/ed25519-with-tags",
			in: kms.CreateKeyInput{
				KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeSignVerify,
				Description: aws.String("pack signing, tenant t1"),
				Tags:        []types.Tag{{TagKey: aws.String("tenant"), TagValue: aws.String("t1")}},
			},
			wantSpec: types.KeySpecEccNistEdwards25519, wantUse: types.KeyUsageTypeSignVerify,
			wantSig: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEd25519Sha512, types.SigningAlgorithmSpecEd25519PhSha512},
		},
		{
			name: "fail/p256-default-usage",
			in:   kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256},
			want: wantCode("ValidationException"),
		},
		{
			name: "fail/symmetric-sign-verify",
			in:   kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeSignVerify},
			want: wantCode("ValidationException"),
		},
		{
			name: "fail/ed25519-encrypt",
			in:   kms.CreateKeyInput{KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeEncryptDecrypt},
			want: wantCode("ValidationException"),
		},
		{
			name: "fail/unknown-spec",
			in:   kms.CreateKeyInput{KeySpec: "ECC_NIST_P255", KeyUsage: types.KeyUsageTypeSignVerify},
			want: wantCode("ValidationException"),
		},
		{
			name: "fail/unknown-usage",
			in:   kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: "SIGN"},
			want: wantCode("ValidationException"),
		},
		{
			name: "fail/rsa-not-implemented",
			in:   kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify},
			want: wantType[*types.UnsupportedOperationException](),
		},
		{
			name: "fail/multi-region",
			in:   kms.CreateKeyInput{MultiRegion: aws.Bool(true)},
			want: wantType[*types.UnsupportedOperationException](),
		},
		{
			name: "fail/empty-tag-key",
			in:   kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String(""), TagValue: aws.String("x")}}},
			want: wantType[*types.TagException](),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.CreateKey(ctx, &tt.in)
			check(t, err, tt.want)
			if tt.want != nil {
				return
			}
			md := out.KeyMetadata
			id := aws.ToString(md.KeyId)
			if !uuidRE.MatchString(id) {
				t.Errorf("KeyId = %q, want a v4 UUID", id)
			}
			if got, want := aws.ToString(md.Arn), "arn:aws:kms:eu-west-3:123456789012:key/"+id; got != want {
				t.Errorf("Arn = %q, want %q", got, want)
			}
			if got := aws.ToString(md.AWSAccountId); got != "123456789012" {
				t.Errorf("AWSAccountId = %q", got)
			}
			if md.CreationDate == nil || !md.CreationDate.Equal(t0) {
				t.Errorf("CreationDate = %v, want %v", md.CreationDate, t0)
			}
			if !md.Enabled || md.KeyState != types.KeyStateEnabled {
				t.Errorf("Enabled = %v, KeyState = %s", md.Enabled, md.KeyState)
			}
			if md.KeySpec != tt.wantSpec || md.KeyUsage != tt.wantUse {
				t.Errorf("KeySpec/KeyUsage = %s/%s, want %s/%s", md.KeySpec, md.KeyUsage, tt.wantSpec, tt.wantUse)
			}
			if md.KeyManager != types.KeyManagerTypeCustomer || md.Origin != types.OriginTypeAwsKms {
				t.Errorf("KeyManager/Origin = %s/%s", md.KeyManager, md.Origin)
			}
			if !slices.Equal(md.SigningAlgorithms, tt.wantSig) || !slices.Equal(md.EncryptionAlgorithms, tt.wantEnc) {
				t.Errorf("algorithms = %v / %v, want %v / %v", md.SigningAlgorithms, md.EncryptionAlgorithms, tt.wantSig, tt.wantEnc)
			}
			if got, want := aws.ToString(md.Description), aws.ToString(tt.in.Description); got != want {
				t.Errorf("Description = %q, want %q", got, want)
			}
		})
	}
}

func TestKeyIdentifiers(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	md := createKey(t, client, types.KeySpecEccNistEdwards25519)
	id := aws.ToString(md.KeyId)
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/hub/t1/pack"), TargetKeyId: md.Arn}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	tests := []struct {
		name  string
		ident string
		want  errCheck
	}{
		{name: "ok/key-id", ident: id},
		{name: "ok/key-arn", ident: aws.ToString(md.Arn)},
		{name: "ok/alias-name", ident: "alias/hub/t1/pack"},
		{name: "ok/alias-arn", ident: "arn:aws:kms:us-east-1:000000000000:alias/hub/t1/pack"},
		{name: "fail/unknown-key-id", ident: "11111111-2222-4333-8444-555555555555", want: wantType[*types.NotFoundException]()},
		{name: "fail/unknown-alias", ident: "alias/hub/t2/pack", want: wantType[*types.NotFoundException]()},
		{name: "fail/other-region", ident: "arn:aws:kms:eu-west-1:000000000000:key/" + id, want: wantType[*types.NotFoundException]()},
		{name: "fail/other-account", ident: "arn:aws:kms:us-east-1:111111111111:key/" + id, want: wantType[*types.NotFoundException]()},
		{name: "fail/garbage", ident: "not a key", want: wantType[*types.NotFoundException]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(tt.ident)})
			check(t, err, tt.want)
			if err == nil && aws.ToString(out.KeyMetadata.KeyId) != id {
				t.Errorf("KeyId = %q, want %q", aws.ToString(out.KeyMetadata.KeyId), id)
			}
			// Sign accepts the same identifiers.
			_, err = client.Sign(ctx, &kms.SignInput{
				KeyId: aws.String(tt.ident), Message: []byte("m"),
				MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512,
			})
			check(t, err, tt.want)
		})
	}
}

func TestAliases(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	k1 := createKey(t, client, types.KeySpecEccNistEdwards25519)
	k2 := createKey(t, client, types.KeySpecSymmetricDefault)
	tests := []struct {
		name   string
		alias  string
		target string
		want   errCheck
	}{
		{name: "ok/by-key-id", alias: "alias/hub/t1/pack", target: aws.ToString(k1.KeyId)},
		{name: "ok/by-key-arn", alias: "alias/hub/t1/seed", target: aws.ToString(k2.Arn)},
		{name: "ok/second-alias-same-key", alias: "alias/hub/t1/pack-old", target: aws.ToString(k1.KeyId)},
		{name: "fail/duplicate", alias: "alias/hub/t1/pack", target: aws.ToString(k2.KeyId), want: wantType[*types.AlreadyExistsException]()},
		{name: "fail/no-prefix", alias: "hub/t1", target: aws.ToString(k1.KeyId), want: wantType[*types.InvalidAliasNameException]()},
		{name: "fail/reserved-prefix", alias: "alias/aws/s3", target: aws.ToString(k1.KeyId), want: wantType[*types.InvalidAliasNameException]()},
		{name: "fail/bad-character", alias: "alias/hub t1", target: aws.ToString(k1.KeyId), want: wantType[*types.InvalidAliasNameException]()},
		{name: "fail/target-is-alias", alias: "alias/x", target: "alias/hub/t1/pack", want: wantCode("ValidationException")},
		{name: "fail/unknown-target", alias: "alias/y", target: "11111111-2222-4333-8444-555555555555", want: wantType[*types.NotFoundException]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(tt.alias), TargetKeyId: aws.String(tt.target)})
			check(t, err, tt.want)
		})
	}
}

// TestListKeys: every key, in key-id order, page by page.
func TestListKeys(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	var want []string
	for _, spec := range []types.KeySpec{types.KeySpecEccNistEdwards25519, types.KeySpecSymmetricDefault, types.KeySpecEccNistP256} {
		want = append(want, aws.ToString(createKey(t, client, spec).KeyId))
	}
	slices.Sort(want)
	list := func(t *testing.T, limit int32) []string {
		var ids []string
		p := kms.NewListKeysPaginator(client, &kms.ListKeysInput{Limit: aws.Int32(limit)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range out.Keys {
				if got, want := aws.ToString(k.KeyArn), "arn:aws:kms:us-east-1:000000000000:key/"+aws.ToString(k.KeyId); got != want {
					t.Errorf("KeyArn = %q, want %q", got, want)
				}
				ids = append(ids, aws.ToString(k.KeyId))
			}
		}
		return ids
	}
	t.Run("ok/all", func(t *testing.T) {
		if got := list(t, 100); !slices.Equal(got, want) {
			t.Fatalf("keys = %v, want %v", got, want)
		}
	})
	t.Run("ok/paginate", func(t *testing.T) {
		if got := list(t, 1); !slices.Equal(got, want) {
			t.Fatalf("keys = %v, want %v", got, want)
		}
	})
	t.Run("fail/limit", func(t *testing.T) {
		_, err := client.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1001)})
		check(t, err, wantCode("ValidationException"))
	})
	t.Run("fail/marker", func(t *testing.T) {
		_, err := client.ListKeys(ctx, &kms.ListKeysInput{Marker: aws.String("not a key id")})
		check(t, err, wantType[*types.InvalidMarkerException]())
	})
}

func TestKeyLifecycle(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	md := createKey(t, client, types.KeySpecEccNistP256)
	sym := createKey(t, client, types.KeySpecSymmetricDefault)
	id := md.KeyId
	sign := func() error {
		_, err := client.Sign(ctx, &kms.SignInput{KeyId: id, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		return err
	}
	pub := func() error {
		_, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: id})
		return err
	}
	encrypt := func() error {
		_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("p")})
		return err
	}
	state := func(t *testing.T, want types.KeyState) *types.KeyMetadata {
		t.Helper()
		out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: id})
		if err != nil {
			t.Fatalf("DescribeKey: %v", err)
		}
		if out.KeyMetadata.KeyState != want || out.KeyMetadata.Enabled != (want == types.KeyStateEnabled) {
			t.Fatalf("KeyState = %s, Enabled = %v, want %s", out.KeyMetadata.KeyState, out.KeyMetadata.Enabled, want)
		}
		return out.KeyMetadata
	}
	disabled := wantType[*types.DisabledException]()

	// Each step runs in order on the same key.
	steps := []struct {
		name  string
		do    func() error
		want  errCheck
		state types.KeyState
	}{
		{name: "ok/disable", do: func() error { _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); return err }, state: types.KeyStateDisabled},
		{name: "ok/disable-again", do: func() error { _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); return err }, state: types.KeyStateDisabled},
		{name: "fail/sign-disabled", do: sign, want: disabled, state: types.KeyStateDisabled},
		{name: "fail/public-key-disabled", do: pub, want: disabled, state: types.KeyStateDisabled},
		{name: "ok/alias-disabled", do: func() error {
			_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/late"), TargetKeyId: id})
			return err
		}, state: types.KeyStateDisabled},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			check(t, st.do(), st.want)
			state(t, st.state)
		})
	}

	t.Run("fail/encrypt-disabled", func(t *testing.T) {
		if _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: sym.KeyId}); err != nil {
			t.Fatal(err)
		}
		check(t, encrypt(), disabled)
	})
}
