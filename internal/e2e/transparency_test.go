package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/verify"
)

// TestPackTransparency: the local hub logs a pack through the API, its
// litewitness cosigns, and the downloaded pack passes both verifiers with
// hub.json's log_vkey and witness_vkeys (SPEC 8.1's command line), with
// identical lines. A rewound copy of the hub's log (its table and bucket
// as a backup from before the pack) cannot get the same witness to cosign
// another history: the witness refuses and the error names it.
func TestPackTransparency(t *testing.T) {
	e := newEnv(t)
	if e.info.LogVKey == "" || len(e.info.WitnessVKeys) != 1 {
		t.Fatalf("hub.json log_vkey %q, witness_vkeys %q", e.info.LogVKey, e.info.WitnessVKeys)
	}
	ad := e.admin()
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	id := ad.requestPack(period(t))
	r := ad.awaitPack(id)
	if r.Body["status"] != "ready" {
		t.Fatalf("pack: %s", r)
	}
	if pk, err := e.hub.Stores.Packs.GetPack(t.Context(), e.info.TenantID, id); err == nil {
		// Figures (docs/transparency-log.md): generated_at is the next whole
		// second after the build starts; from it to ready is the build,
		// the log, the witness and the upload.
		t.Logf("pack requested → ready: %v; generated_at → ready (build, log, cosign, proofs, upload): %v",
			pk.FinishedAt.Sub(pk.RequestedAt), pk.FinishedAt.Sub(pk.GeneratedAt))
	}
	path := writeTemp(t, "pack.tar.gz", download(t, r.Body["download_url"].(string)))
	fp, _ := e.fingerprint(t, e.info.TenantID)

	args := []string{path, "--expect-fingerprint", fp, "--deep", "--log-key", e.info.LogVKey}
	opts := verify.TransparencyOptions{LogKey: e.info.LogVKey}
	for _, k := range e.info.WitnessVKeys {
		args = append(args, "--witness-key", k)
		opts.WitnessKeys = append(opts.WitnessKeys, k)
	}
	keys, err := verify.ParseTransparencyOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.VerifyPath(path, verify.Options{ExpectFingerprint: fp, Deep: true, Transparency: keys})
	if err != nil {
		t.Fatal(err)
	}
	text := rep.Text()
	if !rep.OK || !strings.Contains(text, "✓ Logged in monsys.local/log at index ") ||
		!strings.Contains(text, "✓ Cosigned by 1 of 1 witnesses (quorum 1), first at ") ||
		!strings.Contains(text, "✓ Key history in the log (1 pin, 0 unpins)") {
		t.Fatalf("Go verifier:\n%s", text)
	}
	script := packtest.VerifyPy(t)
	for _, be := range []string{packtest.Cryptography, packtest.PurePython} {
		code, stdout, stderr := packtest.RunPy(t, be, script, args...)
		if code != 0 || stdout != text {
			t.Fatalf("verify.py (%s) exit %d:\n--- verify.py\n%s%s--- Go\n%s", be, code, stdout, stderr, text)
		}
	}
	t.Logf("verify.py %s\n%s", strings.Join(args[1:], " "), text)

	t.Run("fail/rewound-log-refused", func(t *testing.T) {
		ctx := context.Background()
		rewound, err := e.hub.RewoundLog(ctx, emutest.UniqueBucket(t))
		if err != nil {
			t.Fatal(err)
		}
		// Another history: the same pack id with another manifest.
		_, err = rewound.Append(ctx, tlog.Pack(e.info.TenantID, id, strings.Repeat("0", 64), "2026-01-01T00:00:00Z"))
		if !errors.Is(err, tlog.ErrNotCosigned) || !strings.Contains(err.Error(), "witness.monsys.local") {
			t.Fatalf("appending to a rewound log: %v; want a refusal naming witness.monsys.local", err)
		}
		t.Logf("the witness refuses the rewound log: %v", err)
		// The hub's real log goes on.
		if _, err := e.hub.Log.Append(ctx, tlog.Pack(e.info.TenantID, "pk_after", strings.Repeat("1", 64), "2026-01-01T00:00:00Z")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPackTransparencyEnvelopeLogKey: in kms-envelope mode (a KMS without
// Ed25519 keys) the local hub's log key is an Ed25519 seed sealed under the
// envelope key; its packs pass the verifiers with hub.json's keys.
func TestPackTransparencyEnvelopeLogKey(t *testing.T) {
	e := startEnv(t, local.Config{DynamoEndpoint: emutest.DynamoEndpointForTest(t), TablePrefix: emutest.UniquePrefix(t),
		SigningMode: kmssign.ModeKMSEnvelope})
	// No Ed25519 KMS key was made for the log.
	if _, err := e.hub.KMS.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(local.LogKeyAlias)}); err == nil {
		t.Fatal("kms-envelope mode made a KMS log key")
	}
	ad := e.admin()
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	r := ad.awaitPack(ad.requestPack(period(t)))
	if r.Body["status"] != "ready" {
		t.Fatalf("pack: %s", r)
	}
	path := writeTemp(t, "pack.tar.gz", download(t, r.Body["download_url"].(string)))
	keys, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: e.info.LogVKey, WitnessKeys: e.info.WitnessVKeys})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.VerifyPath(path, verify.Options{Transparency: keys})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || !strings.Contains(rep.Text(), "✓ Key history in the log (1 pin, 0 unpins)") {
		t.Fatalf("Go verifier:\n%s", rep.Text())
	}
}
