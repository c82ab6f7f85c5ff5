package pack

import (
	"context"
	"fmt"
)

// Members of a pack's transparency/ folder (SPEC 8, 10): c2sp.org/tlog-proof@v1
// proofs against one cosigned checkpoint of the hub's log. They are added
// after signing, outside data/ and the manifest, at the end of the archive.
const (
	TransparencyDir = "transparency/"
	PackProofName   = TransparencyDir + "pack.tlog-proof"
	PinsProofsName  = TransparencyDir + "pins.tlog-proofs"
)

// Transparency is what goes into transparency/: the proof of the pack's own
// log entry and the proofs of its key history's pins and unpins, one per
// entry of Result.KeyHistory in its order, blank-line separated. A pack
// whose key history is empty has no pins.tlog-proofs (PinsProofs nil).
type Transparency struct {
	PackProof  []byte
	PinsProofs []byte
}

// Prover logs a pack that Finish has signed (its entry names
// r.ManifestSHA256 and the manifest's generated_at; r.KeyHistory lists the
// pins and unpins it shows) and returns the proofs that go into it. Finish
// writes nothing after the data files until it returns; an error fails the
// pack.
type Prover func(ctx context.Context, r *Result) (Transparency, error)

// KeyEvent is one pin or unpin of the key history of data/agents.ndjson
// (SPEC 9), as the log's pin and unpin entries name it (SPEC 10).
type KeyEvent struct {
	Unpin       bool // false: a pin
	AgentID     string
	Fingerprint string
	At          string // pinned_at, or unpinned_at, exactly as agents.ndjson gives it
}

// keyEvents are the pins and unpins of a's key history, oldest first: each
// key's pin, then its unpin if it has one (verify.KeyHistoryEntries' order).
func keyEvents(a Agent) []KeyEvent {
	var out []KeyEvent
	for _, k := range agentLine(a).SigningKeys {
		out = append(out, KeyEvent{AgentID: a.AgentID, Fingerprint: k.Fingerprint, At: k.PinnedAt})
		if k.UnpinnedAt != nil {
			out = append(out, KeyEvent{Unpin: true, AgentID: a.AgentID, Fingerprint: k.Fingerprint, At: *k.UnpinnedAt})
		}
	}
	return out
}

// transparencyMembers runs the prover and returns the members it gives.
func (b *Builder) transparencyMembers(ctx context.Context, r *Result) ([]member, error) {
	t, err := b.prove(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("pack: transparency proofs: %w", err)
	}
	if len(t.PackProof) == 0 {
		return nil, fmt.Errorf("pack: transparency proofs: no proof of the pack's entry")
	}
	if (len(t.PinsProofs) == 0) != (len(r.KeyHistory) == 0) {
		return nil, fmt.Errorf("pack: transparency proofs: %d key-history entries, pins proofs of %d bytes", len(r.KeyHistory), len(t.PinsProofs))
	}
	out := []member{{PackProofName, t.PackProof}}
	if len(t.PinsProofs) > 0 {
		out = append(out, member{PinsProofsName, t.PinsProofs})
	}
	return out, nil
}
