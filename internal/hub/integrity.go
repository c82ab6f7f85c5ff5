package hub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/tlog"
)

// IntegrityConfig tunes the cycle.
type IntegrityConfig struct {
	// UnsignedWindow: an unsigned agent that sent data within it has an open
	// unsigned_payload anomaly (SPEC: the last hour).
	UnsignedWindow time.Duration
	// RefreshEvery: an open unsigned_payload anomaly is refreshed at most this often (SPEC: hourly).
	RefreshEvery time.Duration
	// StaleAfter: an agent that was sending and is quiet this long gets stale_agent.
	StaleAfter time.Duration
	// HeadsWindow: a cycle's heads entries (SPEC 10) name the agents whose
	// last signed batch came within it, default 20 minutes: two 10-minute
	// cycles, so that a late cycle leaves no agent out. An agent may be
	// named by two cycles' entries; the chain head it names is the same or later.
	HeadsWindow time.Duration
}

// Closing reasons.
const (
	ReasonAgentSigning   = "agent_signing"
	ReasonAgentHeardFrom = "agent_heard_from"
)

// forever is "never refresh": open if absent, else leave alone.
const forever = 100 * 365 * 24 * time.Hour

// IntegrityDeps are what the integrity cycle reads and writes.
type IntegrityDeps struct {
	Index     AttentionIndex
	Marks     StaleMarks
	Anomalies AnomalyCycle
	Gens      AnomalyGens
	Agents    AgentReader
	// Log, when set, is published at the end of every cycle: the entries
	// submitted since the last one are integrated and cosigned (SPEC 10).
	Log LogPublisher
	// Heads and Active, when set, submit each cycle's heads entries: the
	// chain heads of the agents that sent signed batches lately, per tenant.
	Heads  LogSubmitter
	Active ActiveIndex
	// Pending and PendingLog, when set, repair key changes whose
	// submission was cut: each cycle submits the key history of every
	// agent in the log-pending index to PendingLog, then clears its mark.
	// They need no publisher: the entries wait in the pool.
	Pending interface {
		LogPendingIndex
		LogMarks
	}
	PendingLog LogSubmitter
}

// Integrity runs the integrity cycle (SPEC 4.4). Every write is conditional
// or idempotent, so a run that fails part-way is safe to repeat and two runs
// that overlap raise nothing twice.
type Integrity struct {
	d   IntegrityDeps
	cfg IntegrityConfig
	env Env
}

// NewIntegrity returns the integrity cycle.
func NewIntegrity(d IntegrityDeps, cfg IntegrityConfig, env Env) (*Integrity, error) {
	if d.Index == nil || d.Marks == nil || d.Anomalies == nil || d.Gens == nil || d.Agents == nil {
		return nil, errors.New("hub: the integrity cycle needs every one of IntegrityDeps")
	}
	if cfg.UnsignedWindow <= 0 {
		cfg.UnsignedWindow = time.Hour
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = time.Hour
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Minute
	}
	if cfg.HeadsWindow <= 0 {
		cfg.HeadsWindow = 20 * time.Minute
	}
	if (d.Pending == nil) != (d.PendingLog == nil) {
		return nil, errors.New("hub: the integrity cycle's log-pending repair needs both Pending and PendingLog")
	}
	if (d.Heads == nil) != (d.Active == nil) {
		return nil, errors.New("hub: the integrity cycle's heads entries need both Heads and Active")
	}
	return &Integrity{d: d, cfg: cfg, env: env.filled()}, nil
}

// Run performs one cycle. It goes on past per-agent failures, counts them, and
// returns the first one wrapped, so the scheduler sees the run failed and the
// next run repeats what is left.
func (in *Integrity) Run(ctx context.Context) (Summary, error) {
	start := in.env.now()
	var sum Summary
	var first error
	note := func(err error) {
		if err != nil {
			sum.Errors++
			if first == nil {
				first = err
			}
		}
	}
	done := map[string]bool{} // an agent that just went quiet is in both indexes
	note(in.d.Index.QuietAgents(ctx, start.Add(-in.cfg.StaleAfter), func(a Agent) error {
		sum.Checked++
		done[a.AgentID] = true
		note(in.goneQuiet(ctx, a, start, &sum))
		return ctx.Err()
	}))
	note(in.d.Index.AttentionAgents(ctx, func(a Agent) error {
		if done[a.AgentID] {
			return nil
		}
		sum.Checked++
		note(in.attend(ctx, a, start, &sum))
		return ctx.Err()
	}))
	note(in.logKeyChanges(ctx))
	note(in.logHeads(ctx, start))
	if in.d.Log != nil {
		if err := in.d.Log.Publish(ctx); err != nil {
			note(fmt.Errorf("publish the transparency log: %w", err))
		}
	}
	sum.Duration = in.env.now().Sub(start)
	in.env.Log.InfoContext(ctx, "integrity cycle", "checked", sum.Checked, "raised", sum.Raised, "refreshed", sum.Refreshed,
		"closed", sum.Closed, "errors", sum.Errors, "duration_ms", sum.Duration.Milliseconds())
	in.env.Metrics.Cycle(ctx, sum)
	if first != nil {
		return sum, fmt.Errorf("integrity cycle: %d errors, first: %w", sum.Errors, first)
	}
	return sum, nil
}

func (in *Integrity) goneQuiet(ctx context.Context, a Agent, now time.Time, sum *Summary) error {
	err := in.d.Marks.MarkStale(ctx, a.AgentID, a.LiveAt, now)
	if errors.Is(err, ErrConflict) {
		return nil // it spoke meanwhile
	}
	if err != nil {
		return fmt.Errorf("mark %s stale: %w", a.AgentID, err)
	}
	a.StaleSince = now
	return in.ensureStale(ctx, a, now, sum)
}

func (in *Integrity) ensureStale(ctx context.Context, a Agent, now time.Time, sum *Summary) error {
	detail := fmt.Sprintf("no data since %s (more than %s)", a.LiveAt.Format(time.RFC3339), in.cfg.StaleAfter)
	return in.refresh(ctx, a, anomaly.StaleAgent, anomaly.Low, detail, now, forever, sum)
}

// attend applies the rules to one agent of the attention index.
func (in *Integrity) attend(ctx context.Context, a Agent, now time.Time, sum *Summary) error {
	pinned := len(a.SigningPubKey) > 0
	signing := pinned && !a.LastSignedAt.IsZero() && !a.LastSignedAt.Before(a.SigningSetAt)
	if !pinned && !a.LastUnsignedAt.IsZero() && now.Sub(a.LastUnsignedAt) < in.cfg.UnsignedWindow {
		detail := fmt.Sprintf("agent sends unsigned data (last at %s)", a.LastUnsignedAt.Format(time.RFC3339))
		if err := in.refresh(ctx, a, anomaly.UnsignedPayload, anomaly.Medium, detail, now, in.cfg.RefreshEvery, sum); err != nil {
			return err
		}
	}
	if signing {
		if err := in.close(ctx, a, anomaly.UnsignedPayload, now, ReasonAgentSigning, sum); err != nil {
			return err
		}
	}
	stale := !a.StaleSince.IsZero()
	if stale && a.LiveAt.After(a.StaleSince) {
		if err := in.close(ctx, a, anomaly.StaleAgent, now, ReasonAgentHeardFrom, sum); err != nil {
			return err
		}
		if err := in.d.Marks.ClearStale(ctx, a.AgentID, a.StaleSince); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("clear stale mark of %s: %w", a.AgentID, err)
		}
		stale = false
	} else if stale {
		if err := in.ensureStale(ctx, a, now, sum); err != nil { // repairs a run cut after MarkStale
			return err
		}
	}
	if !stale && (a.LastUnsignedAt.IsZero() || signing) {
		if err := in.d.Marks.ClearAttention(ctx, a.AgentID, a.LastUnsignedAt); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("clear attention of %s: %w", a.AgentID, err)
		}
	}
	return nil
}

// refresh raises or refreshes (agent, kind) at most once per every, moving
// past a closed generation as Alarms.Raise does.
func (in *Integrity) refresh(ctx context.Context, a Agent, k anomaly.Kind, sev anomaly.Severity, detail string, now time.Time, every time.Duration, sum *Summary) error {
	e := anomaly.Event{TenantID: a.TenantID, AgentID: a.AgentID, Kind: k, Severity: sev, Detail: detail, At: now}
	gen := a.AnomalyGen[k]
	for range 4 {
		got, counted, err := in.d.Anomalies.RefreshAnomaly(ctx, e, gen, every)
		switch {
		case err == nil && !counted:
			return nil
		case err == nil && got.Count == 1:
			sum.Raised++
			in.env.Metrics.Anomaly(ctx, e.Kind, e.Severity)
			return nil
		case err == nil:
			sum.Refreshed++
			in.env.Metrics.Anomaly(ctx, e.Kind, e.Severity)
			return nil
		case !errors.Is(err, ErrClosed):
			return fmt.Errorf("refresh %s of %s: %w", k, a.AgentID, err)
		}
		if gen, err = nextGen(ctx, in.d.Gens, in.d.Agents, a.AgentID, k, gen); err != nil {
			return fmt.Errorf("refresh %s of %s: %w", k, a.AgentID, err)
		}
	}
	return fmt.Errorf("refresh %s of %s: generation kept moving", k, a.AgentID)
}

// close closes the open anomaly of (agent, kind), if any, and moves the
// generation on so the next occurrence opens a new one.
func (in *Integrity) close(ctx context.Context, a Agent, k anomaly.Kind, now time.Time, reason string, sum *Summary) error {
	gen := a.AnomalyGen[k]
	err := in.d.Anomalies.CloseAnomaly(ctx, a.TenantID, anomaly.ID(a.AgentID, k, gen), now, reason)
	switch {
	case err == nil:
		sum.Closed++
	case errors.Is(err, ErrNotFound):
		return nil // never opened: nothing to close, generation stays
	case !errors.Is(err, ErrConflict):
		return fmt.Errorf("close %s of %s: %w", k, a.AgentID, err)
	}
	if err := in.d.Gens.BumpAnomalyGen(ctx, a.AgentID, k, gen); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("close %s of %s: %w", k, a.AgentID, err)
	}
	return nil
}

// logKeyChanges submits the whole key history of every agent marked log
// pending (a pin or unpin whose own submission may have been cut after its
// write), then clears the mark it read, only if it is still that one: a
// change made meanwhile keeps its mark for the next cycle. Submitting is
// idempotent, so an entry that did reach the log changes nothing.
func (in *Integrity) logKeyChanges(ctx context.Context) error {
	if in.d.Pending == nil {
		return nil
	}
	var first error
	err := in.d.Pending.LogPendingAgents(ctx, func(a Agent) error {
		if a.LogMark == "" {
			return nil
		}
		if err := in.resubmitKeys(ctx, a); err != nil && first == nil {
			first = err
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("read the log-pending agents: %w", err)
	}
	return first
}

// resubmitKeys submits a's key history to the log and clears a's mark.
func (in *Integrity) resubmitKeys(ctx context.Context, a Agent) error {
	var entries []tlog.Entry
	for _, k := range KeyHistory(a) {
		fp := pack.Fingerprint(k.PublicKey)
		entries = append(entries, tlog.Pin(a.TenantID, a.AgentID, fp, k.PinnedAt))
		if !k.UnpinnedAt.IsZero() {
			entries = append(entries, tlog.Unpin(a.TenantID, a.AgentID, fp, k.UnpinnedAt))
		}
	}
	if len(entries) > 0 {
		if _, err := in.d.PendingLog.Submit(ctx, entries...); err != nil {
			return fmt.Errorf("log the key history of %s: %w", a.AgentID, err)
		}
	}
	if err := in.d.Pending.ClearLogMark(ctx, a.AgentID, a.LogMark); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("clear the log-pending mark of %s: %w", a.AgentID, err)
	}
	return nil
}

// logHeads submits, per tenant, the heads entry of the agents whose last
// signed batch came within HeadsWindow before now: the hub commits itself
// to what it had received (SPEC 10). It submits their pins again too.
func (in *Integrity) logHeads(ctx context.Context, now time.Time) error {
	if in.d.Heads == nil {
		return nil
	}
	since := now.Add(-in.cfg.HeadsWindow)
	byTenant := map[string][]tlog.ChainHead{}
	var pins []tlog.Entry
	err := in.d.Active.ActiveAgents(ctx, since, func(a Agent) error {
		if a.LastSignedAt.Before(since) || a.LastBatchSHA == "" || a.LastSeq == 0 {
			return nil // its recent data was unsigned, or it never sent a signed batch
		}
		byTenant[a.TenantID] = append(byTenant[a.TenantID], tlog.ChainHead{AgentID: a.AgentID,
			Seq: strconv.FormatInt(a.LastSeq, 10), SHA256: a.LastBatchSHA})
		// Its pin again: submitting is idempotent, and it repairs a
		// registration cut between the pin's write and its submission.
		if len(a.SigningPubKey) > 0 {
			pins = append(pins, tlog.Pin(a.TenantID, a.AgentID, pack.Fingerprint(a.SigningPubKey), a.SigningSetAt))
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("read the agents active since %s: %w", since.Format(time.RFC3339), err)
	}
	entries := pins
	for _, tenant := range slices.Sorted(maps.Keys(byTenant)) {
		es, err := tlog.Heads(tenant, now, byTenant[tenant])
		if err != nil {
			return fmt.Errorf("heads entry of %s: %w", tenant, err)
		}
		entries = append(entries, es...)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := in.d.Heads.Submit(ctx, entries...); err != nil {
		return fmt.Errorf("log chain heads: %w", err)
	}
	return nil
}
