package storetest

import (
	"bytes"
	"testing"

	"github.com/monsys/hub/internal/hub"
)

// binaryBody is every byte value, invalid UTF-8 and a NUL among JSON: the
// store keeps bodies as bytes, not as text.
func binaryBody() []byte {
	b := []byte(`[{"type":"batch","ts":"2026-04-01T10:00:00Z","seq":42,"agent_version":"1.4.2"},"` + "\x00\xff\xfe\xc3\x28")
	for i := range 256 {
		b = append(b, byte(i))
	}
	return append(b, ']')
}

func testBatches(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	signed := hub.StoredBatch{TenantID: "t-batch", AgentID: "ag_batch", Key: "s#0000000000000000042", Seq: 42,
		SHA: hash("signed"), Signed: true, Signature: "c2lnbmF0dXJl", Body: binaryBody(), Records: 3,
		MinTS: at(-86400), MaxTS: at(86400), Days: []string{"2026-03-31", "2026-04-01", "2026-04-02"}, ReceivedAt: at(5)}
	unsigned := hub.StoredBatch{TenantID: "t-batch", AgentID: "ag_batch", Key: "u#" + hash("unsigned"),
		SHA: hash("unsigned"), Body: []byte(`[{"type":"metric","ts":"2026-04-01T10:00:00Z"}]`), Records: 1,
		MinTS: t0, MaxTS: t0, Days: []string{"2026-04-01"}, ReceivedAt: at(6)}
	// The largest body SPEC 4.2 accepts, every byte value in it.
	full := hub.StoredBatch{TenantID: "t-batch", AgentID: "ag_batch", Key: "s#0000000000000000043", Seq: 43,
		SHA: hash("full"), Signed: true, Signature: "c2ln", Body: make([]byte, 256<<10), Records: 1000,
		MinTS: t0, MaxTS: t0, Days: []string{"2026-04-01"}, ReceivedAt: at(7)}
	for i := range full.Body {
		full.Body[i] = byte(i * 7)
	}
	get := func(t *testing.T, want hub.StoredBatch) {
		t.Helper()
		got, err := s.Batches.GetBatch(ctx, want.AgentID, want.Key)
		check(t, "GetBatch("+want.Key+")", err, nil)
		if !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("GetBatch(%s).Body differs from the %d bytes stored: got %d bytes starting %.16q", want.Key, len(want.Body), len(got.Body), got.Body)
		}
		same(t, "GetBatch("+want.Key+")", normBatch(got), normBatch(want))
	}
	gone := func(t *testing.T, agentID, key string) {
		t.Helper()
		_, err := s.Batches.GetBatch(ctx, agentID, key)
		check(t, "GetBatch("+key+")", err, hub.ErrNotFound)
	}

	t.Run("fail/get unknown", func(t *testing.T) { gone(t, signed.AgentID, signed.Key) })
	for _, tc := range []struct {
		name string
		b    hub.StoredBatch
	}{
		{"ok/signed batch over three days, binary body", signed},
		{"ok/legacy batch", unsigned},
		{"ok/largest body", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, "PutBatch", s.Batches.PutBatch(ctx, tc.b), nil)
			get(t, tc.b)
		})
	}
	t.Run("ok/put again is idempotent", func(t *testing.T) {
		check(t, "PutBatch(again)", s.Batches.PutBatch(ctx, signed), nil)
		get(t, signed)
	})
	t.Run("fail/get under another agent", func(t *testing.T) { gone(t, "ag_other", signed.Key) })
	t.Run("ok/the store keeps its own copy of the body", func(t *testing.T) {
		b := unsigned
		b.Key, b.Body = "u#copy", bytes.Clone(unsigned.Body)
		check(t, "PutBatch", s.Batches.PutBatch(ctx, b), nil)
		b.Body[0] = 'X' // the caller reuses its buffer
		got, err := s.Batches.GetBatch(ctx, b.AgentID, b.Key)
		check(t, "GetBatch", err, nil)
		got.Body[1] = 'Y' // the reader scribbles on what it got
		b.Body = unsigned.Body
		get(t, b)
	})
	t.Run("ok/delete", func(t *testing.T) {
		check(t, "DeleteBatch", s.Batches.DeleteBatch(ctx, signed), nil)
		gone(t, signed.AgentID, signed.Key)
		get(t, unsigned)
	})
	t.Run("ok/delete is idempotent", func(t *testing.T) {
		check(t, "DeleteBatch(again)", s.Batches.DeleteBatch(ctx, signed), nil)
		never := signed
		never.Key = "s#0000000000000000099"
		check(t, "DeleteBatch(never stored)", s.Batches.DeleteBatch(ctx, never), nil)
	})
	t.Run("ok/put after delete", func(t *testing.T) {
		check(t, "PutBatch", s.Batches.PutBatch(ctx, signed), nil)
		get(t, signed)
	})
}
