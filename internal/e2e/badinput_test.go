package e2e

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBadInput: each malformed request gets its SPEC answer and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	ad := e.admin()
	records := func(n int) []rec {
		out := make([]rec, n)
		for i := range out {
			out[i] = metric("cpu", float64(i))
		}
		return out
	}
	valid := func(b []byte) string { return signOf(a, b) }
	cases := []struct {
		name   string
		body   func() []byte
		sig    func([]byte) string
		hdr    map[string]string
		status int
		code   string
	}{
		{"fail/malformed-json", func() []byte { return []byte(`[{"type":"batch",`) }, valid, nil, 400, "invalid_request"},
		{"fail/not-an-array", func() []byte { return []byte(`{"type":"batch"}`) }, valid, nil, 400, "invalid_request"},
		{"fail/empty-array", func() []byte { return []byte(`[]`) }, valid, nil, 400, "invalid_request"},
		{"fail/1001-records", func() []byte { return a.body(records(1000)...) }, valid, nil, 400, "invalid_request"},
		{"fail/256KiB+1", func() []byte { return padTo(a, 256<<10+1) }, valid, nil, 413, "payload_too_large"},
		{"fail/non-base64-signature", func() []byte { return a.body(metric("cpu", 1)) }, func([]byte) string { return "%%%%" }, nil, 403, "signature_invalid"},
		{"fail/63-byte-signature", func() []byte { return a.body(metric("cpu", 1)) }, func(b []byte) string {
			raw, _ := base64.StdEncoding.DecodeString(valid(b))
			return base64.StdEncoding.EncodeToString(raw[:63])
		}, nil, 403, "signature_invalid"},
		{"fail/bad-type", func() []byte { return a.body(rec{"type": "Bad-Type", "ts": "2026-04-01T10:00:00Z"}) }, valid, nil, 400, "invalid_request"},
		{"fail/long-type", func() []byte { return a.body(rec{"type": strings.Repeat("a", 65), "ts": "2026-04-01T10:00:00Z"}) }, valid, nil, 400, "invalid_request"},
		{"fail/bad-ts", func() []byte { return a.body(rec{"type": "metric", "ts": "yesterday"}) }, valid, nil, 400, "invalid_request"},
		{"fail/missing-ts", func() []byte { return a.body(rec{"type": "metric"}) }, valid, nil, 400, "invalid_request"},
		{"fail/no-header", func() []byte { return mustJSON(t, []rec{metric("cpu", 1)}) }, valid, nil, 400, "invalid_request"},
		{"fail/content-type-text", func() []byte { return a.body(metric("cpu", 1)) }, valid, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"fail/content-type-missing", func() []byte { return a.body(metric("cpu", 1)) }, valid, map[string]string{"Content-Type": ""}, 415, "unsupported_media_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body()
			r := a.ingestWith(a.c, body, c.sig(body), c.hdr)
			expect(t, r, c.status, c.code)
			if !strings.Contains(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("error answer is not JSON: %v", r.Header)
			}
		})
	}
	if v := ad.agent(a.id); v["last_seq"] != float64(0) {
		t.Fatalf("bad input moved last_seq: %v", v)
	}
	for s := a.seq.Load() - int64(len(cases)) - 1; s <= a.seq.Load(); s++ {
		if e.batchStored(a.id, s) {
			t.Fatalf("bad input stored a batch at seq %d", s)
		}
	}
	// A batch of exactly 1000 records and one of exactly 256 KiB are accepted.
	t.Run("ok/limits", func(t *testing.T) {
		expect(t, a.ingest(a.body(records(999)...)), http.StatusAccepted, "")
		expect(t, a.ingest(padTo(a, 256<<10)), http.StatusAccepted, "")
	})
}

// TestBadIdentifiers: SPEC 4, an identifier, cursor or query value that
// cannot be valid (wrong shape, too long) is 400 invalid_request or 404
// not_found, never a 5xx, against the real store (dynalite refuses keys over
// DynamoDB's limits, as DynamoDB does). An id in the path that cannot be
// valid is answered like one that does not exist: 404. A query value or
// cursor that cannot be valid is 400.
func TestBadIdentifiers(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	ad := e.admin()
	long := "ag_" + strings.Repeat("a", 3000)     // over the 2048-byte partition key
	longPack := "pk_" + strings.Repeat("b", 3000) // and over the 1024-byte sort key
	cursorOf := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"fail/agent-id-too-long", "GET", "/agents/" + long, 404, "not_found"},
		{"fail/agent-id-too-long-rotate-signing-key", "POST", "/agents/" + long + "/rotate-signing-key", 404, "not_found"},
		{"fail/agent-id-too-long-rotate-token", "POST", "/agents/" + long + "/rotate-token", 404, "not_found"},
		{"fail/agent-id-too-long-rotate-client-cert", "POST", "/agents/" + long + "/rotate-client-cert", 404, "not_found"},
		{"fail/agent-id-without-prefix", "GET", "/agents/" + strings.TrimPrefix(a.id, "ag_"), 404, "not_found"},
		{"fail/agent-id-upper-case", "GET", "/agents/" + strings.ToUpper(a.id), 404, "not_found"},
		{"fail/agent-id-percent-encoded-nul", "GET", "/agents/ag_%00", 404, "not_found"},
		{"fail/agent-id-invalid-utf8", "GET", "/agents/ag_%FF%FE", 404, "not_found"},
		{"fail/pack-id-too-long", "GET", "/evidence-packs/" + longPack, 404, "not_found"},
		{"fail/pack-id-malformed", "GET", "/evidence-packs/pk_%FF", 404, "not_found"},
		{"fail/anomalies-agent-id-too-long", "GET", "/anomalies?agent_id=" + long, 400, "invalid_request"},
		{"fail/anomalies-agent-id-malformed", "GET", "/anomalies?agent_id=ag_%FF", 400, "invalid_request"},
		{"fail/anomalies-cursor-too-long", "GET", "/anomalies?cursor=" + cursorOf("v1:an_"+strings.Repeat("x", 3000)), 400, "invalid_request"},
		{"fail/anomalies-cursor-long-garbage", "GET", "/anomalies?cursor=" + strings.Repeat("A", 5000), 400, "invalid_request"},
		{"fail/anomalies-cursor-not-base64", "GET", "/anomalies?cursor=" + url.QueryEscape("not base64!"), 400, "invalid_request"},
		{"fail/anomalies-cursor-invalid-utf8", "GET", "/anomalies?cursor=" + cursorOf("v1:an_\xff\xfe"), 400, "invalid_request"},
		{"fail/anomalies-cursor-with-agent-filter", "GET", "/anomalies?agent_id=" + a.id + "&cursor=" + cursorOf("v1:an_"+a.id+"."+strings.Repeat("z", 2000)), 400, "invalid_request"},
		{"fail/anomalies-status", "GET", "/anomalies?status=" + strings.Repeat("o", 3000), 400, "invalid_request"},
		{"fail/anomalies-kind", "GET", "/anomalies?kind=" + strings.Repeat("k", 3000), 400, "invalid_request"},
		{"fail/anomalies-limit", "GET", "/anomalies?limit=" + strings.Repeat("9", 3000), 400, "invalid_request"},
		{"fail/pack-expires-in", "GET", "/evidence-packs/pk_abc?expires_in=" + strings.Repeat("9", 3000), 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ad.do(c.method, c.path, nil)
			expect(t, r, c.status, c.code)
		})
	}
	// The valid ones still answer.
	t.Run("ok/agent", func(t *testing.T) { expect(t, ad.do("GET", "/agents/"+a.id, nil), http.StatusOK, "") })
	t.Run("ok/anomalies-of-agent", func(t *testing.T) {
		expect(t, ad.do("GET", "/anomalies?agent_id="+a.id+"&status=open", nil), http.StatusOK, "")
	})
}
