package kmssign_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/monsys/hub/internal/aws/kmssign"
)

type policyDoc struct {
	Statement []struct {
		Sid       string
		Effect    string
		Principal struct{ AWS string }
		Action    []string
		Resource  string
		Condition map[string]map[string]string
	}
}

func TestPackKeyPolicy(t *testing.T) {
	tests := []struct {
		name, signer, root string
		fail               bool
	}{
		{name: "ok/role", signer: "arn:aws:iam::123456789012:role/monsys-hub-PackRole-1A2B", root: "arn:aws:iam::123456789012:root"},
		{name: "ok/role-with-path", signer: "arn:aws-cn:iam::123456789012:role/svc/pack", root: "arn:aws-cn:iam::123456789012:root"},
		{name: "fail/assumed-role-session", signer: "arn:aws:sts::123456789012:assumed-role/pack/s", fail: true},
		{name: "fail/key", signer: "arn:aws:kms:us-east-1:123456789012:key/x", fail: true},
		{name: "fail/no-account", signer: "arn:aws:iam:::role/pack", fail: true},
		{name: "fail/empty", signer: "", fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := kmssign.PackKeyPolicy(tc.signer)
			if tc.fail {
				if !errors.Is(err, kmssign.ErrVault) {
					t.Fatalf("err %v, want ErrVault", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var doc policyDoc
			if err := json.Unmarshal([]byte(p), &doc); err != nil {
				t.Fatal(err)
			}
			uses := map[string]string{}
			for _, st := range doc.Statement {
				if st.Effect != "Allow" || st.Resource != "*" {
					t.Errorf("%s: %s on %s", st.Sid, st.Effect, st.Resource)
				}
				for _, a := range st.Action {
					switch st.Principal.AWS {
					case tc.root:
						if !slices.Contains(kmssign.KeyAdminActions, a) {
							t.Errorf("the account may %s", a)
						}
					case tc.signer:
						uses[a] = st.Condition["StringEquals"]["kms:SigningAlgorithm"] + "/" + st.Condition["StringEquals"]["kms:MessageType"]
					default:
						t.Errorf("%s grants %s to %s", st.Sid, a, st.Principal.AWS)
					}
				}
			}
			want := map[string]string{kmssign.ActGetPublicKey: "/", kmssign.ActSign: "ED25519_SHA_512/RAW"}
			if len(uses) != len(want) || uses[kmssign.ActGetPublicKey] != want[kmssign.ActGetPublicKey] || uses[kmssign.ActSign] != want[kmssign.ActSign] {
				t.Errorf("the signer may %v, want %v", uses, want)
			}
		})
	}
}

// recorder keeps the CreateKey requests a vault makes.
type recorder struct {
	kmssign.VaultAPI
	creates []*kms.CreateKeyInput
}

func (r *recorder) CreateKey(ctx context.Context, in *kms.CreateKeyInput, opts ...func(*kms.Options)) (*kms.CreateKeyOutput, error) {
	r.creates = append(r.creates, in)
	return r.VaultAPI.CreateKey(ctx, in, opts...)
}

// In kms mode with a signer, each key is created with the signer's key
// policy, untagged (no kms:TagResource, which cannot be scoped to new keys).
func TestVaultKeyPolicy(t *testing.T) {
	rec := &recorder{VaultAPI: newClient(t)}
	const signer = "arn:aws:iam::123456789012:role/monsys-hub-PackRole-1A2B"
	v, err := kmssign.NewVault(kmssign.ModeKMS, rec, "", kmssign.WithSigner(signer))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.NewKey(context.Background(), "acme", "sk_one"); err != nil {
		t.Fatal(err)
	}
	want, _ := kmssign.PackKeyPolicy(signer)
	if len(rec.creates) != 1 {
		t.Fatalf("%d CreateKey calls", len(rec.creates))
	}
	in := rec.creates[0]
	if aws.ToString(in.Policy) != want || !in.BypassPolicyLockoutSafetyCheck || len(in.Tags) != 0 {
		t.Fatalf("CreateKey policy %q bypass %v tags %v; want the signer's policy, the bypass, no tags", aws.ToString(in.Policy), in.BypassPolicyLockoutSafetyCheck, in.Tags)
	}
	if _, err := kmssign.NewVault(kmssign.ModeKMS, rec, "", kmssign.WithSigner("not-an-arn")); !errors.Is(err, kmssign.ErrVault) {
		t.Fatalf("a bad signer: %v, want ErrVault", err)
	}
}
