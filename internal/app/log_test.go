package app_test

import (
	"maps"
	"testing"
	"time"

	"filippo.io/torchwood"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

func witnessItem(t *testing.T, name string, seed byte) string {
	t.Helper()
	s, err := torchwood.NewCosignatureSigner(name, tlogtest.NewKey(seed).Priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier().String() + " https://" + name + "/w"
}

func TestLogFromEnv(t *testing.T) {
	w1, w2 := witnessItem(t, "w1.example", 1), witnessItem(t, "w2.example", 2)
	base := map[string]string{app.EnvTableLog: "log", app.EnvLogBucket: "logb", app.EnvLogOrigin: "hub.example.com/monsys",
		app.EnvLogKeyID: "arn:aws:kms:us-east-1:123456789012:key/l", app.EnvWitnesses: w1 + "," + w2}
	with := func(kv ...string) map[string]string { return envWith(base, kv...) }
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want func(app.LogSettings) bool
	}{
		{"ok/defaults", base, true, func(l app.LogSettings) bool {
			return l.Quorum == 2 && len(l.Witnesses) == 2 && l.Retention == app.DefaultLogRetentionDays*24*time.Hour && !l.PathStyle
		}},
		{"ok/quorum-and-retention", with(app.EnvWitnessQuorum, "1", app.EnvLogRetentionDays, "30", app.EnvS3PathStyle, "true"), true,
			func(l app.LogSettings) bool { return l.Quorum == 1 && l.Retention == 30*24*time.Hour && l.PathStyle }},
		{"ok/quorum-all", with(app.EnvWitnessQuorum, "all"), true, func(l app.LogSettings) bool { return l.Quorum == 2 }},
		{"fail/no-witnesses", with(app.EnvWitnesses, ""), false, nil},
		{"fail/bad-witness", with(app.EnvWitnesses, "nonsense"), false, nil},
		{"fail/quorum-too-large", with(app.EnvWitnessQuorum, "3"), false, nil},
		{"fail/quorum-zero", with(app.EnvWitnessQuorum, "0"), false, nil},
		{"fail/origin-with-space", with(app.EnvLogOrigin, "hub example"), false, nil},
		{"fail/origin-with-plus", with(app.EnvLogOrigin, "hub+x"), false, nil},
		{"fail/no-origin", with(app.EnvLogOrigin, ""), false, nil},
		{"fail/no-key", with(app.EnvLogKeyID, ""), false, nil},
		{"fail/no-table", with(app.EnvTableLog, ""), false, nil},
		{"fail/no-bucket", with(app.EnvLogBucket, ""), false, nil},
		{"fail/retention", with(app.EnvLogRetentionDays, "0"), false, nil},
		{"fail/path-style", with(app.EnvS3PathStyle, "yes"), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := app.LogFromEnv(func(k string) string { return tc.env[k] })
			if (err == nil) != tc.ok {
				t.Fatalf("LogFromEnv = %+v, %v; want ok=%v", l, err, tc.ok)
			}
			if tc.ok && !tc.want(l) {
				t.Fatalf("LogFromEnv = %+v", l)
			}
		})
	}
}

// envWith is base with the pairs kv (name, value, ...) set.
func envWith(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
