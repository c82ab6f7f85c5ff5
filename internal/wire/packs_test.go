package wire_test

import (
	"testing"
	"time"

	"github.com/monsys/hub/internal/wire"
)

func TestPacksFromEnv(t *testing.T) {
	base := map[string]string{wire.EnvTablePacks: "p", wire.EnvTableSigningKeys: "k", wire.EnvPackBucket: "b", wire.EnvSigningMode: "kms",
		wire.EnvLambdaFunction: "stack-pack"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want func(wire.PackSettings) bool
	}{
		{"ok/defaults", base, true, func(p wire.PackSettings) bool {
			return p.RetentionDays == wire.DefaultRetentionDays && p.LinkTTL == 0 && p.BuildFunction == "stack-pack" && !p.PathStyle
		}},
		{"ok/envelope", with(wire.EnvSigningMode, "kms-envelope", wire.EnvWrapKeyID, "arn:wrap"), true, func(p wire.PackSettings) bool { return p.WrapKeyID == "arn:wrap" }},
		{"ok/tuned", with(wire.EnvRetentionDays, "0", wire.EnvLinkTTL, "1h", wire.EnvS3PathStyle, "true", wire.EnvBuildFunction, "other"), true,
			func(p wire.PackSettings) bool {
				return p.RetentionDays == 0 && p.LinkTTL == time.Hour && p.PathStyle && p.BuildFunction == "other"
			}},
		{"ok/key-user", with(wire.EnvSigningKeyUser, "arn:aws:iam::123456789012:role/stack-PackRole-X"), true,
			func(p wire.PackSettings) bool { return p.KeyUser == "arn:aws:iam::123456789012:role/stack-PackRole-X" }},
		{"fail/key-user-not-a-role", with(wire.EnvSigningKeyUser, "arn:aws:kms:us-east-1:123456789012:key/x"), false, nil},
		{"ok/link-role", with(wire.EnvLinkRole, "arn:aws:iam::123456789012:role/stack-PackLinkRole-X"), true,
			func(p wire.PackSettings) bool {
				return p.LinkRole == "arn:aws:iam::123456789012:role/stack-PackLinkRole-X"
			}},
		{"fail/link-role-not-an-arn", with(wire.EnvLinkRole, "PackLinkRole"), false, nil},
		{"fail/no-mode", with(wire.EnvSigningMode, ""), false, nil},
		{"fail/unknown-mode", with(wire.EnvSigningMode, "local"), false, nil},
		{"fail/envelope-without-key", with(wire.EnvSigningMode, "kms-envelope"), false, nil},
		{"fail/kms-with-wrap-key", with(wire.EnvWrapKeyID, "arn:wrap"), false, nil},
		{"fail/no-bucket", with(wire.EnvPackBucket, ""), false, nil},
		{"fail/no-table", with(wire.EnvTableSigningKeys, ""), false, nil},
		{"fail/retention", with(wire.EnvRetentionDays, "-1"), false, nil},
		{"fail/ttl-too-long", with(wire.EnvLinkTTL, "169h"), false, nil},
		{"fail/path-style", with(wire.EnvS3PathStyle, "yes"), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s wire.Settings
			p, err := wire.PacksFromEnv(func(k string) string { return tc.env[k] }, &s)
			if (err == nil) != tc.ok {
				t.Fatalf("PacksFromEnv = %+v, %v; want ok=%v", p, err, tc.ok)
			}
			if tc.ok && (!tc.want(p) || s.Tables.Packs != "p" || s.Tables.SigningKeys != "k") {
				t.Fatalf("PacksFromEnv = %+v, tables %+v", p, s.Tables)
			}
		})
	}
}
