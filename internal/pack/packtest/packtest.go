// Package packtest builds evidence packs for tests: deterministic keys, an
// in-memory Signer and a small synthetic tenant.
package packtest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"time"

	"filippo.io/edwards25519"

	"github.com/monsys/hub/internal/pack"
)

// Key returns the Ed25519 key whose 32-byte seed is n repeated.
func Key(n byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = n
	}
	return ed25519.NewKeyFromSeed(seed)
}

// Signer signs digests with an in-memory key.
type Signer struct{ Priv ed25519.PrivateKey }

var _ pack.Signer = Signer{}

// SignDigest signs the 32-byte digest with pure Ed25519.
func (s Signer) SignDigest(_ context.Context, digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("packtest: digest of %d bytes", len(digest))
	}
	return ed25519.Sign(s.Priv, digest), nil
}

// IdentityRSignature signs msg with priv so that R is the identity point:
// S = k*a makes [S]B - [k]A the identity, so the cofactorless equation holds.
// Only the key's owner can make one, and plain Ed25519 (crypto/ed25519,
// OpenSSL) accepts it; SPEC 3 does not, because R is of small order.
func IdentityRSignature(priv ed25519.PrivateKey, msg []byte) []byte {
	h := sha512.Sum512(priv.Seed())
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	if err != nil {
		panic(err)
	}
	r := edwards25519.NewIdentityPoint().Bytes()
	kh := sha512.New()
	kh.Write(r)
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(msg)
	k, err := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
	if err != nil {
		panic(err)
	}
	return append(r, new(edwards25519.Scalar).Multiply(k, a).Bytes()...)
}

// Pub returns the signer's public key.
func (s Signer) Pub() ed25519.PublicKey { return s.Priv.Public().(ed25519.PublicKey) }

// Times used by the default tenant.
var (
	KeyFrom     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	PeriodStart = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	PeriodEnd   = time.Date(2026, 4, 30, 23, 59, 59, 0, time.UTC)
	GeneratedAt = time.Date(2026, 5, 1, 8, 3, 14, 0, time.UTC)
)

// Meta returns the metadata of acme-bv's April 2026 pack signed by key k
// ("sk_1") with a one-key lineage.
func Meta(k ed25519.PrivateKey) pack.Meta {
	pub := k.Public().(ed25519.PublicKey)
	l, err := pack.NewLineage("sk_1", pub, KeyFrom)
	if err != nil {
		panic(err)
	}
	return pack.Meta{
		PackID: "pk_0001", TenantID: "acme-bv",
		PeriodStart: PeriodStart, PeriodEnd: PeriodEnd, GeneratedAt: GeneratedAt,
		SigningKeyID: "sk_1", PublicKey: pub, Lineage: l,
	}
}

// Files is a small data set in SPEC 8's layout, records deliberately out
// of order.
func Files() map[string][]any {
	return map[string][]any{
		"agents.ndjson": {
			map[string]any{"agent_id": "web-edge-02", "version": "1.4.2", "pinned": true},
			map[string]any{"agent_id": "web-edge-01", "version": "1.4.1", "pinned": true},
		},
		"agents/web-edge-01/metric.ndjson": {
			map[string]any{"type": "metric", "ts": "2026-04-02T10:00:00Z", "cpu": 0.25},
			map[string]any{"type": "metric", "ts": "2026-04-01T10:00:00Z", "cpu": 1e-7},
			map[string]any{"type": "metric", "ts": "2026-04-03T10:00:00Z", "note": "naïve € \u2028"},
		},
		"agents/web-edge-01/inventory_snapshot.ndjson": {
			map[string]any{"type": "inventory_snapshot", "ts": "2026-04-01T00:00:00Z", "packages": []string{"openssl", "curl"}},
		},
		"alerts/anomalies.ndjson": {
			map[string]any{"anomaly_id": "an_2", "kind": "replay_detected", "severity": "high"},
			map[string]any{"anomaly_id": "an_1", "kind": "signature_invalid", "severity": "critical"},
		},
		"audit_log/audit_log.ndjson": {},
	}
}

// Build writes a pack of files with meta, signed by signer.
func Build(meta pack.Meta, signer pack.Signer, files map[string][]any, opts pack.Options) ([]byte, *pack.Result, error) {
	b, err := pack.NewBuilder(meta, signer, opts)
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	for path, recs := range files {
		fw, err := b.Create(path)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			if err := fw.Add(r); err != nil {
				return nil, nil, errors.Join(err, fw.Close())
			}
		}
		if err := fw.Close(); err != nil {
			return nil, nil, err
		}
	}
	var out bytesBuffer
	res, err := b.Finish(context.Background(), &out)
	if err != nil {
		return nil, nil, err
	}
	return out.b, res, nil
}

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
