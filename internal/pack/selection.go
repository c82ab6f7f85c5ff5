package pack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
)

// selection writes the data files of one pack from a Source (SPEC 8;
// docs/packs.md, "What goes in"): what the hub held before asOf
// (generated_at) about the tenant's period.
type selection struct {
	ctx    context.Context
	src    Source
	b      *Builder
	p      Period
	asOf   time.Time
	files  map[string]*FileWriter // created when their first record comes
	agents map[string]bool        // the agents the other files name
	keys   map[string][]SigningKey
	chains map[string]*chainSpan // by agent: the signed batches listed so far
}

// chainSpan is the seqs of an agent's signed batches that batch.ndjson
// lists: 8 bytes a batch, the one part of a build that grows with the data.
type chainSpan struct {
	min, max int64
	listed   map[int64]bool
}

// addPeriod writes every data file of b's period from src: the agents'
// records and batches, the anomalies, the audit log, then the agents that
// those name.
func (b *Builder) addPeriod(ctx context.Context, src Source) error {
	m := b.meta
	s := &selection{ctx: ctx, src: src, b: b, p: Period{TenantID: m.TenantID, Start: m.PeriodStart, End: m.PeriodEnd}, asOf: m.GeneratedAt,
		files: map[string]*FileWriter{}, agents: map[string]bool{}, keys: map[string][]SigningKey{}, chains: map[string]*chainSpan{}}
	err := read("batches", func(fn func(Batch) error) error { return src.Batches(ctx, s.p, fn) }, s.addBatch)
	if err != nil {
		return err
	}
	// Every other signed batch between those listed, so that the chain has
	// no hole the pack made itself (SPEC 9).
	for _, id := range slices.Sorted(maps.Keys(s.chains)) {
		c := s.chains[id]
		err := read("signed batches of "+id, func(fn func(Batch) error) error { return src.SignedBatches(ctx, id, c.min, c.max, fn) },
			func(b Batch) error { return s.addBetween(id, c, b) })
		if err != nil {
			return err
		}
	}
	// The three fixed files are in every pack, with records or without.
	for _, path := range []string{AnomaliesPath, AuditPath, AgentsPath} {
		if _, err := s.file(path); err != nil {
			return err
		}
	}
	err = read("anomalies", func(fn func(anomaly.Anomaly) error) error { return src.Anomalies(ctx, s.p, fn) }, s.addAnomaly)
	if err != nil {
		return err
	}
	err = read("audit log", func(fn func(AuditEvent) error) error { return src.Audit(ctx, s.p, fn) }, s.addEvent)
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(s.agents)) {
		a, err := src.Agent(ctx, id)
		if errors.Is(err, ErrUnknownAgent) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pack: read agent %q: %w", id, err)
		}
		if err := s.addAgent(a); err != nil {
			return err
		}
	}
	for _, fw := range s.files {
		if err := fw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// read runs one read of a Source whose callback is add. An error of add
// (the builder's) is returned as it is; any other is the Source's.
func read[T any](what string, each func(fn func(T) error) error, add func(T) error) error {
	var addErr error
	err := each(func(v T) error {
		addErr = add(v)
		return addErr
	})
	if addErr != nil {
		return addErr
	}
	if err != nil {
		return fmt.Errorf("pack: read %s: %w", what, err)
	}
	return nil
}

func (s *selection) file(path string) (*FileWriter, error) {
	if fw, ok := s.files[path]; ok {
		return fw, nil
	}
	fw, err := s.b.Create(path)
	if err != nil {
		return nil, err
	}
	s.files[path] = fw
	return fw, nil
}

// addBatch packs the records of b that are in the period, each as one
// line of its agent's file of its type, and lists b in the agent's
// batch.ndjson if any was. A stored batch that does not parse (SPEC 4.2
// check 7, batch.Parse: what it accepts, the builder can hold) is
// quarantined: listed with its reason, none of its records packed (SPEC 9).
func (s *selection) addBatch(b Batch) error {
	if b.TenantID != s.p.TenantID || !b.ReceivedAt.Before(s.asOf) {
		return nil
	}
	parsed, perr := batch.Parse(b.Body, b.Signed)
	if perr != nil {
		return s.list(b, nil, 0, perr)
	}
	n := 0
	for _, r := range parsed.Records {
		if !s.p.Contains(r.TS) {
			continue
		}
		fw, err := s.file(RecordsPath(b.AgentID, r.Type))
		if err != nil {
			return err
		}
		if err := fw.AddJSON(r.Raw); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return s.list(b, &parsed, n, nil)
}

// addBetween lists b, a signed batch of agent id between the first and the
// last that addBatch listed, unless it is listed already; none of its
// records is packed.
func (s *selection) addBetween(id string, c *chainSpan, b Batch) error {
	if b.AgentID != id || !b.Signed || c.listed[b.Seq] || b.TenantID != s.p.TenantID || !b.ReceivedAt.Before(s.asOf) {
		return nil
	}
	parsed, perr := batch.Parse(b.Body, true)
	return s.list(b, &parsed, 0, perr)
}

// list writes b's line in its agent's batch.ndjson: n of its parsed
// records in the period, or quarantined when perr says it does not parse.
func (s *selection) list(b Batch, parsed *batch.Batch, n int, perr error) error {
	s.agents[b.AgentID] = true
	if s.b.format1 {
		return nil
	}
	key, err := s.keyAt(b.AgentID, b.ReceivedAt)
	if err != nil {
		return err
	}
	fw, err := s.file(BatchPath(b.AgentID))
	if err != nil {
		return err
	}
	if b.Signed {
		c := s.chains[b.AgentID]
		if c == nil {
			c = &chainSpan{min: b.Seq, max: b.Seq, listed: map[int64]bool{}}
			s.chains[b.AgentID] = c
		}
		c.min, c.max, c.listed[b.Seq] = min(c.min, b.Seq), max(c.max, b.Seq), true
	}
	if perr != nil {
		return fw.Add(quarantineLine(b, batch.Reason(perr), key))
	}
	return fw.Add(batchLine(b, *parsed, n, key))
}

// keyAt is the signing key the agent had at t, from its key history (nil
// when it had none, or the source does not know the agent).
func (s *selection) keyAt(agentID string, t time.Time) (*SigningKey, error) {
	keys, ok := s.keys[agentID]
	if !ok {
		a, err := s.src.Agent(s.ctx, agentID)
		switch {
		case errors.Is(err, ErrUnknownAgent):
		case err != nil:
			return nil, fmt.Errorf("pack: read agent %q: %w", agentID, err)
		case a.TenantID == s.p.TenantID:
			keys = a.SigningKeys
		}
		s.keys[agentID] = keys
	}
	k, ok := KeyAt(keys, t)
	if !ok {
		return nil, nil
	}
	return &k, nil
}

// addAnomaly packs a if it was open at any time in the period: first seen
// by its end (and before asOf), not closed before its start.
func (s *selection) addAnomaly(a anomaly.Anomaly) error {
	if a.TenantID != s.p.TenantID || a.FirstSeen.After(s.p.End) || !a.FirstSeen.Before(s.asOf) ||
		(a.ClosedAt != nil && a.ClosedAt.Before(s.p.Start)) {
		return nil
	}
	s.agents[a.AgentID] = true
	return s.files[AnomaliesPath].Add(anomalyLine(a))
}

// addEvent packs e if it is in the period and before asOf.
func (s *selection) addEvent(e AuditEvent) error {
	if e.TenantID != s.p.TenantID || !s.p.Contains(e.At) || !e.At.Before(s.asOf) {
		return nil
	}
	if e.AgentID != "" {
		s.agents[e.AgentID] = true
	}
	return s.files[AuditPath].Add(auditLine(e))
}

// addAgent packs a if it is the tenant's.
func (s *selection) addAgent(a Agent) error {
	if a.TenantID != s.p.TenantID {
		return nil
	}
	s.b.keyHistory = append(s.b.keyHistory, keyEvents(a)...)
	return s.files[AgentsPath].Add(agentLine(a))
}
