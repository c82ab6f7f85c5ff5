package pack_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// A Prover is called once the manifest is signed, sees the pack's manifest
// digest and the key history of agents.ndjson, and its proofs are the
// archive's last members; without it, or when it fails, nothing of
// transparency/ is written.
func TestTransparencyMembers(t *testing.T) {
	build := func(t *testing.T, prove pack.Prover) ([]byte, *pack.Result, error) {
		t.Helper()
		meta, signer, data := packtest.March()
		var buf bytes.Buffer
		res, err := pack.Build(context.Background(), meta, signer, pack.Options{TempDir: t.TempDir(), Prove: prove}, &packtest.Source{Data: data}, &buf)
		return buf.Bytes(), res, err
	}
	plain, _, err := build(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok/proofs-last-after-signing", func(t *testing.T) {
		var seen *pack.Result
		prove := func(_ context.Context, r *pack.Result) (pack.Transparency, error) {
			seen = r
			return pack.Transparency{PackProof: []byte("pack proof of " + r.ManifestSHA256 + "\n"), PinsProofs: []byte("pins\n")}, nil
		}
		b, res, err := build(t, prove)
		if err != nil {
			t.Fatal(err)
		}
		if seen == nil || seen.ManifestSHA256 != res.ManifestSHA256 || len(seen.Signature) != 64 {
			t.Fatalf("the prover saw %+v before signing", seen)
		}
		es := readPack(t, b)
		n := len(es)
		if n < 2 || es[n-2].hdr.Name != pack.PackProofName || es[n-1].hdr.Name != pack.PinsProofsName {
			t.Fatalf("the archive does not end with transparency/: %v", names(es))
		}
		if string(es[n-2].body) != "pack proof of "+res.ManifestSHA256+"\n" || string(es[n-1].body) != "pins\n" {
			t.Fatalf("transparency/ holds %q, %q", es[n-2].body, es[n-1].body)
		}
		// Everything before transparency/ is the pack without it.
		if p := readPack(t, plain); !reflect.DeepEqual(names(p), names(es[:n-2])) {
			t.Fatalf("members %v, without a prover %v", names(es[:n-2]), names(p))
		}
		// The key history the prover got is what the verifiers read.
		var agents []byte
		for _, e := range es {
			if e.hdr.Name == pack.DataDir+pack.AgentsPath {
				agents = e.body
			}
		}
		want, err := verify.KeyHistoryEntries(res.Manifest.TenantID, agents)
		if err != nil || len(want) == 0 || len(want) != len(res.KeyHistory) {
			t.Fatalf("key history %+v, agents.ndjson gives %+v (%v)", res.KeyHistory, want, err)
		}
		for i, e := range res.KeyHistory {
			typ := "pin"
			if e.Unpin {
				typ = "unpin"
			}
			if w := want[i]; w.Type != typ || w.AgentID != e.AgentID || w.Fingerprint != e.Fingerprint || w.At != e.At {
				t.Fatalf("key history #%d is %+v, agents.ndjson gives %+v", i, e, w)
			}
		}
		again, _, err := build(t, prove)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("same data and proofs give other bytes (%v)", err)
		}
	})
	t.Run("fail/prover-fails", func(t *testing.T) {
		cause := errors.New("witnesses down")
		b, _, err := build(t, func(context.Context, *pack.Result) (pack.Transparency, error) { return pack.Transparency{}, cause })
		if !errors.Is(err, cause) || len(b) != 0 {
			t.Fatalf("build: %v with %d bytes written; want the prover's error and nothing written", err, len(b))
		}
	})
	t.Run("fail/no-pack-proof", func(t *testing.T) {
		_, _, err := build(t, func(context.Context, *pack.Result) (pack.Transparency, error) {
			return pack.Transparency{PinsProofs: []byte("pins\n")}, nil
		})
		if err == nil || !strings.Contains(err.Error(), "no proof") {
			t.Fatalf("build: %v", err)
		}
	})
	t.Run("fail/pins-proofs-missing", func(t *testing.T) {
		_, _, err := build(t, func(context.Context, *pack.Result) (pack.Transparency, error) {
			return pack.Transparency{PackProof: []byte("p\n")}, nil
		})
		if err == nil || !strings.Contains(err.Error(), "key-history") {
			t.Fatalf("build: %v", err)
		}
	})
}

func names(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.hdr.Name
	}
	return out
}
