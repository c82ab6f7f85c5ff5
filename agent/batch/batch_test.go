package batch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/sig"
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
		{name: "fail/record too large alone", records: []json.RawMessage{rec(10), rec(MaxBodyBytes), rec(10)}, wantGroups: 1, wantLarge: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, large := Split(tt.records)
			if len(groups) != tt.wantGroups || len(large) != tt.wantLarge {
				t.Fatalf("Split: %d groups, %d too large; want %d, %d", len(groups), len(large), tt.wantGroups, tt.wantLarge)
			}
			total := 0
			for _, g := range groups {
				h := NewHeader(time.Unix(0, 0), 1<<62, strings.Repeat("9", 64))
				body, err := Encode(h, g)
				if err != nil {
					t.Fatalf("Encode of a split group: %v", err)
				}
				if len(body) > MaxBodyBytes || len(g)+1 > MaxElements {
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
	h := NewHeader(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), 1743501600000000000, "1.4.2")
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

// TestSignVector checks what the agent sends (internal/sig.Sign) against a
// vector made from SPEC 3's definition with a fixed seed, stored under testdata.
func TestSignVector(t *testing.T) {
	var v struct {
		Seed      []byte `json:"seed"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "sign_vector.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(v.Seed)
	tests := []struct {
		name string
		body string
		sig  string
		ok   bool
	}{
		{name: "ok/vector", body: v.Body, sig: v.Signature, ok: true},
		{name: "fail/body changed", body: v.Body + " ", sig: v.Signature},
		{name: "fail/not base64", body: v.Body, sig: "!!!"},
		{name: "fail/short", body: v.Body, sig: "AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok {
				if got := sig.Sign(key, []byte(tt.body)); got != tt.sig {
					t.Fatalf("Sign = %s, want %s", got, tt.sig)
				}
			}
			if got := sig.VerifyHeader(key.Public().(ed25519.PublicKey), []byte(tt.body), tt.sig) == nil; got != tt.ok {
				t.Fatalf("VerifyHeader ok = %v, want %v", got, tt.ok)
			}
		})
	}
	t.Run("fail/other key", func(t *testing.T) {
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		if sig.VerifyHeader(other.Public().(ed25519.PublicKey), []byte(v.Body), v.Signature) == nil {
			t.Fatal("signature verified under another key")
		}
	})
}

func TestResequence(t *testing.T) {
	h := NewHeader(time.Unix(1743501600, 0), 10, "1.0.0")
	recs := []json.RawMessage{json.RawMessage(`{"type":"metric", "ts":"2026-04-01T10:00:00Z",  "odd":  "spacing"}`)}
	body, _ := Encode(h, recs)
	t.Run("ok/records byte-identical", func(t *testing.T) {
		out, err := Resequence(body, 99)
		if err != nil {
			t.Fatal(err)
		}
		h2, recs2, err := Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		if h2.Seq != 99 || h2.TS != h.TS || !bytes.Equal(recs2[0], recs[0]) {
			t.Fatalf("resequenced: %s", out)
		}
	})
	for _, bad := range []struct{ name, body string }{
		{"fail/not json", "nope"},
		{"fail/empty array", "[]"},
		{"fail/no header", `[{"type":"metric"}]`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := Resequence([]byte(bad.body), 1); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
