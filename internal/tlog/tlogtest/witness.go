package tlogtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/monsys/hub/internal/tlog"
)

// Witnesses is a tlog.Cosigner for tests whose proofs the verifiers check:
// in-memory witnesses that cosign every checkpoint with torchwood's
// cosignature/v1 signer (at the time of day, as litewitness does) and
// count it once all of them have. Fail makes them refuse.
type Witnesses struct {
	signers []*torchwood.CosignatureSigner
	mu      sync.Mutex
	fail    error
	calls   int
}

var _ tlog.Cosigner = (*Witnesses)(nil)

// NewWitnesses returns one witness per seed, named witness<seed>.example.
func NewWitnesses(seeds ...byte) *Witnesses {
	w := &Witnesses{}
	for _, s := range seeds {
		sg, err := torchwood.NewCosignatureSigner(fmt.Sprintf("witness%d.example", s), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{s}, ed25519.SeedSize)))
		if err != nil {
			panic(err)
		}
		w.signers = append(w.signers, sg)
	}
	return w
}

// VKeys are the witnesses' verifier keys (--witness-key).
func (w *Witnesses) VKeys() []string {
	out := make([]string, len(w.signers))
	for i, s := range w.signers {
		out[i] = s.Verifier().String()
	}
	return out
}

// Fail makes every later Cosign fail with err (nil: cosign again).
func (w *Witnesses) Fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = err
}

// Calls says how often Cosign was called.
func (w *Witnesses) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// Cosign implements tlog.Cosigner: every witness adds its cosignature.
func (w *Witnesses) Cosign(_ context.Context, signed []byte, _ tlog.ProveFunc) ([]byte, error) {
	w.mu.Lock()
	w.calls++
	fail := w.fail
	w.mu.Unlock()
	if fail != nil {
		return signed, fmt.Errorf("tlogtest witnesses: %w: %w", tlog.ErrNotCosigned, fail)
	}
	if w.Quorum(signed) == nil {
		return signed, nil
	}
	var unv *note.UnverifiedNoteError
	if _, err := note.Open(signed, note.VerifierList()); !errors.As(err, &unv) {
		return nil, fmt.Errorf("tlogtest witnesses: open checkpoint: %w", err)
	}
	n := unv.Note
	n.Sigs, n.UnverifiedSigs = n.UnverifiedSigs, nil
	signers := make([]note.Signer, len(w.signers))
	for i, s := range w.signers {
		signers[i] = s
	}
	return note.Sign(n, signers...)
}

// Quorum implements tlog.Cosigner: every witness's cosignature verifies.
func (w *Witnesses) Quorum(signed []byte) error {
	for _, s := range w.signers {
		n, err := note.Open(signed, note.VerifierList(s.Verifier()))
		if err != nil || len(n.Sigs) != 1 {
			return fmt.Errorf("tlogtest witnesses: no cosignature of %s: %w", s.Name(), tlog.ErrNotCosigned)
		}
	}
	return nil
}
