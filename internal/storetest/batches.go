package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

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

// testPeriod holds the period reader to what a pack reads: every batch of
// the tenant whose records span a time in [from, to] (to's whole second
// included), each once, none of another tenant, none deleted.
func testPeriod(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	const tenant = "t-period"
	day := func(d, h int) time.Time { return time.Date(2026, 3, 30+d, h, 0, 0, 0, time.UTC) }
	batch := func(agent, key string, minTS, maxTS time.Time, days ...string) hub.StoredBatch {
		return hub.StoredBatch{TenantID: tenant, AgentID: agent, Key: key, SHA: hash(agent + key), Body: []byte("[]"), Records: 1,
			MinTS: minTS, MaxTS: maxTS, Days: days, ReceivedAt: maxTS}
	}
	morning := batch("ag_period_1", "u#morning", day(0, 8), day(0, 9), "2026-03-30")
	span := batch("ag_period_1", "u#span", day(0, 22), day(2, 2), "2026-03-30", "2026-03-31", "2026-04-01")
	evening := batch("ag_period_2", "u#evening", day(1, 20), day(1, 21), "2026-03-31")
	edge := batch("ag_period_2", "u#edge", day(1, 12).Add(500*time.Millisecond), day(1, 12).Add(500*time.Millisecond), "2026-03-31")
	gone := batch("ag_period_2", "u#gone", day(1, 10), day(1, 10), "2026-03-31")
	other := morning
	other.TenantID, other.AgentID = "t-period-b", "ag_period_3"
	for _, b := range []hub.StoredBatch{morning, span, evening, edge, gone, other} {
		check(t, "PutBatch("+b.Key+")", s.Batches.PutBatch(ctx, b), nil)
	}
	check(t, "DeleteBatch(gone)", s.Batches.DeleteBatch(ctx, gone), nil)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"ok/one day", day(0, 0), day(0, 23), []string{"u#morning", "u#span"}},
		{"ok/a batch over three days comes once", day(0, 0), day(2, 23), []string{"u#edge", "u#evening", "u#morning", "u#span"}},
		{"ok/hours of one day", day(1, 19), day(1, 23), []string{"u#evening", "u#span"}},
		{"ok/to's whole second is in", day(1, 11), day(1, 12), []string{"u#edge", "u#span"}},
		{"ok/before every record of the day", day(0, 0), day(0, 7), nil},
		{"ok/no batch on those days", day(5, 0), day(6, 0), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := s.Batches.PeriodBatches(ctx, tenant, tc.from, tc.to, func(b hub.StoredBatch) error {
				if b.TenantID != tenant {
					t.Errorf("PeriodBatches(%s) handed over a batch of %s", tenant, b.TenantID)
				}
				got = append(got, b.Key)
				return nil
			})
			check(t, "PeriodBatches", err, nil)
			slices.Sort(got)
			same(t, "PeriodBatches", got, tc.want)
		})
	}
	t.Run("fail/the callback's error ends the read", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := s.Batches.PeriodBatches(ctx, tenant, day(0, 0), day(2, 23), func(hub.StoredBatch) error { calls++; return stop })
		check(t, "PeriodBatches", err, stop)
		if calls != 1 {
			t.Fatalf("the callback ran %d times after it failed, want once", calls)
		}
	})
}

// testChain holds the chain reader to what a pack reads between two seqs
// of an agent (SPEC 9): its signed batches with seq in [from, to], in seq
// order, bodies whole; none of another agent, no legacy batch.
func testChain(t *testing.T, s hub.Stores) {
	ctx := t.Context()
	signed := func(agent string, seq int64) hub.StoredBatch {
		return hub.StoredBatch{TenantID: "t-chain", AgentID: agent, Key: hub.SignedBatchKey(seq), Seq: seq, Signed: true,
			SHA: hash(agent + hub.SignedBatchKey(seq)), Signature: "c2ln", Body: []byte(`[{"seq":` + hub.SignedBatchKey(seq) + `}]`),
			Records: 0, MinTS: t0, MaxTS: t0, Days: []string{"2026-04-01"}, ReceivedAt: t0}
	}
	for _, b := range []hub.StoredBatch{signed("ag_chain", 9), signed("ag_chain", 10), signed("ag_chain", 1_000_000_000_000_000_000),
		signed("ag_chain", 11), signed("ag_chain", 100), signed("ag_chain_2", 10), {TenantID: "t-chain", AgentID: "ag_chain", Key: "u#" + hash("legacy"),
			SHA: hash("legacy"), Body: []byte("[]"), MinTS: t0, MaxTS: t0, Days: []string{"2026-04-01"}, ReceivedAt: t0}} {
		check(t, "PutBatch("+b.Key+")", s.Batches.PutBatch(ctx, b), nil)
	}
	for _, tc := range []struct {
		name     string
		from, to int64
		want     []int64
	}{
		{"ok/one", 10, 10, []int64{10}},
		{"ok/a range, in seq order not key length", 10, 1_000_000_000_000_000_000, []int64{10, 11, 100, 1_000_000_000_000_000_000}},
		{"ok/everything", 0, 1<<63 - 1, []int64{9, 10, 11, 100, 1_000_000_000_000_000_000}},
		{"ok/nothing between", 12, 99, nil},
		{"ok/an empty range", 11, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			err := s.Batches.SignedBatches(ctx, "ag_chain", tc.from, tc.to, func(b hub.StoredBatch) error {
				if b.AgentID != "ag_chain" || !b.Signed || !bytes.Equal(b.Body, signed("ag_chain", b.Seq).Body) {
					t.Errorf("SignedBatches handed over %+v", b)
				}
				got = append(got, b.Seq)
				return nil
			})
			check(t, "SignedBatches", err, nil)
			same(t, "SignedBatches", got, tc.want)
		})
	}
	t.Run("fail/the callback's error ends the read", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := s.Batches.SignedBatches(ctx, "ag_chain", 0, 1<<63-1, func(hub.StoredBatch) error { calls++; return stop })
		check(t, "SignedBatches", err, stop)
		if calls != 1 {
			t.Fatalf("the callback ran %d times after it failed, want once", calls)
		}
	})
}
