package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/monsys/hub/internal/anomaly"
)

// Alarms raises anomalies (SPEC 4.3) for the use cases that detect them.
type Alarms struct {
	anomalies AnomalyRaiser
	gens      AnomalyGens
	agents    AgentReader
	env       Env
}

// NewAlarms returns the anomaly raiser over the anomalies and the agents'
// generations.
func NewAlarms(anomalies AnomalyRaiser, gens AnomalyGens, agents AgentReader, env Env) (*Alarms, error) {
	if anomalies == nil || gens == nil || agents == nil {
		return nil, errors.New("hub: alarms need the anomalies, the generations and the agents")
	}
	return &Alarms{anomalies: anomalies, gens: gens, agents: agents, env: env.filled()}, nil
}

// raise records an anomaly occurrence of a; failures are logged, never
// hidden from the caller's answer (the refusal stands either way).
func (al *Alarms) raise(ctx context.Context, a Agent, k anomaly.Kind, sev anomaly.Severity, detail string) {
	e := anomaly.Event{TenantID: a.TenantID, AgentID: a.AgentID, Kind: k, Severity: sev, Detail: detail, At: al.env.now()}
	if err := al.Raise(ctx, e, a.AnomalyGen[k]); err != nil {
		al.env.Log.ErrorContext(ctx, "raise anomaly", "tenant_id", a.TenantID, "agent_id", a.AgentID, "kind", k, "err", err)
	}
}

// raiseOnce records occurrence (anomaly.Event.Occurrence) of a's anomaly
// k: a request that is retried may report it again, and it is counted once.
// The error is the caller's to answer: what must not be acknowledged
// before the anomaly is recorded is not.
func (al *Alarms) raiseOnce(ctx context.Context, a Agent, k anomaly.Kind, sev anomaly.Severity, detail, occurrence string) error {
	e := anomaly.Event{TenantID: a.TenantID, AgentID: a.AgentID, Kind: k, Severity: sev, Detail: detail, At: al.env.now(), Occurrence: occurrence}
	return al.Raise(ctx, e, a.AnomalyGen[k])
}

// Raise folds e into the open anomaly of (agent, kind), opening one if none is
// open. gen is the caller's view of the current generation; when that one turns
// out closed the generation is moved on (idempotently) and the raise retried.
func (al *Alarms) Raise(ctx context.Context, e anomaly.Event, gen int64) error {
	for range 4 {
		_, err := al.anomalies.RaiseAnomaly(ctx, e, gen)
		if err == nil {
			al.env.Metrics.Anomaly(ctx, e.Kind, e.Severity)
			return nil
		}
		if !errors.Is(err, ErrClosed) {
			return fmt.Errorf("raise %s for %s: %w", e.Kind, e.AgentID, err)
		}
		if gen, err = nextGen(ctx, al.gens, al.agents, e.AgentID, e.Kind, gen); err != nil {
			return fmt.Errorf("raise %s for %s: %w", e.Kind, e.AgentID, err)
		}
	}
	return fmt.Errorf("raise %s for %s: generation kept moving", e.Kind, e.AgentID)
}

// nextGen moves (agent, kind) past generation gen, which turned out closed,
// and returns the generation to write now; a lost race means another
// writer moved it already.
func nextGen(ctx context.Context, gens AnomalyGens, agents AgentReader, agentID string, k anomaly.Kind, gen int64) (int64, error) {
	if err := gens.BumpAnomalyGen(ctx, agentID, k, gen); err != nil && !errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("bump generation: %w", err)
	}
	a, err := agents.GetAgent(ctx, agentID)
	if err != nil {
		return 0, fmt.Errorf("re-read agent: %w", err)
	}
	return a.AnomalyGen[k], nil
}
