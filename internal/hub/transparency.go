package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/tlog"
)

// LogSubmitter adds entries to the witnessed transparency log's pool (SPEC
// 10; docs/transparency-log.md): a tlog.Log, or a tlog.Submitter in the
// functions that only submit. Submitting an entry again changes nothing, so
// a use case that repeats a step submits again without harm.
type LogSubmitter interface {
	Submit(ctx context.Context, entries ...tlog.Entry) ([]tlog.ID, error)
}

// logPin submits the entry of a committed signing-key pin; nil log: the
// deployment has no transparency log (tests, hubs before SPEC 10).
func logPin(ctx context.Context, log LogSubmitter, a Agent) error {
	if log == nil || len(a.SigningPubKey) == 0 {
		return nil
	}
	_, err := log.Submit(ctx, tlog.Pin(a.TenantID, a.AgentID, pack.Fingerprint(a.SigningPubKey), a.SigningSetAt))
	if err != nil {
		return fmt.Errorf("log the signing-key pin of %s: %w", a.AgentID, err)
	}
	return nil
}

// logUnpin submits the entry of a committed unpin of key at time at.
func logUnpin(ctx context.Context, log LogSubmitter, a Agent, key []byte, at time.Time) error {
	if log == nil || len(key) == 0 {
		return nil
	}
	_, err := log.Submit(ctx, tlog.Unpin(a.TenantID, a.AgentID, pack.Fingerprint(key), at))
	if err != nil {
		return fmt.Errorf("log the signing-key unpin of %s: %w", a.AgentID, err)
	}
	return nil
}

// clearLogMark clears the log-pending mark of a key change whose entry was
// just submitted (nil log: a hub without a transparency log, where the mark
// has nothing to repair). The mark must not stay: it sits on the item every
// ingest writes and would take it past 1 KB (docs/dynamodb.md). A failure
// leaves the mark, which costs one idempotent resubmission by the next
// integrity cycle: it is logged, not returned, since the change and its
// submission stand. A conflict is a newer change's mark, which stays.
func clearLogMark(ctx context.Context, env Env, w LogMarks, agentID, mark string) {
	if mark == "" {
		return
	}
	if err := w.ClearLogMark(ctx, agentID, mark); err != nil && !errors.Is(err, ErrConflict) {
		env.Log.WarnContext(ctx, "clear the log-pending mark; the integrity cycle will", "agent_id", agentID, "error", err)
	}
}

// logPack submits the entry of a built pack, with the manifest's
// generated_at string.
func logPack(ctx context.Context, log LogSubmitter, tenantID, packID, manifestSHA256 string, generatedAt time.Time) error {
	if log == nil {
		return nil
	}
	_, err := log.Submit(ctx, tlog.Pack(tenantID, packID, manifestSHA256, pack.TimeString(generatedAt)))
	if err != nil {
		return fmt.Errorf("log pack %s: %w", packID, err)
	}
	return nil
}

// LogPublisher sequences the log's pending entries and gets its checkpoint
// cosigned by the witnesses' quorum (tlog.Log's Integrate and Cosign). Its
// error names what failed: a witness that refuses the checkpoint (it has
// seen another history) is reported, never hidden.
type LogPublisher interface {
	Publish(ctx context.Context) error
}

// LogProver logs entries now and proves them against one checkpoint that a
// quorum of witnesses cosigned (tlog.Log): what a pack builder needs to put
// transparency/ into its packs (SPEC 10).
type LogProver interface {
	LogSubmitter
	LogPublisher
	// Proofs returns c2sp.org/tlog-proof@v1 proofs of entries, all against
	// the latest checkpoint, and that checkpoint; an error wrapping
	// tlog.ErrPending or tlog.ErrNotCosigned while they are not all
	// integrated under a cosigned checkpoint.
	Proofs(ctx context.Context, entries [][]byte) ([][]byte, []byte, error)
}

// proveRounds bounds how often logAndProve publishes again because other
// writers moved the checkpoint on between its publication and its proofs.
const proveRounds = 5

// logAndProve submits entries (again: submitting is idempotent, so an
// entry whose first submission was cut is logged now), integrates them,
// gets the checkpoint cosigned and returns their proofs, all against that
// one checkpoint. Concurrent integrations may publish a newer checkpoint
// that is not cosigned yet between the two steps: then it publishes again.
func logAndProve(ctx context.Context, lp LogProver, entries []tlog.Entry) ([][]byte, error) {
	raw := make([][]byte, len(entries))
	for i, e := range entries {
		b, err := e.Bytes()
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	if _, err := lp.Submit(ctx, entries...); err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	var last error
	for range proveRounds {
		if err := lp.Publish(ctx); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		proofs, _, err := lp.Proofs(ctx, raw)
		if err == nil {
			return proofs, nil
		}
		if !errors.Is(err, tlog.ErrPending) && !errors.Is(err, tlog.ErrNotCosigned) {
			return nil, fmt.Errorf("prove: %w", err)
		}
		last = err
	}
	return nil, fmt.Errorf("prove: the checkpoint kept moving on: %w", last)
}

// packProver is the pack.Prover of pack packID: it logs the signed pack's
// entry with the pins and unpins of its key history, and returns their
// proofs for transparency/. Its errors fail the pack with a "log:" reason.
func packProver(lp LogProver, tenantID, packID string) pack.Prover {
	return func(ctx context.Context, r *pack.Result) (pack.Transparency, error) {
		entries := make([]tlog.Entry, 0, 1+len(r.KeyHistory))
		entries = append(entries, tlog.Pack(tenantID, packID, r.ManifestSHA256, r.Manifest.GeneratedAt))
		for _, k := range r.KeyHistory {
			typ := tlog.TypePin
			if k.Unpin {
				typ = tlog.TypeUnpin
			}
			entries = append(entries, tlog.Entry{Type: typ, TenantID: tenantID, AgentID: k.AgentID, Fingerprint: k.Fingerprint, At: k.At})
		}
		proofs, err := logAndProve(ctx, lp, entries)
		if err != nil {
			return pack.Transparency{}, because(reasonLog, fmt.Errorf("log pack %s: %w", packID, err))
		}
		t := pack.Transparency{PackProof: proofs[0]}
		if len(proofs) > 1 {
			t.PinsProofs = tlog.JoinProofs(proofs[1:])
		}
		return t, nil
	}
}
