package e2e

import (
	"encoding/base64"
	"net/http"
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
