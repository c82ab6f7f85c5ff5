package hub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

var update = flag.Bool("update", false, "rewrite internal/pack/testdata/period from the data set below")

// goldenDir holds the data files and manifest.json of the pack of
// periodData: the bytes every change of the pack's selection must keep.
const goldenDir = "../pack/testdata/period"

var (
	gStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	gEnd   = time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	gGen   = time.Date(2026, 4, 1, 10, 2, 0, 0, time.UTC)
)

// goldenStore is the two reads of the hub's store the selection makes;
// anomalies come in pages of two, to cross page boundaries.
type goldenStore struct {
	Store
	anomalies []anomaly.Anomaly
	agents    map[string]Agent
}

func (s goldenStore) ListAnomalies(_ context.Context, tenantID string, _ anomaly.Filter, cursor string, _ int) (AnomalyPage, error) {
	var page []anomaly.Anomaly
	for _, a := range s.anomalies {
		if a.TenantID == tenantID {
			page = append(page, a)
		}
	}
	i := 0
	if cursor != "" {
		i, _ = strconv.Atoi(cursor)
	}
	next := ""
	if i+2 < len(page) {
		next = strconv.Itoa(i + 2)
	}
	return AnomalyPage{Anomalies: page[i:min(i+2, len(page))], NextCursor: next}, nil
}

func (s goldenStore) GetAgent(_ context.Context, id string) (Agent, error) {
	a, ok := s.agents[id]
	if !ok {
		return Agent{}, ErrNotFound
	}
	return a, nil
}

// goldenSource returns every batch it holds, whatever the period (as an
// index whose days reach past it would), and the audit events in [from, to).
type goldenSource struct {
	batches []StoredBatch
	audit   []AuditEvent
}

func (s goldenSource) PeriodBatches(_ context.Context, _ string, _, _ time.Time, fn func(StoredBatch) error) error {
	for _, b := range s.batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (s goldenSource) Audit(_ context.Context, tenantID string, from, to time.Time) ([]AuditEvent, error) {
	var out []AuditEvent
	for _, e := range s.audit {
		if e.TenantID == tenantID && !e.At.Before(from) && e.At.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func storedBatch(tenantID, agentID string, signed bool, seq int64, body string, records int, received string) StoredBatch {
	sha := pack.SHA256Hex([]byte(body))
	b := StoredBatch{TenantID: tenantID, AgentID: agentID, SHA: sha, Signed: signed, Body: []byte(body), Records: records,
		ReceivedAt: at(received), Key: "u#" + sha}
	if signed {
		b.Key, b.Seq, b.Signature = "s#"+strconv.FormatInt(seq, 10), seq, "c2lnbmF0dXJlLW9mLXNlcS0"+strconv.FormatInt(seq%10, 10)+"=="
	}
	return b
}

// periodData is acme's March 2026 as the hub holds it on 1 April at 10:02,
// with one case of every rule of docs/packs.md, "What goes in".
func periodData() (goldenStore, goldenSource) {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	src := goldenSource{batches: []StoredBatch{
		// Signed: two records in the period (one at its first instant, one
		// in its last second), one after it.
		storedBatch("acme", "ag_signed", true, 1772323200000000001,
			`[{"type":"batch","ts":"2026-03-01T00:00:00Z","seq":1772323200000000001,"agent_version":"1.4.2"},`+
				`{"type":"metric","ts":"2026-03-01T00:00:00Z","cpu":0.5,"host":{"z":1,"a":2}},`+
				`{"type":"inventory_snapshot","ts":"2026-03-31T23:59:59.9Z","packages":["openssl","curl"]},`+
				`{"type":"metric","ts":"2026-04-01T00:00:00Z","cpu":0.25}]`, 3, "2026-04-01T00:00:05Z"),
		// Signed, every record before the period: no line at all.
		storedBatch("acme", "ag_signed", true, 1772323200000000000,
			`[{"type":"batch","ts":"2026-02-28T23:59:59Z","seq":1772323200000000000,"agent_version":"1.4.2"},`+
				`{"type":"metric","ts":"2026-02-28T23:59:59.999Z","cpu":1e-7}]`, 1, "2026-03-01T00:00:01Z"),
		// Legacy (unsigned, no header): both records in the period.
		storedBatch("acme", "ag_legacy", false, 0,
			`[{"type":"metric","ts":"2026-03-10T12:00:00+02:00","note":"naïve € \u2028"},{"type":"metric","ts":"2026-03-10T09:00:00Z","cpu":1E2}]`,
			2, "2026-03-10T10:00:00.123456789Z"),
		// Quarantined, unsigned: a number no double holds.
		storedBatch("acme", "ag_legacy", false, 0, `[{"type":"metric","ts":"2026-03-11T00:00:00Z","v":1e400}]`, 1, "2026-03-11T00:00:00Z"),
		// Quarantined, signed: a duplicate member.
		storedBatch("acme", "ag_signed", true, 1772323200000000007,
			`[{"type":"batch","ts":"2026-03-12T00:00:00Z","seq":1772323200000000007,"agent_version":"1.4.2"},{"type":"metric","ts":"2026-03-12T00:00:00Z","v":1,"v":2}]`,
			1, "2026-03-12T00:00:00Z"),
		// Received at generated_at: not yet held.
		storedBatch("acme", "ag_late", false, 0, `[{"type":"metric","ts":"2026-03-20T00:00:00Z","cpu":9}]`, 1, "2026-04-01T10:02:00Z"),
		// Another tenant's batch that the index returned: never packed.
		storedBatch("globex", "ag_globex", false, 0, `[{"type":"metric","ts":"2026-03-20T00:00:00Z","cpu":8}]`, 1, "2026-03-20T00:00:00Z"),
	}, audit: []AuditEvent{
		{TenantID: "acme", ID: "ev_registered", At: at("2026-03-01T00:00:00Z"), Action: "agent_registered", AgentID: "ag_signed", Actor: "agent",
			Detail: map[string]string{"hostname": "web-01"}},
		{TenantID: "acme", ID: "ev_no_detail", At: at("2026-03-31T23:59:59.5Z"), Action: "pack_requested", Actor: "admin"},
		{TenantID: "acme", ID: "ev_after_end", At: at("2026-04-01T00:00:00Z"), Action: "pack_requested", Actor: "admin"},
		{TenantID: "acme", ID: "ev_before", At: at("2026-02-28T23:59:59Z"), Action: "agent_created", AgentID: "ag_before", Actor: "admin"},
		{TenantID: "acme", ID: "ev_other_tenant_agent", At: at("2026-03-05T00:00:00Z"), Action: "agent_created", AgentID: "ag_globex", Actor: "admin"},
		{TenantID: "globex", ID: "ev_globex", At: at("2026-03-05T00:00:00Z"), Action: "agent_created", AgentID: "ag_globex", Actor: "admin"},
	}}
	closedEarly, closedIn := at("2026-02-28T23:59:59Z"), at("2026-03-01T00:00:00Z")
	reason := "resolved"
	store := goldenStore{anomalies: []anomaly.Anomaly{
		{ID: "an_open", TenantID: "acme", AgentID: "ag_signed", Kind: anomaly.SignatureInvalid, Severity: anomaly.Critical, Status: anomaly.Open,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-03-02T00:00:00.5Z"), Count: 3, Detail: "bad signature"},
		{ID: "an_closed_before", TenantID: "acme", AgentID: "ag_signed", Kind: anomaly.ReplayDetected, Severity: anomaly.High, Status: anomaly.Closed,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-02-02T00:00:00Z"), Count: 1, ClosedAt: &closedEarly, ClosedReason: &reason},
		{ID: "an_closed_at_start", TenantID: "acme", AgentID: "ag_gone", Kind: anomaly.StaleAgent, Severity: anomaly.Medium, Status: anomaly.Closed,
			FirstSeen: at("2026-02-01T00:00:00Z"), LastSeen: at("2026-02-02T00:00:00Z"), Count: 1, ClosedAt: &closedIn, ClosedReason: &reason},
		{ID: "an_at_end", TenantID: "acme", AgentID: "ag_legacy", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-31T23:59:59Z"), LastSeen: at("2026-03-31T23:59:59Z"), Count: 1},
		{ID: "an_after_end", TenantID: "acme", AgentID: "ag_late", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-31T23:59:59.5Z"), LastSeen: at("2026-03-31T23:59:59.5Z"), Count: 1},
		{ID: "an_globex", TenantID: "globex", AgentID: "ag_globex", Kind: anomaly.UnsignedPayload, Severity: anomaly.Low, Status: anomaly.Open,
			FirstSeen: at("2026-03-05T00:00:00Z"), LastSeen: at("2026-03-05T00:00:00Z"), Count: 1},
	}, agents: map[string]Agent{
		"ag_signed": {TenantID: "acme", AgentID: "ag_signed", Hostname: "web-01", OS: "linux", Arch: "arm64", AgentVersion: "1.4.2",
			MaxAgentVersion: "1.4.2", SigningPubKey: pub, SigningSetAt: at("2026-02-01T00:00:00Z"), LastSeq: 1772323200000000007,
			Cert:         &CertPin{Fingerprint: strings.Repeat("ab", 32), SetAt: at("2026-02-01T00:00:01Z"), NotAfter: at("2027-02-01T00:00:01Z")},
			RegisteredAt: at("2026-02-01T00:00:00Z"), CreatedAt: at("2026-01-31T00:00:00Z")},
		"ag_legacy": {TenantID: "acme", AgentID: "ag_legacy", Hostname: "old-01", OS: "linux", Arch: "amd64", AgentVersion: "0.9.0",
			MaxAgentVersion: "0.9.0", CreatedAt: at("2025-06-30T00:00:00.25Z")},
		"ag_late":   {TenantID: "acme", AgentID: "ag_late", Hostname: "late-01", CreatedAt: at("2026-03-31T00:00:00Z")},
		"ag_before": {TenantID: "acme", AgentID: "ag_before", Hostname: "before-01", CreatedAt: at("2026-02-28T00:00:00Z")},
		"ag_globex": {TenantID: "globex", AgentID: "ag_globex", Hostname: "globex-01", CreatedAt: at("2026-03-05T00:00:00Z")},
	}}
	return store, src
}

// TestPackDataGolden: the data files of acme's March pack, and its
// manifest, are byte for byte the files under internal/pack/testdata/period.
func TestPackDataGolden(t *testing.T) {
	store, src := periodData()
	p := &Packs{svc: &Service{store: store}, src: src}
	k := packtest.Key(3)
	l, err := pack.NewLineage("sk_golden", packtest.Signer{Priv: k}.Pub(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	meta := pack.Meta{PackID: "pk_golden", TenantID: "acme", PeriodStart: gStart, PeriodEnd: gEnd, GeneratedAt: gGen,
		SigningKeyID: "sk_golden", PublicKey: packtest.Signer{Priv: k}.Pub(), Lineage: l}
	b, err := pack.NewBuilder(meta, packtest.Signer{Priv: k}, pack.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pk := Pack{TenantID: "acme", PackID: "pk_golden", PeriodStart: gStart, PeriodEnd: gEnd}
	if err := p.writeData(t.Context(), b, pk, gGen); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := b.Finish(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != pack.ManifestName && !strings.HasPrefix(h.Name, pack.DataDir) {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = body
	}
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		for name, body := range got {
			p := filepath.Join(goldenDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string][]byte{}
	err = filepath.WalkDir(goldenDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(goldenDir, p)
		want[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatalf("read %s (regenerate with -update): %v", goldenDir, err)
	}
	for name, body := range want {
		if !bytes.Equal(got[name], body) {
			t.Errorf("%s:\n%s\nwant\n%s", name, got[name], body)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is not in %s", name, goldenDir)
		}
	}
}
