package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"sort"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/semver"
	"github.com/monsys/hub/internal/sig"
)

// IngestRequest is a POST /ingest as the edge saw it.
type IngestRequest struct {
	Token         string
	ClientCertPEM string
	ContentType   string
	Signature     string // X-Monsys-Signature; "" when absent
	Body          []byte
}

// IngestResult is a success: 202 {"accepted":n}, or 200 {"accepted":0,"duplicate":true}.
type IngestResult struct {
	Accepted  int  `json:"accepted"`
	Duplicate bool `json:"duplicate,omitempty"`
}

// IngestDeps are what an ingest reads and writes, and the components it
// shares with the other agent endpoints.
type IngestDeps struct {
	Auth     *AgentAuth
	Certs    *Certs
	Alarms   *Alarms
	Agents   AgentStateReader
	Seq      SeqStore
	Claims   ClaimStore
	Unsigned UnsignedMarker
	Batches  BatchWriter
	Stored   BatchReader
}

// IngestConfig tunes ingest. Zero values take the defaults.
type IngestConfig struct {
	// PendingLease is how long a batch in flight is left alone before another
	// request may finish or undo it, default 15 seconds. An ingest request
	// gives up after two thirds of it, so the lease always outlives the
	// request that set it.
	PendingLease time.Duration
}

// Ingester verifies and stores agents' batches (POST /ingest, SPEC 4.2).
type Ingester struct {
	d   IngestDeps
	cfg IngestConfig
	env Env
}

// NewIngester returns the ingest use case.
func NewIngester(d IngestDeps, cfg IngestConfig, env Env) (*Ingester, error) {
	if d.Auth == nil || d.Certs == nil || d.Alarms == nil || d.Agents == nil || d.Seq == nil || d.Claims == nil ||
		d.Unsigned == nil || d.Batches == nil || d.Stored == nil {
		return nil, errors.New("hub: an ingester needs every one of IngestDeps")
	}
	if cfg.PendingLease <= 0 {
		cfg.PendingLease = 15 * time.Second
	}
	return &Ingester{d: d, cfg: cfg, env: env.filled()}, nil
}

// Ingest runs the checks of SPEC 4.2 in their order and stores the batch.
func (in *Ingester) Ingest(ctx context.Context, req IngestRequest) (IngestResult, error) {
	// No request outlives its pending lease, so a marker older than the lease
	// belongs to a request that is gone and may be finished or undone.
	ctx, cancel := context.WithTimeout(ctx, in.cfg.PendingLease*2/3)
	defer cancel()
	a, err := in.d.Auth.Authenticate(ctx, req.Token) // 1
	if err != nil {
		return IngestResult{}, err
	}
	if _, err := in.d.Certs.check(ctx, in.d.Alarms, a, in.d.Certs.identify(req.ClientCertPEM), onIngest); err != nil { // 2
		return IngestResult{}, err
	}
	if len(req.Body) > batch.MaxBytes { // 3
		return IngestResult{}, refuse(CodePayloadTooLarge, "body is %d bytes, limit %d", len(req.Body), batch.MaxBytes)
	}
	if !IsJSON(req.ContentType) {
		return IngestResult{}, refuse(CodeUnsupportedMedia, "Content-Type must be application/json, got %q", req.ContentType)
	}
	digest := sig.Digest(req.Body)
	sha := hex.EncodeToString(digest[:])
	for range 4 {
		if len(a.SigningPubKey) == 0 { // 4
			return in.ingestLegacy(ctx, a, req, sha)
		}
		if err := in.verifySignature(ctx, a, req, digest); err != nil { // 5, 6
			return IngestResult{}, err
		}
		b, err := batch.Parse(req.Body, true) // 7
		if err != nil {
			return IngestResult{}, &Error{Code: CodeInvalidRequest, Message: batch.Reason(err), Cause: err}
		}
		res, err := in.commitSigned(ctx, a, b, req, sha) // 8, 9, 10
		if !errors.Is(err, errReread) {
			return res, err
		}
		if a, err = in.d.Agents.GetAgentState(ctx, a.AgentID); err != nil {
			return IngestResult{}, backend("re-read agent", err)
		}
	}
	return IngestResult{}, &Error{Code: CodeConflict, Message: "concurrent batches of this agent kept changing its sequence; retry", RetryAfter: time.Second}
}

// errReread asks Ingest to decide again on a fresh read of the agent.
var errReread = errors.New("agent changed under the request")

func (in *Ingester) verifySignature(ctx context.Context, a Agent, req IngestRequest, digest [sha256.Size]byte) error {
	sg, err := sig.Parse(req.Signature)
	switch {
	case errors.Is(err, sig.ErrMissing):
		in.d.Alarms.raise(ctx, a, anomaly.UnsignedPayload, anomaly.High, "unsigned batch from an agent with a pinned signing key")
		return refuse(CodeSignatureMissing, "this agent has a pinned signing key: the %s header is required", sig.Header)
	case err != nil:
		in.d.Alarms.raise(ctx, a, anomaly.SignatureInvalid, anomaly.Critical, "malformed payload signature")
		return &Error{Code: CodeSignatureInvalid, Message: "the signature must be standard base64 of 64 bytes", Cause: err}
	}
	if err := sig.VerifyDigest(a.SigningPubKey, digest, sg); err != nil {
		in.d.Alarms.raise(ctx, a, anomaly.SignatureInvalid, anomaly.Critical, "payload signature does not verify with the pinned key")
		return &Error{Code: CodeSignatureInvalid, Message: "the signature does not verify with the pinned signing key", Cause: err}
	}
	return nil
}

// commitSigned is checks 8, 9 and 10 and the store. The seq advance on the agent
// item is the commit point; the pending marker lets a retry finish the batch,
// or a later request undo it, if the function dies before the batch is whole
// (docs/dynamodb.md, "The ingest commit").
func (in *Ingester) commitSigned(ctx context.Context, a Agent, b batch.Batch, req IngestRequest, sha string) (IngestResult, error) {
	h := b.Header
	now := in.env.now()
	if pd := a.Pending; pd != nil {
		left := in.cfg.PendingLease - now.Sub(pd.At)
		fresh := left > 0
		switch {
		case pd.SHA == sha && pd.Seq == h.Seq:
			return in.resume(ctx, a, b, req, sha, *pd, left)
		case h.Seq <= pd.Seq:
			// falls through to the replay check below: last_seq already holds pd.Seq
		case fresh:
			return IngestResult{}, &Error{Code: CodeConflict, Message: "the previous batch of this agent is still being stored; retry", RetryAfter: max(left, time.Second)}
		default:
			if err := in.undo(ctx, a, *pd, nil); err != nil {
				return IngestResult{}, err
			}
			return IngestResult{}, errReread
		}
	}
	if h.Seq <= a.LastSeq {
		if h.Seq == a.LastSeq && sha == a.LastBatchSHA && a.Pending == nil {
			// An idempotent retry of the last batch: its answer may have been
			// lost, so make sure it is whole before saying so again.
			if err := in.ensureStored(ctx, stored(a, b, req, sha, now)); err != nil {
				return IngestResult{}, err
			}
			return IngestResult{Accepted: 0, Duplicate: true}, nil
		}
		in.d.Alarms.raise(ctx, a, anomaly.ReplayDetected, anomaly.High, fmt.Sprintf("batch seq %d is not above the last accepted seq %d", h.Seq, a.LastSeq))
		last := a.LastSeq
		return IngestResult{}, &Error{Code: CodeReplayRejected, Message: fmt.Sprintf("seq %d is not above the last accepted seq %d", h.Seq, last), LastSeq: &last}
	}
	p := Pending{Seq: h.Seq, SHA: sha, PrevSeq: a.LastSeq, PrevSHA: a.LastBatchSHA, At: now}
	maxV := semver.Max(a.MaxAgentVersion, h.AgentVersion)
	err := in.d.Seq.BeginBatch(ctx, a.AgentID, p, a.SigningPubKey, h.AgentVersion, maxV)
	if errors.Is(err, ErrConflict) {
		return IngestResult{}, errReread
	}
	if err != nil {
		return IngestResult{}, backend("begin batch", err)
	}
	res, err := in.finish(ctx, a, b, req, sha, p)
	if err != nil {
		return res, err
	}
	if a.MaxAgentVersion != "" && semver.Less(h.AgentVersion, a.MaxAgentVersion) { // 9
		in.d.Alarms.raise(ctx, a, anomaly.VersionDowngrade, anomaly.High,
			fmt.Sprintf("agent_version %s is lower than %s reported before", h.AgentVersion, a.MaxAgentVersion))
	}
	return res, nil
}

// checkChain is check 10 for the batch of marker p, which the request
// holds and has stored whole: every path that ends a marker (finish, and
// resume's end of a batch already whole) runs it before EndBatch, so a
// signed batch is never acknowledged, nor its marker cleared, before its
// chain_fork is recorded. The marker's PrevSHA is the last accepted body
// when the batch began, so a retry of the same body, whoever stores it,
// judges it as the first request did, and the anomaly counts the batch
// (its body's SHA-256) once however often it is judged
// (docs/dynamodb.md, "The ingest commit").
func (in *Ingester) checkChain(ctx context.Context, a Agent, h *batch.Header, p Pending) error {
	if h.Prev == "" || h.Prev == p.PrevSHA {
		return nil
	}
	if err := in.d.Alarms.raiseOnce(ctx, a, anomaly.ChainFork, anomaly.Critical, chainForkDetail(h, p), p.SHA); err != nil {
		return backend("raise chain_fork", err)
	}
	return nil
}

// chainForkDetail says which link of the chain broke (check 10).
func chainForkDetail(h *batch.Header, p Pending) string {
	if p.PrevSHA == "" {
		return fmt.Sprintf("batch seq %d chains to %s, but the hub has accepted no signed batch of this agent", h.Seq, h.Prev)
	}
	return fmt.Sprintf("batch seq %d chains to %s, not to the last accepted batch (seq %d, sha256 %s)", h.Seq, h.Prev, p.PrevSeq, p.PrevSHA)
}

// resume handles this very body while its marker p is set. Within the lease
// the request that holds the marker may still be at work, so nothing is
// written but the end of a batch that is already whole: its item is stored
// (items are written after their index entries; the entries are put again
// for batches stored before that rule) and nobody is undoing it. Otherwise the
// answer is to retry once the lease is over; then this request takes the
// batch over (a conditional write on the marker, which renews the lease) and
// stores it.
func (in *Ingester) resume(ctx context.Context, a Agent, b batch.Batch, req IngestRequest, sha string, p Pending, left time.Duration) (IngestResult, error) {
	if left > 0 {
		cur, err := in.d.Stored.GetBatch(ctx, a.AgentID, SignedBatchKey(p.Seq))
		switch {
		case err == nil && cur.SHA == sha && !p.Undo:
			if err := in.d.Batches.PutBatchIndex(ctx, cur); err != nil {
				return IngestResult{}, backend("repair batch index", err)
			}
			if err := in.checkChain(ctx, a, b.Header, p); err != nil { // 10
				return IngestResult{}, err
			}
			if err := in.d.Claims.EndBatch(ctx, a.AgentID, p); errors.Is(err, ErrConflict) {
				return IngestResult{}, errReread // ended, undone or taken over meanwhile: decide again
			} else if err != nil {
				return IngestResult{}, backend("end batch", err)
			}
			return IngestResult{Accepted: 0, Duplicate: true}, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return IngestResult{}, backend("read pending batch", err)
		}
		return IngestResult{}, &Error{Code: CodeConflict, Message: "this batch is being stored by another request; retry", RetryAfter: max(left, time.Second)}
	}
	mine := p
	mine.At, mine.Undo = in.env.now(), false
	if err := in.d.Claims.ClaimBatch(ctx, a.AgentID, p, mine); errors.Is(err, ErrConflict) {
		return IngestResult{}, errReread
	} else if err != nil {
		return IngestResult{}, backend("take over pending batch", err)
	}
	return in.finish(ctx, a, b, req, sha, mine)
}

// finish stores the batch of marker p, which this request holds, and clears
// the marker. When the store fails the batch is undone, so a 503 leaves
// nothing behind.
func (in *Ingester) finish(ctx context.Context, a Agent, b batch.Batch, req IngestRequest, sha string, p Pending) (IngestResult, error) {
	sb := stored(a, b, req, sha, p.At)
	if err := in.d.Batches.PutBatch(ctx, sb); err != nil {
		if uerr := in.undo(ctx, a, p, &sb); uerr != nil {
			in.env.Log.ErrorContext(ctx, "undo batch", "agent_id", a.AgentID, "seq", p.Seq, "err", uerr)
		}
		return IngestResult{}, backend("store batch", err)
	}
	// Stored whole and still held: the marker stays if the anomaly cannot
	// be recorded, and the retry of this body (or the lease's end) settles it.
	if err := in.checkChain(ctx, a, b.Header, p); err != nil { // 10
		return IngestResult{}, err
	}
	// A conflict means that a retry of this body found it whole and ended it.
	if err := in.d.Claims.EndBatch(ctx, a.AgentID, p); err != nil && !errors.Is(err, ErrConflict) {
		// The batch is whole and last_seq advanced; the retry of this body ends it.
		return IngestResult{}, backend("end batch", err)
	}
	return IngestResult{Accepted: len(b.Records)}, nil
}

// undo removes the batch of marker p and restores last_seq. It first claims
// the batch for its removal (renewing the lease), so that nobody ends it
// while it goes; every step is idempotent, so a crash in between is repaired
// by the next request once the lease is over. sb is the batch when the
// caller knows it; otherwise the stored item says which entries to delete.
// A lost claim means another request holds the batch: nothing is undone.
func (in *Ingester) undo(ctx context.Context, a Agent, p Pending, sb *StoredBatch) error {
	mine := p
	mine.At, mine.Undo = in.env.now(), true
	if err := in.d.Claims.ClaimBatch(ctx, a.AgentID, p, mine); errors.Is(err, ErrConflict) {
		return nil
	} else if err != nil {
		return backend("claim batch to undo", err)
	}
	del := StoredBatch{TenantID: a.TenantID, AgentID: a.AgentID, Key: SignedBatchKey(p.Seq), Seq: p.Seq, SHA: p.SHA}
	if cur, err := in.d.Stored.GetBatch(ctx, a.AgentID, del.Key); err == nil {
		del = cur
	} else if !errors.Is(err, ErrNotFound) {
		return backend("read batch to undo", err)
	} else if sb != nil {
		del = *sb
	}
	if err := in.d.Batches.DeleteBatch(ctx, del); err != nil {
		return backend("delete batch", err)
	}
	if err := in.d.Seq.AbortBatch(ctx, a.AgentID, mine); err != nil && !errors.Is(err, ErrConflict) {
		return backend("abort batch", err)
	}
	return nil
}

// ensureStored makes sure that an accepted signed batch is whole: its item
// (written again from the body if it went missing) and every index entry.
func (in *Ingester) ensureStored(ctx context.Context, sb StoredBatch) error {
	cur, err := in.d.Stored.GetBatch(ctx, sb.AgentID, sb.Key)
	switch {
	case err == nil && cur.SHA == sb.SHA:
		err = in.d.Batches.PutBatchIndex(ctx, cur)
	case err == nil || errors.Is(err, ErrNotFound):
		err = in.d.Batches.PutBatch(ctx, sb)
	}
	if err != nil {
		return backend("repair stored batch", err)
	}
	return nil
}

func (in *Ingester) ingestLegacy(ctx context.Context, a Agent, req IngestRequest, sha string) (IngestResult, error) {
	b, err := batch.Parse(req.Body, false) // 7
	if err != nil {
		return IngestResult{}, &Error{Code: CodeInvalidRequest, Message: batch.Reason(err), Cause: err}
	}
	now := in.env.now()
	// Marked first: an unsigned attempt that then fails to store is still worth the integrity cycle's attention.
	if err := in.d.Unsigned.MarkUnsigned(ctx, a.AgentID, now); err != nil {
		return IngestResult{}, backend("mark unsigned", err)
	}
	if err := in.d.Batches.PutBatch(ctx, stored(a, b, req, sha, now)); err != nil {
		return IngestResult{}, backend("store batch", err)
	}
	return IngestResult{Accepted: len(b.Records)}, nil
}

func stored(a Agent, b batch.Batch, req IngestRequest, sha string, now time.Time) StoredBatch {
	sb := StoredBatch{TenantID: a.TenantID, AgentID: a.AgentID, SHA: sha, Body: req.Body,
		Records: len(b.Records), ReceivedAt: now}
	if b.Header != nil && len(a.SigningPubKey) > 0 {
		sb.Key, sb.Seq, sb.Signed, sb.Signature = SignedBatchKey(b.Header.Seq), b.Header.Seq, true, req.Signature
	} else {
		sb.Key = "u#" + sha
	}
	days := map[string]bool{}
	for i, r := range b.Records {
		t := r.TS.UTC()
		if i == 0 || t.Before(sb.MinTS) {
			sb.MinTS = t
		}
		if i == 0 || t.After(sb.MaxTS) {
			sb.MaxTS = t
		}
		days[t.Format(time.DateOnly)] = true
	}
	for d := range days {
		sb.Days = append(sb.Days, d)
	}
	sort.Strings(sb.Days)
	return sb
}

// SignedBatchKey is the batches-table sort key of the signed batch with seq.
func SignedBatchKey(seq int64) string { return fmt.Sprintf("s#%019d", seq) }

// IsJSON reports whether a Content-Type names application/json (parameters allowed).
func IsJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
