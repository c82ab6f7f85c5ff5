package hub

import (
	"context"
	"errors"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
)

// packSource is what pack.Build reads a tenant's period from: the hub's
// stores, their records turned into the pack's. What goes into a pack is
// decided by internal/pack; an error of a store is marked as the
// backend's, so that the pack fails with reasonRead.
type packSource struct {
	batches   PackBatches
	anomalies AnomalyLister
	agents    AgentReader
	audit     AuditReader
}

var _ pack.Source = packSource{}

// anomalyPage is how many anomalies a pack reads at a time.
const anomalyPage = 500

func (p *Packs) source() packSource { return p.src }

// Batches reads the batch index of the period's days.
func (s packSource) Batches(ctx context.Context, p pack.Period, fn func(pack.Batch) error) error {
	return because(reasonRead, s.batches.PeriodBatches(ctx, p.TenantID, p.Start, p.End, func(b StoredBatch) error {
		return fn(packBatch(b))
	}))
}

// SignedBatches reads the agent's batches partition between two seqs.
func (s packSource) SignedBatches(ctx context.Context, agentID string, from, to int64, fn func(pack.Batch) error) error {
	return because(reasonRead, s.batches.SignedBatches(ctx, agentID, from, to, func(b StoredBatch) error {
		return fn(packBatch(b))
	}))
}

func packBatch(b StoredBatch) pack.Batch {
	return pack.Batch{TenantID: b.TenantID, AgentID: b.AgentID, Key: b.Key, Seq: b.Seq, SHA256: b.SHA, Signed: b.Signed,
		Signature: b.Signature, Body: b.Body, Records: b.Records, ReceivedAt: b.ReceivedAt}
}

// Anomalies lists every anomaly of the tenant.
func (s packSource) Anomalies(ctx context.Context, p pack.Period, fn func(anomaly.Anomaly) error) error {
	cursor := ""
	for {
		page, err := s.anomalies.ListAnomalies(ctx, p.TenantID, anomaly.Filter{}, cursor, anomalyPage)
		if err != nil {
			return because(reasonRead, err)
		}
		for _, a := range page.Anomalies {
			if err := fn(a); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// Audit reads the audit log of the period.
func (s packSource) Audit(ctx context.Context, p pack.Period, fn func(pack.AuditEvent) error) error {
	events, err := s.audit.Audit(ctx, p.TenantID, p.Start, p.Until())
	if err != nil {
		return because(reasonRead, err)
	}
	for _, e := range events {
		if err := fn(pack.AuditEvent{TenantID: e.TenantID, ID: e.ID, At: e.At, Action: e.Action, AgentID: e.AgentID,
			Actor: e.Actor, Detail: e.Detail}); err != nil {
			return err
		}
	}
	return nil
}

// Agent reads one agent.
func (s packSource) Agent(ctx context.Context, agentID string) (pack.Agent, error) {
	a, err := s.agents.GetAgent(ctx, agentID)
	if errors.Is(err, ErrNotFound) {
		return pack.Agent{}, pack.ErrUnknownAgent
	}
	if err != nil {
		return pack.Agent{}, because(reasonRead, err)
	}
	pa := pack.Agent{TenantID: a.TenantID, AgentID: a.AgentID, Hostname: a.Hostname, OS: a.OS, Arch: a.Arch,
		AgentVersion: a.AgentVersion, MaxAgentVersion: a.MaxAgentVersion, SigningPubKey: a.SigningPubKey,
		SigningSetAt: a.SigningSetAt, LastSeq: a.LastSeq, RegisteredAt: a.RegisteredAt, CreatedAt: a.CreatedAt}
	for _, k := range KeyHistory(a) {
		pa.SigningKeys = append(pa.SigningKeys, pack.SigningKey{PublicKey: k.PublicKey, PinnedAt: k.PinnedAt, UnpinnedAt: k.UnpinnedAt})
	}
	if a.Cert != nil {
		pa.ClientCert = &pack.ClientCert{Fingerprint: a.Cert.Fingerprint, SetAt: a.Cert.SetAt, NotAfter: a.Cert.NotAfter}
	}
	return pa, nil
}
