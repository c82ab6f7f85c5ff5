package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/emu/emutest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

func emuDynamo(t *testing.T) string { return emutest.DynamoEndpointForTest(t) }
func prefix(t *testing.T) string    { return emutest.UniquePrefix(t) }

type member struct {
	name string
	body []byte
}

func readMembers(t *testing.T, tgz []byte) []member {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{h.Name, b})
	}
}

// members maps each archive member to its content.
func members(t *testing.T, tgz []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, x := range readMembers(t, tgz) {
		m[x.name] = string(x.body)
	}
	return m
}

func repack(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Size: int64(len(m.body)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
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
		if m.name == pack.ManifestName {
			if err := json.Unmarshal(m.body, &man); err != nil {
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
	signer, err := e.hub.Packs.Keys().SignerFor(t.Context(), rec.TenantID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(mj)
	sig, err := signer.SignDigest(t.Context(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		switch ms[i].name {
		case pack.ManifestName:
			ms[i].body = mj
		case pack.SignatureName:
			ms[i].body = []byte(hex.EncodeToString(sig))
		case pack.LineageName:
			ms[i].body = lj
		}
	}
	return repack(t, ms)
}
