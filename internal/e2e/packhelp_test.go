package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

func emuDynamo(t *testing.T) string { return emutest.DynamoEndpointForTest(t) }
func prefix(t *testing.T) string    { return emutest.UniquePrefix(t) }

func readMembers(t *testing.T, tgz []byte) []packtest.Member {
	t.Helper()
	ms, err := packtest.Unpack(tgz)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// members maps each archive member to its content.
func members(t *testing.T, tgz []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, x := range readMembers(t, tgz) {
		m[x.Hdr.Name] = string(x.Body)
	}
	return m
}

func repack(t *testing.T, ms []packtest.Member) []byte {
	t.Helper()
	b, err := packtest.Repack(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forgePack re-signs tgz's manifest with keyID (through the hub's vault) as
// if generated at claimed, with the tenant's lineage as of then.
func forgePack(t *testing.T, e *env, rec hub.KeyRecord, keyID string, claimed time.Time, tgz []byte) []byte {
	t.Helper()
	ms := readMembers(t, tgz)
	lj, err := rec.Lineage.AsOf(claimed).MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	for _, m := range ms {
		if m.Hdr.Name == pack.ManifestName {
			if err := json.Unmarshal(m.Body, &man); err != nil {
				t.Fatal(err)
			}
		}
	}
	man["generated_at"] = pack.TimeString(claimed)
	man["key_lineage_sha256"] = pack.SHA256Hex(lj)
	man["signing_key_id"] = keyID
	mj, err := canon.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	_, _, signer, err := e.hub.Core.Keys.Signing(t.Context(), rec.TenantID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(mj)
	sig, err := signer.SignDigest(t.Context(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		switch ms[i].Hdr.Name {
		case pack.ManifestName:
			ms[i].Body = mj
		case pack.SignatureName:
			ms[i].Body = []byte(hex.EncodeToString(sig))
		case pack.LineageName:
			ms[i].Body = lj
		}
	}
	return repack(t, ms)
}
