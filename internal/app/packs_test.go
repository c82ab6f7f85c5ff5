package app_test

import (
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
)

func TestPacksFromEnv(t *testing.T) {
	base := map[string]string{app.EnvTablePacks: "p", app.EnvTableSigningKeys: "k", app.EnvPackBucket: "b", app.EnvSigningMode: "kms",
		app.EnvLambdaFunction: "stack-pack"}
	with := func(kv ...string) map[string]string { return envWith(base, kv...) }
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want func(app.PackSettings) bool
	}{
		{"ok/defaults", base, true, func(p app.PackSettings) bool {
			return p.RetentionDays == app.DefaultRetentionDays && p.LinkTTL == 0 && p.BuildFunction == "stack-pack" && !p.PathStyle &&
				p.HotDays == app.DefaultHotDays
		}},
		{"ok/hot-days", with(app.EnvHotDays, "90"), true, func(p app.PackSettings) bool { return p.HotDays == 90 }},
		{"ok/hot-days-shortest", with(app.EnvHotDays, "35"), true, func(p app.PackSettings) bool { return p.HotDays == 35 }},
		{"fail/hot-days-shorter-than-a-month-and-its-build", with(app.EnvHotDays, "34"), false, nil},
		{"fail/hot-days-zero", with(app.EnvHotDays, "0"), false, nil},
		{"fail/hot-days-not-a-number", with(app.EnvHotDays, "45d"), false, nil},
		{"fail/hot-days-too-long", with(app.EnvHotDays, "3651"), false, nil},
		{"ok/envelope", with(app.EnvSigningMode, "kms-envelope", app.EnvWrapKeyID, "arn:wrap"), true, func(p app.PackSettings) bool { return p.WrapKeyID == "arn:wrap" }},
		{"ok/tuned", with(app.EnvRetentionDays, "0", app.EnvLinkTTL, "1h", app.EnvS3PathStyle, "true", app.EnvBuildFunction, "other"), true,
			func(p app.PackSettings) bool {
				return p.RetentionDays == 0 && p.LinkTTL == time.Hour && p.PathStyle && p.BuildFunction == "other"
			}},
		{"ok/key-user", with(app.EnvSigningKeyUser, "arn:aws:iam::123456789012:role/stack-PackRole-X"), true,
			func(p app.PackSettings) bool { return p.KeyUser == "arn:aws:iam::123456789012:role/stack-PackRole-X" }},
		{"fail/key-user-not-a-role", with(app.EnvSigningKeyUser, "arn:aws:kms:us-east-1:123456789012:key/x"), false, nil},
		{"ok/link-role", with(app.EnvLinkRole, "arn:aws:iam::123456789012:role/stack-PackLinkRole-X"), true,
			func(p app.PackSettings) bool {
				return p.LinkRole == "arn:aws:iam::123456789012:role/stack-PackLinkRole-X"
			}},
		{"fail/link-role-not-an-arn", with(app.EnvLinkRole, "PackLinkRole"), false, nil},
		{"fail/no-mode", with(app.EnvSigningMode, ""), false, nil},
		{"fail/unknown-mode", with(app.EnvSigningMode, "local"), false, nil},
		{"fail/envelope-without-key", with(app.EnvSigningMode, "kms-envelope"), false, nil},
		{"fail/kms-with-wrap-key", with(app.EnvWrapKeyID, "arn:wrap"), false, nil},
		{"fail/no-bucket", with(app.EnvPackBucket, ""), false, nil},
		{"fail/no-table", with(app.EnvTableSigningKeys, ""), false, nil},
		{"fail/retention", with(app.EnvRetentionDays, "-1"), false, nil},
		{"fail/ttl-too-long", with(app.EnvLinkTTL, "169h"), false, nil},
		{"fail/path-style", with(app.EnvS3PathStyle, "yes"), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s app.Settings
			p, err := app.PacksFromEnv(func(k string) string { return tc.env[k] }, &s)
			if (err == nil) != tc.ok {
				t.Fatalf("PacksFromEnv = %+v, %v; want ok=%v", p, err, tc.ok)
			}
			if tc.ok && (!tc.want(p) || s.Tables.Packs != "p" || s.Tables.SigningKeys != "k") {
				t.Fatalf("PacksFromEnv = %+v, tables %+v", p, s.Tables)
			}
		})
	}
}
