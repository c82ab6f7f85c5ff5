package tlog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/tlog"
)

const fp = "4a:b3:c2:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc"

func TestEntryBytes(t *testing.T) {
	at := time.Date(2026, 5, 1, 8, 3, 14, 500_000_000, time.FixedZone("x", 3600))
	sum := strings.Repeat("ab", 32)
	heads, err := tlog.Heads("acme", at, []tlog.ChainHead{{"ag_b", "1743501600000000001", sum}, {"ag_a", "7", sum}})
	if err != nil || len(heads) != 1 {
		t.Fatal(heads, err)
	}
	for _, tc := range []struct {
		name string
		e    tlog.Entry
		want string
	}{
		{"ok/pin", tlog.Pin("acme", "ag_1", fp, at), `{"agent_id":"ag_1","at":"2026-05-01T07:03:14.5Z","fingerprint":"` + fp + `","tenant_id":"acme","type":"pin"}`},
		{"ok/unpin", tlog.Unpin("acme", "ag_1", fp, at.Truncate(time.Second)), `{"agent_id":"ag_1","at":"2026-05-01T07:03:14Z","fingerprint":"` + fp + `","tenant_id":"acme","type":"unpin"}`},
		{"ok/pack", tlog.Pack("acme", "pk_1", sum, "2026-05-01T08:03:14Z"), `{"generated_at":"2026-05-01T08:03:14Z","manifest_sha256":"` + sum + `","pack_id":"pk_1","tenant_id":"acme","type":"pack"}`},
		{"ok/heads-sorted", heads[0], `{"at":"2026-05-01T07:03:14.5Z","heads":[{"agent_id":"ag_a","seq":"7","sha256":"` + sum + `"},{"agent_id":"ag_b","seq":"1743501600000000001","sha256":"` + sum + `"}],"tenant_id":"acme","type":"heads"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.e.Bytes()
			if err != nil || string(b) != tc.want {
				t.Fatalf("Bytes = %s, %v\nwant    %s", b, err, tc.want)
			}
			back, err := tlog.ParseEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			if b2, _ := back.Bytes(); string(b2) != tc.want {
				t.Fatalf("round trip = %s", b2)
			}
		})
	}
}

func TestEntryInvalid(t *testing.T) {
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		e    tlog.Entry
	}{
		{"fail/no-tenant", tlog.Pin("", "ag", fp, at)},
		{"fail/no-agent", tlog.Pin("t", "", fp, at)},
		{"fail/fingerprint-upper", tlog.Pin("t", "ag", strings.ToUpper(fp), at)},
		{"fail/fingerprint-short", tlog.Pin("t", "ag", fp[:20], at)},
		{"fail/manifest-not-hex", tlog.Pack("t", "p", strings.Repeat("zz", 32), "2026-05-01T08:03:14Z")},
		{"fail/generated-at", tlog.Pack("t", "p", sum, "yesterday")},
		{"fail/unknown-type", tlog.Entry{Type: "other", TenantID: "t"}},
		{"fail/heads-empty", tlog.Entry{Type: tlog.TypeHeads, TenantID: "t", At: "2026-05-01T08:03:14Z"}},
		{"fail/heads-seq-number-sign", tlog.Entry{Type: tlog.TypeHeads, TenantID: "t", At: "2026-05-01T08:03:14Z", Heads: []tlog.ChainHead{{"a", "-1", sum}}}},
		{"fail/heads-seq-leading-zero", tlog.Entry{Type: tlog.TypeHeads, TenantID: "t", At: "2026-05-01T08:03:14Z", Heads: []tlog.ChainHead{{"a", "01", sum}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.e.Bytes(); !errors.Is(err, tlog.ErrEntry) {
				t.Fatalf("Bytes = %v, want ErrEntry", err)
			}
		})
	}
	for _, tc := range []struct{ name, in string }{
		{"fail/not-canonical", `{"type":"pin", "tenant_id":"t","agent_id":"a","fingerprint":"` + fp + `","at":"2026-05-01T08:00:00Z"}`},
		{"fail/extra-member", `{"agent_id":"a","at":"2026-05-01T08:00:00Z","extra":1,"fingerprint":"` + fp + `","tenant_id":"t","type":"pin"}`},
		{"fail/missing-member", `{"agent_id":"a","fingerprint":"` + fp + `","tenant_id":"t","type":"pin"}`},
		{"fail/number-type", `{"agent_id":"a","at":"2026-05-01T08:00:00Z","fingerprint":"` + fp + `","tenant_id":7,"type":"pin"}`},
		{"fail/duplicate", `{"agent_id":"a","agent_id":"a"}`},
		{"fail/array", `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tlog.ParseEntry([]byte(tc.in)); !errors.Is(err, tlog.ErrEntry) {
				t.Fatalf("ParseEntry = %v, want ErrEntry", err)
			}
		})
	}
}

// TestHeadsSplit: a cycle with more chain heads than one entry can hold
// gives several entries, each within MaxEntrySize, with every head once.
func TestHeadsSplit(t *testing.T) {
	sum := strings.Repeat("cd", 32)
	var hs []tlog.ChainHead
	for i := range 2000 {
		hs = append(hs, tlog.ChainHead{AgentID: fmt.Sprintf("ag_%05d", i), Seq: "1743501600000000000", SHA256: sum})
	}
	es, err := tlog.Heads("acme", time.Unix(0, 0), hs)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 2 {
		t.Fatalf("%d entries for 2000 heads", len(es))
	}
	n := 0
	for _, e := range es {
		b, err := e.Bytes()
		if err != nil || len(b) > tlog.MaxEntrySize {
			t.Fatalf("entry of %d bytes, %v", len(b), err)
		}
		n += len(e.Heads)
	}
	if n != len(hs) {
		t.Fatalf("%d heads in the entries, want %d", n, len(hs))
	}
	if es, err := tlog.Heads("acme", time.Unix(0, 0), nil); err != nil || len(es) != 0 {
		t.Fatalf("no heads: %v, %v", es, err)
	}
}

func TestParseProof(t *testing.T) {
	h := "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
	cp := "o\n1\n" + h + "\n\n— o AAAAAA==\n"
	for _, tc := range []struct{ name, in, reason string }{
		{"ok/extra", "c2sp.org/tlog-proof@v1\nextra YWJj\nindex 0\n" + h + "\n\n" + cp, ""},
		{"ok/no-extra-no-path", "c2sp.org/tlog-proof@v1\nindex 12\n\n" + cp, ""},
		{"fail/header", "c2sp.org/tlog-proof@v2\nindex 0\n\n" + cp, "missing header"},
		{"fail/extra-unpadded", "c2sp.org/tlog-proof@v1\nextra YWJjZA\nindex 0\n\n" + cp, "bad extra line"},
		{"fail/index-leading-zero", "c2sp.org/tlog-proof@v1\nindex 01\n\n" + cp, "bad index line"},
		{"fail/index-plus", "c2sp.org/tlog-proof@v1\nindex +1\n\n" + cp, "bad index line"},
		{"fail/index-overflow", "c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\n" + cp, "bad index line"},
		{"fail/hash-short", "c2sp.org/tlog-proof@v1\nindex 0\nYWJj\n\n" + cp, "bad proof hash"},
		{"fail/hash-cr", "c2sp.org/tlog-proof@v1\nindex 0\n" + h + "\r\n\n" + cp, "bad proof hash"},
		{"fail/no-checkpoint", "c2sp.org/tlog-proof@v1\nindex 0\n" + h + "\n\n", "truncated"},
		{"fail/no-blank", "c2sp.org/tlog-proof@v1\nindex 0\n" + h + "\n", "truncated"},
		{"fail/too-many", "c2sp.org/tlog-proof@v1\nindex 0\n" + strings.Repeat(h+"\n", 64) + "\n" + cp, "too many proof hashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlog.ParseProof([]byte(tc.in))
			var pe *tlog.ProofError
			if tc.reason == "" && err != nil || tc.reason != "" && (!errors.As(err, &pe) || pe.Reason != tc.reason) {
				t.Fatalf("ParseProof = %v, want %q", err, tc.reason)
			}
		})
	}
}
