package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/pack/packtest"
)

// TestAdminClientPacks holds internal/client's evidence-pack calls to the
// real hub (hubtest serves no packs): the local hub's own hub.json read
// with OpenAdmin, the pack-signing key rotated, a pack requested, awaited,
// downloaded through its link and verified, and a copy with one bit
// flipped (packtest.FlipByte) refused, naming the file. It is what
// monsys-demo does, and what the operators' command line builds on.
func TestAdminClientPacks(t *testing.T) {
	e := newEnv(t)
	ad, err := client.OpenAdmin(filepath.Join(filepath.Dir(e.info.CACert), "hub.json"), client.Options{Timeout: time.Minute, Attempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer ad.CloseIdle()
	ag := e.enrolledAgent()
	expect(t, ag.ingest(ag.body(metric("cpu", 0.25), metric("mem", 1e9))), http.StatusAccepted, "")

	key, err := ad.RotatePackKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := e.fingerprint(t, e.info.TenantID); key.Fingerprint != fp || key.TenantID != e.info.TenantID {
		t.Fatalf("rotated key %+v, the hub's current fingerprint %s", key, fp)
	}
	var lineage []map[string]any
	if err := json.Unmarshal(key.Lineage, &lineage); err != nil || len(lineage) != 2 {
		t.Fatalf("key_lineage after one rotation: %s, %v", key.Lineage, err)
	}

	now := time.Now().UTC()
	p, err := ad.RequestPack(t.Context(), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil || p.Status != client.PackPending {
		t.Fatalf("request pack: %+v, %v", p, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for p.Status == client.PackPending {
		if time.Now().After(deadline) {
			t.Fatalf("pack %s still pending", p.PackID)
		}
		time.Sleep(100 * time.Millisecond)
		if p, err = ad.GetPack(t.Context(), p.PackID, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != client.PackReady || p.Records < 2 || p.SigningKeyID != key.SigningKeyID || p.ExpiresAt == nil ||
		!strings.HasSuffix(p.FileName, ".tar.gz") || len(p.ManifestSHA256) != 64 {
		t.Fatalf("pack %+v", p)
	}

	if !strings.Contains(p.DownloadURL, "X-Amz-Expires=600&") {
		t.Fatalf("a 10-minute link asked for, got %s", p.DownloadURL)
	}
	var tgz bytes.Buffer
	if _, err := client.Download(t.Context(), p.DownloadURL, &tgz); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(manifestBytes(t, tgz.Bytes())); hex.EncodeToString(sum[:]) != p.ManifestSHA256 {
		t.Fatalf("manifest_sha256 %s is not the downloaded manifest's", p.ManifestSHA256)
	}
	checkBoth(t, writeTemp(t, p.FileName, tgz.Bytes()), key.Fingerprint, true)
	bad, victim, err := packtest.FlipByte(tgz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if out := checkBoth(t, writeTemp(t, "tampered.tar.gz", bad), key.Fingerprint, false); !strings.Contains(out, "File tampered: "+victim) {
		t.Fatalf("verify.py does not name %s:\n%s", victim, out)
	}

	for _, tc := range []struct {
		name   string
		id     string
		ttl    time.Duration
		status int
		code   string
	}{
		{"fail/unknown pack", "pk_nosuchpack", 0, http.StatusNotFound, client.CodeNotFound},
		{"fail/link over 7 days", p.PackID, 7*24*time.Hour + time.Second, http.StatusBadRequest, client.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ad.GetPack(t.Context(), tc.id, tc.ttl)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != tc.status || ce.Code != tc.code {
				t.Fatalf("err = %v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
}
