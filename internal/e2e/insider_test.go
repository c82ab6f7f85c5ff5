package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// TestInsiderEditCaughtByDeep plays an insider with the hub's database
// (issue 13): one record of an acknowledged signed batch is changed in the
// stored body, its SHA-256 recomputed, through the store adapter against
// the DynamoDB emulator; the pack is then built through the normal API.
// The hub signs what it holds, so the plain check passes; --deep checks
// the body against the agent's own signature and fails, naming the agent
// and the batch, with the same lines in both verifiers.
func TestInsiderEditCaughtByDeep(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	a := e.enrolledAgent()
	expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
	seq := a.seq.Add(1)
	expect(t, a.ingest(a.bodySeq(seq, metric("cpu", 2))), http.StatusAccepted, "")

	ctx := context.Background()
	st := e.hub.Stores.Batches
	sb, err := st.GetBatch(ctx, a.id, hub.SignedBatchKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(sb.Body, []byte(`"value":2`), []byte(`"value":7`), 1)
	if bytes.Equal(edited, sb.Body) {
		t.Fatalf("no record to edit in %s", sb.Body)
	}
	if err := st.DeleteBatch(ctx, sb); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(edited)
	sb.Body, sb.SHA = edited, hex.EncodeToString(sum[:])
	if err := st.PutBatch(ctx, sb); err != nil {
		t.Fatal(err)
	}

	r := ad.awaitPack(ad.requestPack(period(t)))
	if r.Body["status"] != "ready" {
		t.Fatalf("pack: %s", r)
	}
	path := writeTemp(t, "pack.tar.gz", download(t, r.Body["download_url"].(string)))
	fp, _ := e.fingerprint(t, e.info.TenantID)
	checkBoth(t, path, fp, true) // the hub signed what it holds

	rep, err := verify.VerifyPath(path, verify.Options{ExpectFingerprint: fp, Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatalf("--deep passed a pack holding an edited record:\n%s", rep.Text())
	}
	var failed string
	for _, l := range strings.Split(rep.Text(), "\n") {
		if strings.HasPrefix(l, "✗") && strings.Contains(l, a.id) && strings.Contains(l, sb.Key) {
			failed = l
		}
	}
	if failed == "" || !strings.Contains(failed, "signature") {
		t.Fatalf("--deep does not name the agent's batch and its signature:\n%s", rep.Text())
	}
	script := packtest.VerifyPy(t)
	for _, be := range []string{packtest.Cryptography, packtest.PurePython} {
		code, stdout, stderr := packtest.RunPy(t, be, script, path, "--expect-fingerprint", fp, "--deep")
		if code != 1 || stdout != rep.Text() {
			t.Fatalf("verify.py --deep (%s) exit %d, want 1 and the Go verifier's lines:\n--- verify.py\n%s%s--- Go\n%s", be, code, stdout, stderr, rep.Text())
		}
	}
	t.Logf("--deep:\n%s", failed)
}
