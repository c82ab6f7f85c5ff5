package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/monsys/hub/agent/identity"
	"github.com/monsys/hub/agent/state"
	"github.com/monsys/hub/internal/batch"
)

// AgentStatus is the "agent_status" record that ends every cycle.
type AgentStatus struct {
	Type                string            `json:"type"`
	TS                  string            `json:"ts"`
	AgentVersion        string            `json:"agent_version"`
	SpoolBatches        int               `json:"spool_batches"`
	SpoolBytes          int64             `json:"spool_bytes"`
	SpoolMaxBytes       int64             `json:"spool_max_bytes"`
	DroppedBatches      int64             `json:"dropped_batches"` // since the previous agent_status
	DroppedRecords      int64             `json:"dropped_records"`
	DroppedBatchesTotal int64             `json:"dropped_batches_total"`
	RejectedBatches     int64             `json:"rejected_batches"`
	LastError           string            `json:"last_error,omitempty"`
	LastErrorAt         string            `json:"last_error_at,omitempty"`
	LastContact         string            `json:"last_contact,omitempty"`
	CertNotAfter        string            `json:"cert_not_after,omitempty"`
	SigningPinned       bool              `json:"signing_pubkey_pinned"`
	CollectorErrors     map[string]string `json:"collector_errors,omitempty"`
}

// Collect runs the collectors that are due, adds an agent_status record,
// and spools the records as sequenced batches. It returns the number of
// records spooled.
func (a *Agent) Collect(ctx context.Context) (int, error) {
	now := a.o.Now()
	var recs []json.RawMessage
	for _, sc := range a.o.Collectors {
		name := sc.Collector.Name()
		if t, ok := a.due[name]; ok && now.Before(t) {
			continue
		}
		a.due[name] = now.Add(sc.Every)
		out, err := sc.Collector.Collect(ctx, now)
		if err != nil {
			a.errs[name] = err.Error()
			a.o.Log.Warn("collector failed", "collector", name, "err", err)
		} else {
			delete(a.errs, name)
		}
		for _, r := range out {
			raw, err := json.Marshal(r)
			if err != nil {
				return 0, fmt.Errorf("collect %s: %w", name, err)
			}
			recs = append(recs, raw)
		}
	}
	st, err := a.store.Load()
	if err != nil {
		return 0, err
	}
	sp := a.spool.Stats()
	status := AgentStatus{
		Type: "agent_status", TS: batch.TS(now), AgentVersion: a.o.Version,
		SpoolBatches: sp.Batches, SpoolBytes: sp.Bytes, SpoolMaxBytes: sp.MaxBytes,
		DroppedBatches: sp.Unsent.Batches, DroppedRecords: sp.Unsent.Records, DroppedBatchesTotal: sp.DropTotal.Batches,
		RejectedBatches: st.Rejected, LastError: st.LastError, SigningPinned: st.SigningPinned,
	}
	if !st.LastErrorAt.IsZero() && st.LastError != "" {
		status.LastErrorAt = batch.TS(st.LastErrorAt)
	}
	if !st.LastContact.IsZero() {
		status.LastContact = batch.TS(st.LastContact)
	}
	if id, err := identity.Load(identity.Path(a.o.StateDir)); err == nil {
		status.CertNotAfter = batch.TS(id.Leaf.NotAfter)
	}
	if len(a.errs) > 0 {
		status.CollectorErrors = map[string]string{}
		for k, v := range a.errs {
			status.CollectorErrors[k] = v
		}
	}
	raw, err := json.Marshal(status)
	if err != nil {
		return 0, err
	}
	recs = append(recs, raw)
	if err := a.spoolRecords(now, recs); err != nil {
		return 0, err
	}
	// The drops are in a spooled agent_status now; count later ones anew.
	if err := a.spool.AckDrops(sp.Unsent); err != nil {
		return 0, err
	}
	return len(recs), nil
}

// spoolRecords splits records into batches, reserves their seqs in the
// state file first (so a crash can only leave a gap, never reuse a seq),
// and appends them to the spool.
func (a *Agent) spoolRecords(now time.Time, recs []json.RawMessage) error {
	groups, tooLarge := batch.Split(recs)
	for range tooLarge {
		a.o.Log.Warn("record too large for a batch, skipped")
	}
	if len(groups) == 0 {
		return nil
	}
	var first int64
	_, err := a.store.Update(func(s *state.State) error {
		first = batch.NextSeq(now, s.LastSeq)
		s.LastSeq = first + int64(len(groups)) - 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool records: %w", err)
	}
	for i, g := range groups {
		body, err := batch.Encode(batch.Header{TS: now, Seq: first + int64(i), AgentVersion: a.o.Version}, g)
		if err != nil {
			return fmt.Errorf("spool records: %w", err)
		}
		dropped, err := a.spool.Append(body, len(g))
		if err != nil {
			return fmt.Errorf("spool records: %w", err)
		}
		if dropped.Batches > 0 {
			a.o.Log.Warn("spool bound reached, dropped oldest batches", "batches", dropped.Batches, "records", dropped.Records)
		}
	}
	return nil
}
