package packtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/sig"
)

// Data is what a Source holds.
type Data struct {
	Batches   []pack.Batch
	Anomalies []anomaly.Anomaly
	Audit     []pack.AuditEvent
	Agents    []pack.Agent
}

// Source is pack.Source in memory. Each read returns everything it holds,
// whatever the tenant and period, as a careless index would: what goes in
// is the selection's to decide. Fail makes the read of that name
// ("Batches", "Anomalies", "Audit", "Agent") fail with its error.
type Source struct {
	Data
	Fail map[string]error
}

var _ pack.Source = (*Source)(nil)

// Batches calls fn for every batch.
func (s *Source) Batches(_ context.Context, _ pack.Period, fn func(pack.Batch) error) error {
	return each(s, "Batches", s.Data.Batches, fn)
}

// Anomalies calls fn for every anomaly.
func (s *Source) Anomalies(_ context.Context, _ pack.Period, fn func(anomaly.Anomaly) error) error {
	return each(s, "Anomalies", s.Data.Anomalies, fn)
}

// Audit calls fn for every audit event.
func (s *Source) Audit(_ context.Context, _ pack.Period, fn func(pack.AuditEvent) error) error {
	return each(s, "Audit", s.Data.Audit, fn)
}

// Agent returns the agent, or pack.ErrUnknownAgent.
func (s *Source) Agent(_ context.Context, agentID string) (pack.Agent, error) {
	if err := s.Fail["Agent"]; err != nil {
		return pack.Agent{}, err
	}
	for _, a := range s.Agents {
		if a.AgentID == agentID {
			return a, nil
		}
	}
	return pack.Agent{}, pack.ErrUnknownAgent
}

// SignedBatches calls fn for the agent's signed batches with seq in
// [from, to], in seq order.
func (s *Source) SignedBatches(_ context.Context, agentID string, from, to int64, fn func(pack.Batch) error) error {
	var in []pack.Batch
	for _, b := range s.Data.Batches {
		if b.AgentID == agentID && b.Signed && b.Seq >= from && b.Seq <= to {
			in = append(in, b)
		}
	}
	slices.SortFunc(in, func(x, y pack.Batch) int { return cmp.Compare(x.Seq, y.Seq) })
	return each(s, "SignedBatches", in, fn)
}

func each[T any](s *Source, name string, items []T, fn func(T) error) error {
	if err := s.Fail[name]; err != nil {
		return err
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// MarchDir is where internal/pack keeps the data files and manifest.json
// of March's pack (relative to internal/pack).
const MarchDir = "testdata/period"

// March is acme's March 2026 as the hub holds it on 1 April at 10:02, the
// pack's generated_at, with one case of every rule of docs/packs.md, "What
// goes in", and the pack's metadata and signer.
func March() (pack.Meta, Signer, Data) {
	k := Key(3)
	s := Signer{Priv: k}
	l, err := pack.NewLineage("sk_golden", s.Pub(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	meta := pack.Meta{PackID: "pk_golden", TenantID: "acme", PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		PeriodEnd: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), GeneratedAt: time.Date(2026, 4, 1, 10, 2, 0, 0, time.UTC),
		SigningKeyID: "sk_golden", PublicKey: s.Pub(), Lineage: l}
	return meta, s, marchData()
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func stored(tenantID, agentID string, signed bool, seq int64, body string, records int, received string) pack.Batch {
	sha := pack.SHA256Hex([]byte(body))
	b := pack.Batch{TenantID: tenantID, AgentID: agentID, SHA256: sha, Signed: signed, Body: []byte(body), Records: records,
		ReceivedAt: at(received), Key: "u#" + sha}
	if signed {
		b.Key, b.Seq, b.Signature = "s#"+strconv.FormatInt(seq, 10), seq, sig.Sign(AgentKey(), b.Body)
	}
	return b
}

// AgentKey is the signing key of March's signed agent, ag_signed, pinned
// since 1 February: every signed batch of March is its signature, so the
// pack passes the provenance checks (SPEC 9).
func AgentKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)) }

// marchFirst is the body of ag_signed's first batch in March's pack; the
// next one in its chain names it in its prev.
const marchFirst = `[{"type":"batch","ts":"2026-03-01T00:00:00Z","seq":1772323200000000001,"agent_version":"1.4.2"},` +
	`{"type":"metric","ts":"2026-03-01T00:00:00Z","cpu":0.5,"host":{"z":1,"a":2}},` +
	`{"type":"inventory_snapshot","ts":"2026-03-31T23:59:59.9Z","packages":["openssl","curl"]},` +
	`{"type":"metric","ts":"2026-04-01T00:00:00Z","cpu":0.25}]`

func marchData() Data {
	pub := AgentKey().Public().(ed25519.PublicKey)
	closedEarly, closedIn := at("2026-02-28T23:59:59Z"), at("2026-03-01T00:00:00Z")
	reason := "resolved"
	return Data{Batches: []pack.Batch{
		// Signed: two records in the period (one at its first instant, one
		// in its last second), one after it.
		stored("acme", "ag_signed", true, 1772323200000000001, marchFirst, 3, "2026-04-01T00:00:05Z"),
		// Signed, every record before the period: no line at all.
		stored("acme", "ag_signed", true, 1772323200000000000,
			`[{"type":"batch","ts":"2026-02-28T23:59:59Z","seq":1772323200000000000,"agent_version":"1.4.2"},`+
				`{"type":"metric","ts":"2026-02-28T23:59:59.999Z","cpu":1e-7}]`, 1, "2026-03-01T00:00:01Z"),
		// Legacy (unsigned, no header): both records in the period.
		stored("acme", "ag_legacy", false, 0,
			`[{"type":"metric","ts":"2026-03-10T12:00:00+02:00","note":"naïve € \u2028"},{"type":"metric","ts":"2026-03-10T09:00:00Z","cpu":1E2}]`,
			2, "2026-03-10T10:00:00.123456789Z"),
		// Quarantined, unsigned: a number no double holds.
		stored("acme", "ag_legacy", false, 0, `[{"type":"metric","ts":"2026-03-11T00:00:00Z","v":1e400}]`, 1, "2026-03-11T00:00:00Z"),
		// Quarantined, signed: a duplicate member.
		stored("acme", "ag_signed", true, 1772323200000000007,
			`[{"type":"batch","ts":"2026-03-12T00:00:00Z","seq":1772323200000000007,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-03-12T00:00:00Z","v":1,"v":2}]`,
			1, "2026-03-12T00:00:00Z"),
		// Signed, between the two listed ones in the chain: a heartbeat
		// (the header alone) and a batch whose records are after the
		// period; listed with no record in the period (SPEC 9).
		stored("acme", "ag_signed", true, 1772323200000000003,
			`[{"type":"batch","ts":"2026-03-05T00:00:00Z","seq":1772323200000000003,"agent_version":"1.4.2","prev":"`+pack.SHA256Hex([]byte(marchFirst))+`"}]`,
			0, "2026-03-05T00:00:00Z"),
		stored("acme", "ag_signed", true, 1772323200000000005,
			`[{"type":"batch","ts":"2026-04-01T00:00:00Z","seq":1772323200000000005,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-04-01T00:00:00Z","cpu":0.1}]`,
			1, "2026-03-06T00:00:00Z"),
		// Signed, between them too, but received at generated_at: not yet held.
		stored("acme", "ag_signed", true, 1772323200000000006,
			`[{"type":"batch","ts":"2026-03-06T00:00:00Z","seq":1772323200000000006,"agent_version":"1.4.2"}]`, 0, "2026-04-01T10:02:00Z"),
		// Received at generated_at: not yet held.
		stored("acme", "ag_late", false, 0, `[{"type":"metric","ts":"2026-03-20T00:00:00Z","cpu":9}]`, 1, "2026-04-01T10:02:00Z"),
		// Another tenant's batch: never packed.
		stored("globex", "ag_globex", false, 0, `[{"type":"metric","ts":"2026-03-20T00:00:00Z","cpu":8}]`, 1, "2026-03-20T00:00:00Z"),
	}, Audit: []pack.AuditEvent{
		{TenantID: "acme", ID: "ev_registered", At: at("2026-03-01T00:00:00Z"), Action: "agent_registered", AgentID: "ag_signed", Actor: "agent",
			Detail: map[string]string{"hostname": "web-01"}},
		{TenantID: "acme", ID: "ev_no_detail", At: at("2026-03-31T23:59:59.5Z"), Action: "pack_requested", Actor: "admin"},
		{TenantID: "acme", ID: "ev_after_end", At: at("2026-04-01T00:00:00Z"), Action: "pack_requested", Actor: "admin"},
		{TenantID: "acme", ID: "ev_before", At: at("2026-02-28T23:59:59Z"), Action: "agent_created", AgentID: "ag_before", Actor: "admin"},
		// The tenant's event about another tenant's agent: the agent is not packed.
		{TenantID: "acme", ID: "ev_other_tenant_agent", At: at("2026-03-05T00:00:00Z"), Action: "agent_created", AgentID: "ag_globex", Actor: "admin"},
		{TenantID: "globex", ID: "ev_globex", At: at("2026-03-05T00:00:00Z"), Action: "agent_created", AgentID: "ag_globex", Actor: "admin"},
	}, Anomalies: []anomaly.Anomaly{
		{ID: "an_open", TenantID: "acme", AgentID: "ag_signed", Kind: anomaly.SignatureInvalid, Severity: anomaly.Critical, Status: anomaly.Open,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-03-02T00:00:00.5Z"), Count: 3, Detail: "bad signature"},
		{ID: "an_closed_before", TenantID: "acme", AgentID: "ag_signed", Kind: anomaly.ReplayDetected, Severity: anomaly.High, Status: anomaly.Closed,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-02-02T00:00:00Z"), Count: 1, ClosedAt: &closedEarly, ClosedReason: &reason},
		// Its agent is gone: the anomaly is packed, the agent is not.
		{ID: "an_closed_at_start", TenantID: "acme", AgentID: "ag_gone", Kind: anomaly.StaleAgent, Severity: anomaly.Medium, Status: anomaly.Closed,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-02-02T00:00:00Z"), Count: 1, ClosedAt: &closedIn, ClosedReason: &reason},
		{ID: "an_at_end", TenantID: "acme", AgentID: "ag_legacy", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-31T23:59:59Z"), LastSeen: at("2026-03-31T23:59:59Z"), Count: 1},
		{ID: "an_after_end", TenantID: "acme", AgentID: "ag_late", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-31T23:59:59.5Z"), LastSeen: at("2026-03-31T23:59:59.5Z"), Count: 1},
		{ID: "an_globex", TenantID: "globex", AgentID: "ag_globex", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-05T00:00:00Z"), LastSeen: at("2026-03-05T00:00:00Z"), Count: 1},
	}, Agents: []pack.Agent{
		{TenantID: "acme", AgentID: "ag_signed", Hostname: "web-01", OS: "linux", Arch: "arm64", AgentVersion: "1.4.2",
			MaxAgentVersion: "1.4.2", SigningPubKey: pub, SigningSetAt: at("2026-02-01T00:00:00Z"), LastSeq: 1772323200000000007,
			SigningKeys: []pack.SigningKey{
				{PublicKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey), PinnedAt: at("2026-01-31T00:00:00.5Z"), UnpinnedAt: at("2026-02-01T00:00:00Z")},
				{PublicKey: pub, PinnedAt: at("2026-02-01T00:00:00Z")}},
			ClientCert:   &pack.ClientCert{Fingerprint: strings.Repeat("ab", 32), SetAt: at("2026-02-01T00:00:01Z"), NotAfter: at("2027-02-01T00:00:01Z")},
			RegisteredAt: at("2026-02-01T00:00:00Z"), CreatedAt: at("2026-01-31T00:00:00Z")},
		{TenantID: "acme", AgentID: "ag_legacy", Hostname: "old-01", OS: "linux", Arch: "amd64", AgentVersion: "0.9.0",
			MaxAgentVersion: "0.9.0", CreatedAt: at("2025-06-30T00:00:00.25Z")},
		{TenantID: "acme", AgentID: "ag_late", Hostname: "late-01", CreatedAt: at("2026-03-31T00:00:00Z")},
		{TenantID: "acme", AgentID: "ag_before", Hostname: "before-01", CreatedAt: at("2026-02-28T00:00:00Z")},
		{TenantID: "globex", AgentID: "ag_globex", Hostname: "globex-01", CreatedAt: at("2026-03-05T00:00:00Z")},
	}}
}

// CheckGolden holds the pack tgz to the golden directory dir: its
// manifest.json and every file under data/ byte for byte, and nothing
// else under data/. With update it rewrites dir from tgz first.
func CheckGolden(tb testing.TB, tgz []byte, dir string, update bool) {
	tb.Helper()
	ms, err := Unpack(tgz)
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string][]byte{}
	for _, m := range ms {
		if m.Hdr.Name == pack.ManifestName || strings.HasPrefix(m.Hdr.Name, pack.DataDir) {
			got[m.Hdr.Name] = m.Body
		}
	}
	if update {
		if err := os.RemoveAll(dir); err != nil {
			tb.Fatal(err)
		}
		for name, body := range got {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, body, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	want := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		want[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		tb.Fatalf("read %s (rewrite it with -update): %v", dir, err)
	}
	for name, body := range want {
		if !bytes.Equal(got[name], body) {
			tb.Errorf("%s:\n%s\nwant (%s)\n%s", name, got[name], dir, body)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			tb.Errorf("%s is not in %s", name, dir)
		}
	}
}
