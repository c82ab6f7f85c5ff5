package hub

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

var update = flag.Bool("update", false, "rewrite internal/pack/testdata/period from packtest.March")

// marchStores holds packtest.March in the hub's records, behind the reads
// a pack makes, filtered by tenant and time as the DynamoDB store filters
// them; anomalies come in pages of two, to cross page boundaries.
type marchStores struct {
	batches   []StoredBatch
	audit     []AuditEvent
	anomalies []anomaly.Anomaly
	agents    map[string]Agent
	fail      error // of every read, when set
}

func newMarchStores() *marchStores {
	_, _, d := packtest.March()
	s := &marchStores{anomalies: d.Anomalies, agents: map[string]Agent{}}
	for _, b := range d.Batches {
		s.batches = append(s.batches, StoredBatch{TenantID: b.TenantID, AgentID: b.AgentID, Key: b.Key, Seq: b.Seq, SHA: b.SHA256,
			Signed: b.Signed, Signature: b.Signature, Body: b.Body, Records: b.Records, ReceivedAt: b.ReceivedAt})
	}
	for _, e := range d.Audit {
		s.audit = append(s.audit, AuditEvent{TenantID: e.TenantID, ID: e.ID, At: e.At, Action: e.Action, AgentID: e.AgentID,
			Actor: e.Actor, Detail: e.Detail})
	}
	for _, a := range d.Agents {
		ag := Agent{TenantID: a.TenantID, AgentID: a.AgentID, Hostname: a.Hostname, OS: a.OS, Arch: a.Arch, AgentVersion: a.AgentVersion,
			MaxAgentVersion: a.MaxAgentVersion, SigningPubKey: a.SigningPubKey, SigningSetAt: a.SigningSetAt, LastSeq: a.LastSeq,
			RegisteredAt: a.RegisteredAt, CreatedAt: a.CreatedAt}
		for _, k := range a.SigningKeys {
			ag.SigningKeys = append(ag.SigningKeys, SigningKey{PublicKey: k.PublicKey, PinnedAt: k.PinnedAt, UnpinnedAt: k.UnpinnedAt})
		}
		if c := a.ClientCert; c != nil {
			ag.Cert = &CertPin{Fingerprint: c.Fingerprint, SetAt: c.SetAt, NotAfter: c.NotAfter}
		}
		s.agents[a.AgentID] = ag
	}
	return s
}

func (s *marchStores) PeriodBatches(_ context.Context, tenantID string, _, _ time.Time, fn func(StoredBatch) error) error {
	if s.fail != nil {
		return s.fail
	}
	for _, b := range s.batches {
		if b.TenantID != tenantID {
			continue
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (s *marchStores) SignedBatches(_ context.Context, agentID string, from, to int64, fn func(StoredBatch) error) error {
	if s.fail != nil {
		return s.fail
	}
	var in []StoredBatch
	for _, b := range s.batches {
		if b.AgentID == agentID && b.Signed && b.Seq >= from && b.Seq <= to {
			in = append(in, b)
		}
	}
	slices.SortFunc(in, func(x, y StoredBatch) int { return cmp.Compare(x.Seq, y.Seq) })
	for _, b := range in {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (s *marchStores) Audit(_ context.Context, tenantID string, from, to time.Time) ([]AuditEvent, error) {
	var out []AuditEvent
	for _, e := range s.audit {
		if e.TenantID == tenantID && !e.At.Before(from) && e.At.Before(to) {
			out = append(out, e)
		}
	}
	return out, s.fail
}

func (s *marchStores) ListAnomalies(_ context.Context, tenantID string, _ anomaly.Filter, cursor string, _ int) (AnomalyPage, error) {
	var all []anomaly.Anomaly
	for _, a := range s.anomalies {
		if a.TenantID == tenantID {
			all = append(all, a)
		}
	}
	i := 0
	if cursor != "" {
		i, _ = strconv.Atoi(cursor)
	}
	next := ""
	if i+2 < len(all) {
		next = strconv.Itoa(i + 2)
	}
	return AnomalyPage{Anomalies: all[i:min(i+2, len(all))], NextCursor: next}, s.fail
}

func (s *marchStores) GetAgent(_ context.Context, id string) (Agent, error) {
	if s.fail != nil {
		return Agent{}, s.fail
	}
	a, ok := s.agents[id]
	if !ok {
		return Agent{}, ErrNotFound
	}
	return a, nil
}

func (s *marchStores) source() packSource {
	return packSource{batches: s, anomalies: s, agents: s, audit: s}
}

// TestPackSourceGolden: packtest.March read from the hub's stores makes
// the pack whose data files internal/pack/testdata/period holds, byte for
// byte, as it did before the selection moved into internal/pack.
func TestPackSourceGolden(t *testing.T) {
	meta, signer, _ := packtest.March()
	var out bytes.Buffer
	if _, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, newMarchStores().source(), &out); err != nil {
		t.Fatal(err)
	}
	packtest.CheckGolden(t, out.Bytes(), "../pack/"+packtest.MarchDir, *update)
}

// TestPackSourceReasons: a store that fails fails the pack as the
// backend's (reasonRead), whichever read it is; a pack that cannot be
// written fails as the build's.
func TestPackSourceReasons(t *testing.T) {
	meta, signer, _ := packtest.March()
	down := errors.New("dynamodb: connection reset")
	tests := []struct {
		name   string
		src    func(s *marchStores) pack.Source
		reason string
	}{
		{"fail/batches", func(s *marchStores) pack.Source { s.fail = down; return s.source() }, reasonRead},
		{"fail/anomalies", func(s *marchStores) pack.Source {
			return packSource{batches: s, anomalies: failingStores{s, down}, agents: s, audit: s}
		}, reasonRead},
		{"fail/audit", func(s *marchStores) pack.Source {
			return packSource{batches: s, anomalies: s, agents: s, audit: failingStores{s, down}}
		}, reasonRead},
		{"fail/agent", func(s *marchStores) pack.Source {
			return packSource{batches: s, anomalies: s, agents: failingStores{s, down}, audit: s}
		}, reasonRead},
		{"fail/unsafe-agent-id", func(s *marchStores) pack.Source {
			s.batches[0].AgentID = "../ag"
			return s.source()
		}, reasonBuild},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, tc.src(newMarchStores()), &bytes.Buffer{})
			if err == nil || reasonOf(err) != tc.reason {
				t.Fatalf("err %v, reason %q; want %q", err, reasonOf(err), tc.reason)
			}
			if tc.reason == reasonRead && !errors.Is(err, down) {
				t.Fatalf("err %v does not carry the store's", err)
			}
		})
	}
}

// failingStores fails the reads that marchStores' source() does not fail
// as a whole: anomalies, audit and agents one at a time.
type failingStores struct {
	*marchStores
	err error
}

func (f failingStores) ListAnomalies(context.Context, string, anomaly.Filter, string, int) (AnomalyPage, error) {
	return AnomalyPage{}, f.err
}

func (f failingStores) Audit(context.Context, string, time.Time, time.Time) ([]AuditEvent, error) {
	return nil, f.err
}

func (f failingStores) GetAgent(context.Context, string) (Agent, error) { return Agent{}, f.err }
