package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
)

// badRecords are records that break I-JSON (RFC 7493), one rule each, as an
// agent could send them, with the rule the answer must name. ts is replaced
// by a time in the pack's period.
var badRecords = []struct{ name, record, rule string }{
	{"fail/duplicate-member", `{"type":"metric","ts":"TS","v":1,"v":2}`, `duplicate member name "v"`},
	{"fail/duplicate-member-escaped", `{"type":"metric","ts":"TS","v":1,"\u0076":2}`, `duplicate member name "v"`},
	{"fail/invalid-utf8", "{\"type\":\"metric\",\"ts\":\"TS\",\"s\":\"\xff\"}", "invalid UTF-8"},
	{"fail/lone-surrogate", `{"type":"metric","ts":"TS","s":"\ud800"}`, `lone surrogate \ud800`},
	{"fail/number-1e400", `{"type":"metric","ts":"TS","v":1e400}`, "number 1e400 is outside the IEEE 754 double range"},
	{"fail/nesting-65-levels", `{"type":"metric","ts":"TS","v":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "nesting deeper than 64 levels"},
}

func withTS(record string) string {
	return strings.Replace(record, "TS", time.Now().UTC().Format(time.RFC3339Nano), 1)
}

// rawBody is a signed body of the agent's next seq: the header, then the
// records as given (raw JSON, which need not be valid).
func (a *agent) rawBody(records ...string) []byte {
	h := string(mustJSON(a.e.t, rec{"type": "batch", "ts": time.Now().UTC().Format(time.RFC3339), "seq": a.seq.Add(1), "agent_version": a.version}))
	return []byte("[" + strings.Join(append([]string{h}, records...), ",") + "]")
}

func message(r resp) string {
	e, _ := r.Body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestIngestRefusesWhatAPackCannotHold: SPEC 4.2 check 7 includes I-JSON,
// for signed and legacy agents alike. Each record the pack canonicalizer
// would refuse is 400 invalid_request naming the record and the rule, and
// the pack of the period is ready (before, ingest took them with 202 and
// every pack of the period failed).
func TestIngestRefusesWhatAPackCannotHold(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	signed := e.enrolledAgent()
	legacy := e.legacyAgent()
	good := string(mustJSON(t, metric("cpu", 1)))
	for _, tc := range badRecords {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("signed", func(t *testing.T) {
				body := signed.rawBody(good, withTS(tc.record))
				r := signed.ingest(body)
				if r.Status != http.StatusBadRequest || r.code() != "invalid_request" ||
					!strings.Contains(message(r), "record 2: ") || !strings.Contains(message(r), tc.rule) {
					t.Errorf("want 400 invalid_request naming record 2 and %q, got %s", tc.rule, r)
				}
			})
			t.Run("legacy", func(t *testing.T) {
				body := []byte("[" + good + "," + withTS(tc.record) + "]")
				r := legacy.ingestWith(legacy.c, body, "", nil)
				if r.Status != http.StatusBadRequest || r.code() != "invalid_request" ||
					!strings.Contains(message(r), "record 1: ") || !strings.Contains(message(r), tc.rule) {
					t.Errorf("want 400 invalid_request naming record 1 and %q, got %s", tc.rule, r)
				}
			})
		})
	}
	// Both agents can still send, and the period packs.
	expect(t, signed.ingest(signed.body(metric("cpu", 2))), http.StatusAccepted, "")
	legacy.sendUnsigned()
	id := ad.requestPack(period(t))
	r := ad.awaitPack(id)
	if r.Body["status"] != "ready" {
		t.Fatalf("pack of the period: %s", r)
	}
	tgz := download(t, r.Body["download_url"].(string))
	fp, _ := e.fingerprint(t, e.info.TenantID)
	if out := checkBoth(t, writeTemp(t, "pack.tar.gz", tgz), fp, true); strings.Contains(out, "⚠") {
		t.Fatalf("a pack of well-formed data has warnings:\n%s", out)
	}
}

// TestPackQuarantinesStoredBatches plays an insider (or a hub before check
// 7 refused them): batches that do not parse or do not canonicalize are
// written straight into the store. The pack of their period is still
// ready; each such batch has its batch.ndjson line with
// "records_in_period":0 and "quarantined", none of its records is packed,
// and both verifiers pass the pack with a warning naming the agent, the
// batch and the reason (SPEC 9, "Records that cannot be packed").
func TestPackQuarantinesStoredBatches(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	signed := e.enrolledAgent()
	legacy := e.legacyAgent()
	expect(t, signed.ingest(signed.body(metric("cpu", 1))), http.StatusAccepted, "")

	now := time.Now().UTC()
	day := now.Format(time.DateOnly)
	put := func(a *agent, body []byte, signedBatch bool, seq int64, records int) hub.StoredBatch {
		t.Helper()
		sum := sha256.Sum256(body)
		sb := hub.StoredBatch{TenantID: e.info.TenantID, AgentID: a.id, SHA: hex.EncodeToString(sum[:]), Body: body,
			Records: records, MinTS: now, MaxTS: now, Days: []string{day}, ReceivedAt: now.Add(-time.Second)}
		if signedBatch {
			sb.Key, sb.Seq, sb.Signed, sb.Signature = hub.SignedBatchKey(seq), seq, true, sig.Sign(a.signKey, body)
		} else {
			sb.Key = "u#" + sb.SHA
		}
		if err := e.hub.Stores.Batches.PutBatch(context.Background(), sb); err != nil {
			t.Fatal(err)
		}
		return sb
	}
	dupSeq := signed.seq.Add(1)
	dup := put(signed, []byte(fmt.Sprintf(`[{"type":"batch","ts":%q,"seq":%d,"agent_version":"1.4.2"},{"type":"metric","ts":%q,"name":"leak","v":1,"\u0076":2}]`,
		now.Format(time.RFC3339), dupSeq, now.Format(time.RFC3339Nano))), true, dupSeq, 1)
	damaged := put(legacy, []byte(`[{"type":"metric","ts":"`+now.Format(time.RFC3339Nano)+`","name":"trunc`), false, 0, 1)
	deep := put(legacy, []byte(`[{"type":"metric","ts":"`+now.Format(time.RFC3339Nano)+`","name":"deep","v":`+
		strings.Repeat("[", 600)+strings.Repeat("]", 600)+`}]`), false, 0, 1)

	id := ad.requestPack(period(t))
	r := ad.awaitPack(id)
	if r.Body["status"] != "ready" {
		t.Fatalf("a pack holding malformed stored batches: %s", r)
	}
	tgz := download(t, r.Body["download_url"].(string))
	files := members(t, tgz)
	for _, q := range []struct {
		a      *agent
		sb     hub.StoredBatch
		reason string
	}{
		{signed, dup, `"quarantined":"record 1: duplicate member name \"v\" at byte `},
		{legacy, damaged, `"quarantined":"record 0: not JSON: unterminated string at byte `},
		{legacy, deep, `"quarantined":"record 0: nesting deeper than 64 levels at byte `},
	} {
		lines := files["data/agents/"+q.a.id+"/batch.ndjson"]
		line := lineWith(lines, `"batch_key":"`+q.sb.Key+`"`)
		if line == "" {
			t.Fatalf("batch %s/%s is not in batch.ndjson:\n%s", q.a.id, q.sb.Key, lines)
		}
		if !strings.Contains(line, q.reason) || !strings.Contains(line, `"records_in_period":0`) ||
			!strings.Contains(line, `"body_sha256":"`+q.sb.SHA+`"`) {
			t.Fatalf("batch %s/%s: want a quarantine line naming %q, got %s", q.a.id, q.sb.Key, q.reason, line)
		}
	}
	for path, body := range files {
		for _, leaked := range []string{`"leak"`, `"trunc`, `"deep"`} {
			if strings.HasSuffix(path, "metric.ndjson") && strings.Contains(body, leaked) {
				t.Fatalf("%s holds a record of a quarantined batch:\n%s", path, body)
			}
		}
	}
	if !strings.Contains(files["data/agents/"+signed.id+"/metric.ndjson"], `"name":"cpu"`) {
		t.Fatalf("the good batch is not packed:\n%s", files["data/agents/"+signed.id+"/metric.ndjson"])
	}
	fp, _ := e.fingerprint(t, e.info.TenantID)
	out := checkBoth(t, writeTemp(t, "pack.tar.gz", tgz), fp, true)
	t.Logf("both verifiers:\n%s", out)
	for _, w := range []string{
		"⚠ Quarantined batch (records not packed): agent " + signed.id + ", batch " + dup.Key + `: record 1: duplicate member name "v" at byte `,
		"⚠ Quarantined batch (records not packed): agent " + legacy.id + ", batch " + deep.Key + ": record 0: nesting deeper than 64 levels at byte ",
		"⚠ Quarantined batch (records not packed): agent " + legacy.id + ", batch " + damaged.Key + ": record 0: not JSON: unterminated string at byte ",
	} {
		if !strings.Contains(out, w) {
			t.Fatalf("the verifiers do not warn %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "⚠ Quarantined batch"); n != 3 {
		t.Fatalf("%d quarantine warnings, want 3:\n%s", n, out)
	}
	if !strings.HasPrefix(out, "✓ Signature valid (Ed25519)\n") || strings.Index(out, "✓ Tenant: ") > strings.Index(out, "⚠") {
		t.Fatalf("the warnings must follow the seven success lines:\n%s", out)
	}
}

// lineWith returns the first line of lines that holds s, or "".
func lineWith(lines, s string) string {
	for _, l := range strings.Split(lines, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
