package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func rec(n int) json.RawMessage {
	return json.RawMessage(`{"type":"metric","ts":"2026-04-01T10:00:00Z","pad":"` + strings.Repeat("x", n) + `"}`)
}

func TestNextSeq(t *testing.T) {
	now := time.Unix(1743501600, 0)
	tests := []struct {
		name string
		last int64
		want int64
	}{
		{name: "ok/clock ahead", last: 5, want: now.UnixNano()},
		{name: "ok/last ahead of clock", last: now.UnixNano() + 10, want: now.UnixNano() + 11},
		{name: "ok/equal", last: now.UnixNano(), want: now.UnixNano() + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextSeq(now, tt.last); got != tt.want {
				t.Fatalf("NextSeq = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	many := func(n, size int) []json.RawMessage {
		out := make([]json.RawMessage, n)
		for i := range out {
			out[i] = rec(size)
		}
		return out
	}
	tests := []struct {
		name       string
		records    []json.RawMessage
		wantGroups int
		wantLarge  int
	}{
		{name: "ok/empty", records: nil, wantGroups: 0},
		{name: "ok/one", records: many(1, 10), wantGroups: 1},
		{name: "ok/999 fit with header", records: many(999, 1), wantGroups: 1},
		{name: "ok/1000 need two", records: many(1000, 1), wantGroups: 2},
		{name: "ok/split by bytes", records: many(30, 20000), wantGroups: 3},
		{name: "fail/record too large alone", records: []json.RawMessage{rec(10), rec(MaxBytes), rec(10)}, wantGroups: 1, wantLarge: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, large := Split(tt.records)
			if len(groups) != tt.wantGroups || len(large) != tt.wantLarge {
				t.Fatalf("Split: %d groups, %d too large; want %d, %d", len(groups), len(large), tt.wantGroups, tt.wantLarge)
			}
			total := 0
			for _, g := range groups {
				h := Header{TS: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), Seq: math.MaxInt64, AgentVersion: strings.Repeat("9", maxVersion)}
				body, err := Encode(h, g)
				if err != nil {
					t.Fatalf("Encode of a split group: %v", err)
				}
				if len(body) > MaxBytes || len(g)+1 > MaxRecords {
					t.Fatalf("group breaks limits: %d bytes, %d elements", len(body), len(g)+1)
				}
				total += len(g)
			}
			if total+len(large) != len(tt.records) {
				t.Fatalf("records lost in split: %d + %d != %d", total, len(large), len(tt.records))
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	h := Header{TS: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), Seq: 1743501600000000000, AgentVersion: "1.4.2"}
	body, err := Encode(h, []json.RawMessage{json.RawMessage(`{"type":"metric","ts":"2026-04-01T10:00:00Z","cpu_percent":12.5}`)})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "batch.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, bytes.TrimSpace(want)) {
		t.Fatalf("body = %s\nwant   %s", body, want)
	}
}

func TestResequence(t *testing.T) {
	h := Header{TS: time.Unix(1743501600, 0).UTC(), Seq: 10, AgentVersion: "1.0.0"}
	recs := []json.RawMessage{json.RawMessage(`{"type":"metric", "ts":"2026-04-01T10:00:00Z",  "odd":  "spacing"}`)}
	body, err := Encode(h, recs)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok/records byte-identical", func(t *testing.T) {
		out, err := Resequence(body, 99)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(out, true)
		if err != nil {
			t.Fatal(err)
		}
		if b.Header.Seq != 99 || !b.Header.TS.Equal(h.TS) || !bytes.Equal(b.Records[0].Raw, recs[0]) {
			t.Fatalf("resequenced: %s", out)
		}
	})
	for _, bad := range []struct{ name, body string }{
		{"fail/not json", "nope"},
		{"fail/empty array", "[]"},
		{"fail/no header", `[{"type":"metric"}]`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := Resequence([]byte(bad.body), 1); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRechain(t *testing.T) {
	prev := strings.Repeat("ab", 32)
	h := Header{TS: time.Unix(1743501600, 0).UTC(), Seq: 10, AgentVersion: "1.0.0"}
	recs := []json.RawMessage{json.RawMessage(`{"type":"metric", "ts":"2026-04-01T10:00:00Z",  "odd":  "spacing"}`)}
	body, err := Encode(h, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, prev string }{{"ok/set", prev}, {"ok/change", strings.Repeat("cd", 32)}, {"ok/remove", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			in := body
			if tt.name != "ok/set" {
				in, _ = Rechain(body, prev)
			}
			out, err := Rechain(in, tt.prev)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Parse(out, true)
			if err != nil {
				t.Fatal(err)
			}
			if b.Header.Prev != tt.prev || b.Header.Seq != h.Seq || !bytes.Equal(b.Records[0].Raw, recs[0]) {
				t.Fatalf("rechained: %s", out)
			}
			if tt.prev == "" && !bytes.Equal(out, body) {
				t.Fatalf("removing prev gave %s, want %s", out, body)
			}
		})
	}
	t.Run("ok/resequence keeps prev", func(t *testing.T) {
		in, _ := Rechain(body, prev)
		out, err := Resequence(in, 99)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := Parse(out, true); err != nil || b.Header.Prev != prev || b.Header.Seq != 99 {
			t.Fatalf("resequenced: %s, %v", out, err)
		}
	})
	for _, bad := range []struct{ name, body, prev string }{
		{"fail/not json", "nope", prev},
		{"fail/no header", `[{"type":"metric","ts":"2026-04-01T10:00:00Z"}]`, prev},
		{"fail/prev not hex", string(body), "xyz"},
		{"fail/prev uppercase", string(body), strings.ToUpper(prev)},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if out, err := Rechain([]byte(bad.body), bad.prev); err == nil {
				t.Fatalf("Rechain = %s, want an error", out)
			}
		})
	}
}

// TestEncodeParses holds the writing side to the reading side: every body
// Encode writes from Split's groups is one Parse accepts, with the header
// and the records' bytes as written.
func TestEncodeParses(t *testing.T) {
	records := []json.RawMessage{
		json.RawMessage(`{"type":"metric","ts":"2026-04-01T10:00:00Z","cpu":0.25}`),
		json.RawMessage(`{ "type" : "honeypot_trip" , "ts":"2026-04-01T10:00:01.5+02:00", "path":"/etc/sh\u00e4dow" }`),
		json.RawMessage(`{"type":"agent_status","ts":"2026-04-01T10:00:00Z","spool":{"batches":[1,2,3]}}`),
	}
	for i := range 2500 {
		records = append(records, rec(i%300))
	}
	groups, tooLarge := Split(records)
	if len(tooLarge) != 0 || len(groups) < 3 {
		t.Fatalf("Split: %d groups, %d too large", len(groups), len(tooLarge))
	}
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	var back []json.RawMessage
	for i, g := range groups {
		h := Header{TS: at, Seq: NextSeq(at, int64(i)), AgentVersion: "1.4.2"}
		body, err := Encode(h, g)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(body, true)
		if err != nil {
			t.Fatalf("group %d: Parse refuses what Encode wrote: %v", i, err)
		}
		if *b.Header != h {
			t.Fatalf("group %d: header %+v, want %+v", i, *b.Header, h)
		}
		for _, r := range b.Records {
			back = append(back, r.Raw)
		}
	}
	if len(back) != len(records) {
		t.Fatalf("%d records back, want %d", len(back), len(records))
	}
	for i := range records {
		if !bytes.Equal(back[i], records[i]) {
			t.Fatalf("record %d: %s, want %s", i, back[i], records[i])
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	ok := Header{TS: at, Seq: 1, AgentVersion: "1.4.2"}
	tests := []struct {
		name    string
		h       Header
		records []json.RawMessage
		want    error
	}{
		{name: "fail/seq zero", h: Header{TS: at, AgentVersion: "1.4.2"}},
		{name: "fail/no agent_version", h: Header{TS: at, Seq: 1}},
		{name: "fail/prev not a digest", h: Header{TS: at, Seq: 1, AgentVersion: "1.4.2", Prev: "abc"}},
		{name: "fail/agent_version too long", h: Header{TS: at, Seq: 1, AgentVersion: strings.Repeat("1", maxVersion+1)}},
		{name: "fail/too many records", h: ok, records: make([]json.RawMessage, MaxRecords), want: ErrTooLarge},
		{name: "fail/too many bytes", h: ok, records: []json.RawMessage{rec(MaxBytes)}, want: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Encode(tt.h, tt.records)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Encode = %.80s, %v; want an error (%v)", body, err, tt.want)
			}
		})
	}
}
