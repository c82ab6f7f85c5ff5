package hub

import (
	"context"
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
