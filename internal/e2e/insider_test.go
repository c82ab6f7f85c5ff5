package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// insiderFx is one hub and two enrolled agents, a and b, that have each
// sent three chained signed batches (SPEC 4.2's prev, built as monsys-agent
// builds them) with one metric each: a's values 1, 2, 3 and b's 11, 12, 13.
type insiderFx struct {
	e            *env
	a, b         *agent
	aSeqs, bSeqs []int64
}

// caught is what the ✗ line of --deep must name: the agent, the batch (its
// key, or "seq N" for a chain) and the reason; zero when nothing was changed
// and --deep must pass.
type caught struct{ agent, batch, reason string }

// TestInsiderCaughtByDeep plays an insider with the hub's database (issue
// 13, SPEC 9): after the agents' batches are acknowledged, the insider
// changes what the hub stores through the store adapter or straight in
// DynamoDB (the emulator), then the pack is built through the normal API.
// The hub signs what it holds, so the plain check passes in both
// verifiers; --deep checks the bodies against the agents' own signatures
// and chains and fails in both, with identical lines, one of which names
// the agent, the batch and the reason. Without the insider, --deep passes.
func TestInsiderCaughtByDeep(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, x *insiderFx) caught
	}{
		{"ok/no-insider", func(*testing.T, *insiderFx) caught { return caught{} }},
		{"ok/newest-batch-deleted-is-beyond-the-pack", func(t *testing.T, x *insiderFx) caught {
			// The limit docs/evidence-pack.md states: the end of a chain is
			// not in the pack's hands (SPEC 10's heads entries are).
			if err := x.e.hub.Stores.Batches.DeleteBatch(context.Background(), x.batch(t, x.a, x.aSeqs[2])); err != nil {
				t.Fatal(err)
			}
			return caught{}
		}},
		{"fail/edit-a-body-byte", func(t *testing.T, x *insiderFx) caught {
			// One byte of the stored body changes; its stored SHA-256 does not.
			sb := x.batch(t, x.a, x.aSeqs[1])
			x.rewrite(t, sb, bytes.Replace(sb.Body, []byte(`"value":2`), []byte(`"value":3`), 1), false)
			return caught{x.a.id, sb.Key, "does not match its SHA-256"}
		}},
		{"fail/edit-a-record-value", func(t *testing.T, x *insiderFx) caught {
			// The record changes and the insider recomputes the SHA-256: only
			// the agent's signature can tell.
			sb := x.batch(t, x.a, x.aSeqs[1])
			x.rewrite(t, sb, bytes.Replace(sb.Body, []byte(`"value":2`), []byte(`"value":7`), 1), true)
			return caught{x.a.id, sb.Key, "signature invalid"}
		}},
		{"fail/delete-a-batch-from-the-middle", func(t *testing.T, x *insiderFx) caught {
			sb := x.batch(t, x.a, x.aSeqs[1])
			if err := x.e.hub.Stores.Batches.DeleteBatch(context.Background(), sb); err != nil {
				t.Fatal(err)
			}
			return caught{x.a.id, "seq " + strconv.FormatInt(x.aSeqs[2], 10), "chain broken"}
		}},
		{"fail/replace-the-pinned-key-and-sign-new-batches", func(t *testing.T, x *insiderFx) caught {
			// The pin is the open entry of the key history (docs/signing-keys.md):
			// one write replaces both, as an insider with the table would. The
			// hub then accepts batches signed with the insider's key, chained
			// on from the agent's last one.
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			_, err := x.e.hub.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
				TableName:                 aws.String(x.e.tables.Agents),
				Key:                       map[string]types.AttributeValue{"agent_id": &types.AttributeValueMemberS{Value: x.a.id}},
				UpdateExpression:          aws.String("SET signing_pubkey = :k"),
				ConditionExpression:       aws.String("attribute_exists(signing_pubkey)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberB{Value: k.Public().(ed25519.PublicKey)}}})
			if err != nil {
				t.Fatal(err)
			}
			x.a.signKey = k
			x.a.send(metric("cpu", 4))
			x.a.send(metric("cpu", 5))
			return caught{x.a.id, hub.SignedBatchKey(x.aSeqs[0]), "signature invalid"}
		}},
		{"fail/move-a-batch-to-another-agent", func(t *testing.T, x *insiderFx) caught {
			sb := x.batch(t, x.a, x.aSeqs[1])
			ctx := context.Background()
			if err := x.e.hub.Stores.Batches.DeleteBatch(ctx, sb); err != nil {
				t.Fatal(err)
			}
			sb.AgentID = x.b.id
			if err := x.e.hub.Stores.Batches.PutBatch(ctx, sb); err != nil {
				t.Fatal(err)
			}
			return caught{x.b.id, sb.Key, "signature invalid"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			x := &insiderFx{e: e, a: e.enrolledAgent(), b: e.enrolledAgent()}
			for i := range 3 {
				x.aSeqs = append(x.aSeqs, seqOf(t, x.a.send(metric("cpu", float64(i+1)))))
				x.bSeqs = append(x.bSeqs, seqOf(t, x.b.send(metric("cpu", float64(i+11)))))
			}
			want := tt.tamper(t, x)

			ad := e.admin()
			r := ad.awaitPack(ad.requestPack(period(t)))
			if r.Body["status"] != "ready" {
				t.Fatalf("pack: %s", r)
			}
			path := writeTemp(t, "pack.tar.gz", download(t, r.Body["download_url"].(string)))
			fp, _ := e.fingerprint(t, e.info.TenantID)
			checkBoth(t, path, fp, true) // the hub signed what it holds
			text := checkDeep(t, path, fp, want == caught{})
			if want == (caught{}) {
				if !strings.Contains(text, "✓ Batch chains unbroken (2 agents)") {
					t.Fatalf("--deep does not check both agents' chains:\n%s", text)
				}
				return
			}
			for _, l := range strings.Split(text, "\n") {
				if strings.HasPrefix(l, "✗") && strings.Contains(l, want.agent) && strings.Contains(l, want.batch) && strings.Contains(l, want.reason) {
					t.Logf("--deep: %s", l)
					return
				}
			}
			t.Fatalf("no ✗ line names agent %s, batch %q and %q:\n%s", want.agent, want.batch, want.reason, text)
		})
	}
}

// checkDeep runs --deep on the pack at path in the Go verifier and in
// verify.py with both Ed25519 back ends: each must pass (exit 0) when
// wantOK, else fail (exit 1), with the same lines. It returns them.
func checkDeep(t *testing.T, path, fp string, wantOK bool) string {
	t.Helper()
	rep, err := verify.VerifyPath(path, verify.Options{ExpectFingerprint: fp, Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != wantOK {
		t.Fatalf("--deep OK = %v, want %v:\n%s", rep.OK, wantOK, rep.Text())
	}
	code := 1
	if wantOK {
		code = 0
	}
	script := packtest.VerifyPy(t)
	for _, be := range []string{packtest.Cryptography, packtest.PurePython} {
		got, stdout, stderr := packtest.RunPy(t, be, script, path, "--expect-fingerprint", fp, "--deep")
		if got != code || stdout != rep.Text() {
			t.Fatalf("verify.py --deep (%s) exit %d, want %d and the Go verifier's lines:\n--- verify.py\n%s%s--- Go\n%s", be, got, code, stdout, stderr, rep.Text())
		}
	}
	return rep.Text()
}

// batch reads agent a's stored signed batch seq through the store adapter.
func (x *insiderFx) batch(t *testing.T, a *agent, seq int64) hub.StoredBatch {
	t.Helper()
	sb, err := x.e.hub.Stores.Batches.GetBatch(context.Background(), a.id, hub.SignedBatchKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// rewrite replaces the stored body of sb by body, and its stored SHA-256
// too when resum.
func (x *insiderFx) rewrite(t *testing.T, sb hub.StoredBatch, body []byte, resum bool) {
	t.Helper()
	if bytes.Equal(body, sb.Body) {
		t.Fatalf("nothing to change in %s", sb.Body)
	}
	ctx := context.Background()
	st := x.e.hub.Stores.Batches
	if err := st.DeleteBatch(ctx, sb); err != nil {
		t.Fatal(err)
	}
	sb.Body = body
	if resum {
		sum := sha256.Sum256(body)
		sb.SHA = hex.EncodeToString(sum[:])
	}
	if err := st.PutBatch(ctx, sb); err != nil {
		t.Fatal(err)
	}
}

// seqOf is the seq of a signed body's header.
func seqOf(t *testing.T, body []byte) int64 {
	t.Helper()
	b, err := batch.Parse(body, true)
	if err != nil {
		t.Fatal(err)
	}
	return b.Header.Seq
}
