package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/sig"
)

// TestIngestCheckTable walks the rows of SPEC 4.2's check table, each with
// the answer and the anomaly it names.
func TestIngestCheckTable(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	url := e.info.URL + "/api/v1/ingest"

	t.Run("1/missing-token", func(t *testing.T) {
		a := e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		r := call(t, a.c, "POST", url, "", body, map[string]string{sig.Header: signOf(a, body)})
		expect(t, r, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("1/unknown-token", func(t *testing.T) {
		a := e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		r := call(t, a.c, "POST", url, "ms_"+strings.Repeat("A", 43), body, map[string]string{sig.Header: signOf(a, body)})
		expect(t, r, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("2/cert-pin-mismatch", func(t *testing.T) {
		a, b := e.enrolledAgent(), e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		expect(t, a.ingestWith(b.c, body, signOf(a, body), nil), http.StatusForbidden, "cert_pin_mismatch")
		if an := ad.anomaly(a.id, "cert_pin_mismatch"); an["severity"] != "critical" {
			t.Fatalf("anomaly: %v", an)
		}
	})
	t.Run("3/payload-too-large", func(t *testing.T) {
		a := e.enrolledAgent()
		body := padTo(a, 256<<10+1)
		expect(t, a.ingest(body), http.StatusRequestEntityTooLarge, "payload_too_large")
	})
	t.Run("4/legacy-agent-unsigned-accepted", func(t *testing.T) {
		a := e.newAgent()
		r := a.register(a.enrollC, a.regBody(nil, a.csr()))
		expect(t, r, http.StatusOK, "")
		a.useCert(r.Body["client_cert"].(string))
		body := mustJSON(t, []rec{metric("cpu", 1), metric("mem", 2)}) // no batch header needed
		r = a.ingestWith(a.c, body, "", nil)
		expect(t, r, http.StatusAccepted, "")
		if r.Body["accepted"] != float64(2) {
			t.Fatalf("accepted: %s", r)
		}
		if v := ad.agent(a.id); v["sends_unsigned"] != true || v["last_unsigned_at"] == nil {
			t.Fatalf("agent not marked as sending unsigned data: %v", v)
		}
	})
	t.Run("5/signature-missing", func(t *testing.T) {
		a := e.enrolledAgent()
		body := a.body(metric("cpu", 1))
		expect(t, a.ingestWith(a.c, body, "", nil), http.StatusForbidden, "signature_missing")
		if an := ad.anomaly(a.id, "unsigned_payload"); an["severity"] != "high" {
			t.Fatalf("anomaly: %v", an)
		}
		nothingStored(t, e, a)
	})
	t.Run("6/signature-invalid", func(t *testing.T) {
		a := e.enrolledAgent()
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		body := a.body(metric("cpu", 1))
		for name, s := range map[string]string{
			"not-base64":  "!!!not base64!!!",
			"63-bytes":    base64.StdEncoding.EncodeToString(make([]byte, 63)),
			"65-bytes":    base64.StdEncoding.EncodeToString(make([]byte, 65)),
			"other-key":   sig.Sign(other, body),
			"other-body":  sig.Sign(a.signKey, append([]byte(nil), body[:len(body)-1]...)),
			"url-base64":  strings.NewReplacer("+", "-", "/", "_").Replace(signOf(a, body)) + "x",
			"raw-message": base64.StdEncoding.EncodeToString(ed25519.Sign(a.signKey, body)),
		} {
			t.Run(name, func(t *testing.T) {
				expect(t, a.ingestWith(a.c, body, s, nil), http.StatusForbidden, "signature_invalid")
			})
		}
		if an := ad.anomaly(a.id, "signature_invalid"); an["severity"] != "critical" || an["count"] != float64(7) {
			t.Fatalf("anomaly: %v", an)
		}
		nothingStored(t, e, a)
	})
	t.Run("7/invalid-batch", func(t *testing.T) {
		a := e.enrolledAgent()
		body := []byte(`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":1,"agent_version":"1.4.2"},{"type":"Metric","ts":"x"}]`)
		expect(t, a.ingest(body), http.StatusBadRequest, "invalid_request")
		nothingStored(t, e, a)
	})
	t.Run("8/replay-and-idempotent-retry", func(t *testing.T) {
		a := e.enrolledAgent()
		first := a.body(metric("cpu", 1))
		expect(t, a.ingest(first), http.StatusAccepted, "")
		// The exact body again: an idempotent retry, no anomaly.
		r := a.ingest(first)
		expect(t, r, http.StatusOK, "")
		if r.Body["accepted"] != float64(0) || r.Body["duplicate"] != true {
			t.Fatalf("retry: %s", r)
		}
		ad.noAnomaly(a.id, "replay_detected")
		last := a.seq.Load()
		// Same seq, other body; and a lower seq: 409 with last_seq, and an anomaly.
		for _, seq := range []int64{last, last - 5} {
			r = a.ingest(a.bodySeq(seq, metric("cpu", 99)))
			expect(t, r, http.StatusConflict, "replay_rejected")
			if r.Body["last_seq"] != float64(last) {
				t.Fatalf("last_seq: %s want %d", r, last)
			}
		}
		if an := ad.anomaly(a.id, "replay_detected"); an["severity"] != "high" || an["count"] != float64(2) {
			t.Fatalf("anomaly: %v", an)
		}
		// The agent recovers with last_seq + 1.
		expect(t, a.ingest(a.bodySeq(last+1, metric("cpu", 2))), http.StatusAccepted, "")
	})
	t.Run("9/version-downgrade-accepted-with-anomaly", func(t *testing.T) {
		a := e.enrolledAgent()
		expect(t, a.ingest(a.body(metric("cpu", 1))), http.StatusAccepted, "")
		a.version = "1.3.9"
		r := a.ingest(a.body(metric("cpu", 1)))
		expect(t, r, http.StatusAccepted, "")
		if an := ad.anomaly(a.id, "version_downgrade"); an["severity"] != "high" {
			t.Fatalf("anomaly: %v", an)
		}
		if v := ad.agent(a.id); v["max_agent_version"] != "1.4.2" || v["agent_version"] != "1.3.9" {
			t.Fatalf("versions: %v", v)
		}
	})
	t.Run("ok/accepted", func(t *testing.T) {
		a := e.enrolledAgent()
		recs := []rec{metric("cpu", 1), {"type": "inventory_snapshot", "ts": time.Now().UTC().Format(time.RFC3339), "packages": []string{"openssl"}},
			{"type": "process_dna", "ts": time.Now().UTC().Format(time.RFC3339), "sha256": strings.Repeat("a", 64)},
			{"type": "some_future_type", "ts": time.Now().UTC().Format(time.RFC3339)}}
		body := a.body(recs...)
		r := a.ingest(body)
		expect(t, r, http.StatusAccepted, "")
		if r.Body["accepted"] != float64(4) {
			t.Fatalf("accepted: %s", r)
		}
		b, err := e.hub.Stores.Batches.GetBatch(t.Context(), a.id, hub.SignedBatchKey(a.seq.Load()))
		if err != nil || !bytes.Equal(b.Body, body) || b.Signature != signOf(a, body) {
			t.Fatalf("stored batch does not hold the exact signed body: %v", err)
		}
		v := ad.agent(a.id)
		if v["last_seq"] != float64(a.seq.Load()) || v["last_signed_at"] == nil {
			t.Fatalf("agent after ingest: %v", v)
		}
	})
}

// padTo builds a signed-batch body of exactly n bytes.
func padTo(a *agent, n int) []byte {
	base := a.body(rec{"type": "metric", "ts": "2026-04-01T10:00:00Z", "pad": ""})
	fill := n - len(base)
	if fill < 0 {
		panic("padTo: base too long")
	}
	return bytes.Replace(base, []byte(`"pad":""`), []byte(`"pad":"`+strings.Repeat("x", fill)+`"`), 1)
}

// nothingStored checks that the agent has accepted nothing.
func nothingStored(t *testing.T, e *env, a *agent) {
	t.Helper()
	if v := e.admin().agent(a.id); v["last_seq"] != float64(0) {
		t.Fatalf("a refused batch moved last_seq: %v", v)
	}
	for s := a.seq.Load() - 10; s <= a.seq.Load(); s++ {
		if e.batchStored(a.id, s) {
			t.Fatalf("a refused batch (seq %d) was stored", s)
		}
	}
}
