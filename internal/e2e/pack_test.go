package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/verify"
)

// period returns a pack request around now.
func period(t *testing.T) []byte {
	now := time.Now().UTC()
	return mustJSON(t, map[string]string{"period_start": now.Add(-time.Hour).Format(time.RFC3339),
		"period_end": now.Add(time.Hour).Format(time.RFC3339)})
}

// requestPack posts a pack request and returns its id.
func (a *admin) requestPack(body []byte) string {
	a.e.t.Helper()
	r := a.do("POST", "/evidence-packs", body)
	if r.Status != http.StatusAccepted || r.Body["status"] != "pending" {
		a.e.t.Fatalf("request pack: %s", r)
	}
	return r.Body["pack_id"].(string)
}

// awaitPack polls until the pack is no longer pending.
func (a *admin) awaitPack(id string) resp {
	a.e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := a.do("GET", "/evidence-packs/"+id, nil)
		if r.Status != http.StatusOK {
			a.e.t.Fatalf("get pack: %s", r)
		}
		if r.Body["status"] != "pending" {
			return r
		}
		if time.Now().After(deadline) {
			a.e.t.Fatalf("pack %s still pending", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyPack requests a pack and downloads it once ready, over plain HTTP.
func (a *admin) readyPack() (string, resp, []byte) {
	a.e.t.Helper()
	id := a.requestPack(period(a.e.t))
	r := a.awaitPack(id)
	if r.Body["status"] != "ready" {
		a.e.t.Fatalf("pack %s: %s", id, r)
	}
	return id, r, download(a.e.t, r.Body["download_url"].(string))
}

func download(t *testing.T, link string) []byte {
	t.Helper()
	if !strings.HasPrefix(link, "http://") {
		t.Fatalf("download_url %q is not plain HTTP", link)
	}
	var b bytes.Buffer
	if _, err := client.Download(t.Context(), link, &b); err != nil {
		t.Fatalf("GET presigned link: %v", err)
	}
	return b.Bytes()
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func manifestOf(t *testing.T, tgz []byte) verify.Manifest {
	t.Helper()
	r, err := verify.VerifyReader(bytes.NewReader(tgz), verify.Options{})
	if err != nil || r.Manifest == nil {
		t.Fatalf("read manifest: %v", err)
	}
	return *r.Manifest
}

// checkBoth runs verify.py (both Ed25519 back ends) and the Go verifier and
// wants them to agree on the outcome and on every line.
func checkBoth(t *testing.T, path, fp string, wantOK bool) string {
	t.Helper()
	script := packtest.VerifyPy(t)
	args := []string{path}
	if fp != "" {
		args = append(args, "--expect-fingerprint", fp)
	}
	rep, err := verify.VerifyPath(path, verify.Options{ExpectFingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != wantOK {
		t.Fatalf("Go verifier OK = %v, want %v:\n%s", rep.OK, wantOK, rep.Text())
	}
	var out string
	for _, be := range []string{packtest.Cryptography, packtest.PurePython} {
		t.Run(be, func(t *testing.T) {
			code, stdout, stderr := packtest.RunPy(t, be, script, args...)
			want := 0
			if !wantOK {
				want = 1
			}
			if code != want {
				t.Fatalf("verify.py (%s) exit %d, want %d\n%s%s", be, code, want, stdout, stderr)
			}
			if stdout != rep.Text() {
				t.Fatalf("verify.py (%s) and the Go verifier disagree:\n--- verify.py\n%s--- Go\n%s", be, stdout, rep.Text())
			}
			out = stdout
		})
	}
	return out
}

func (e *env) fingerprint(t *testing.T, tenant string) (string, pack.Lineage) {
	t.Helper()
	rec, err := e.hub.Core.Keys.Ensure(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Lineage[len(rec.Lineage)-1].Fingerprint, rec.Lineage
}

func TestPackEndToEnd(t *testing.T) {
	clk := clocktest.Skewed() // windows are whole seconds on the hub's clock: moved on, not waited for
	e := startEnv(t, local.Config{DynamoEndpoint: emuDynamo(t), TablePrefix: prefix(t), Clock: clk})
	ad := e.admin()
	ag := e.enrolledAgent()
	// A seq beyond 2^53 must survive as a string in the pack.
	ag.seq.Store(1743501600000000001)
	for range 3 {
		expect(t, ag.ingest(ag.body(metric("cpu", 0.25), metric("mem", 1e9), rec{"type": "process_dna", "ts": time.Now().UTC().Format(time.RFC3339), "exe": "/usr/bin/x"})), http.StatusAccepted, "")
	}
	fp, _ := e.fingerprint(t, e.info.TenantID)

	id1, r1, tgz1 := ad.readyPack()
	for _, k := range []string{"download_url", "expires_at", "manifest_sha256"} {
		if r1.Body[k] == nil {
			t.Fatalf("ready pack has no %s: %s", k, r1)
		}
	}
	exp, _ := time.Parse(time.RFC3339, r1.Body["expires_at"].(string))
	if d := time.Until(exp); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("expires_at %s is not 15 minutes away", exp)
	}
	if got := pack.SHA256Hex(manifestBytes(t, tgz1)); got != r1.Body["manifest_sha256"] {
		t.Errorf("manifest_sha256 %v, archive's manifest %s", r1.Body["manifest_sha256"], got)
	}
	path1 := writeTemp(t, r1.Body["file_name"].(string), tgz1)
	out := checkBoth(t, path1, fp, true)
	today := time.Now().UTC()
	want := []string{
		"✓ Signature valid (Ed25519)",
		"✓ Signing key matches expected fingerprint: " + fp,
		"✓ All ",
		"✓ inputs_hash consistent",
		"✓ Signing key active at generated_at (key lineage)",
		"✓ Period: " + today.Add(-time.Hour).Format("2006-01-02") + " → " + today.Add(time.Hour).Format("2006-01-02"),
		"✓ Tenant: " + e.info.TenantID,
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("verify.py printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	m := manifestOf(t, tgz1)
	if m.PreviousPack != nil {
		t.Errorf("first pack has previous_pack %+v", m.PreviousPack)
	}
	data := members(t, tgz1)
	for _, p := range []string{"data/agents.ndjson", "data/alerts/anomalies.ndjson", "data/audit_log/audit_log.ndjson",
		"data/agents/" + ag.id + "/metric.ndjson", "data/agents/" + ag.id + "/process_dna.ndjson", "data/agents/" + ag.id + "/batch.ndjson"} {
		if _, ok := data[p]; !ok {
			t.Errorf("pack has no %s; members %v", p, keys(data))
		}
	}
	if n := strings.Count(data["data/agents/"+ag.id+"/metric.ndjson"], "\n"); n != 6 {
		t.Errorf("metric.ndjson has %d lines, want 6", n)
	}
	if !strings.Contains(data["data/agents/"+ag.id+"/batch.ndjson"], `"seq":"1743501600000000002"`) {
		t.Errorf("batch.ndjson does not keep seq exactly as a string:\n%s", data["data/agents/"+ag.id+"/batch.ndjson"])
	}

	t.Run("ok/determinism", func(t *testing.T) {
		var buf bytes.Buffer
		var proofs *pack.Transparency // the stored pack's, when it has them
		if pp, ok := data[pack.PackProofName]; ok {
			proofs = &pack.Transparency{PackProof: []byte(pp)}
			if pins, ok := data[pack.PinsProofsName]; ok {
				proofs.PinsProofs = []byte(pins)
			}
		}
		if _, err := e.hub.Core.Packs.Reproduce(t.Context(), e.info.TenantID, id1, proofs, &buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), tgz1) {
			a, b := members(t, buf.Bytes()), members(t, tgz1)
			for k := range b {
				if a[k] != b[k] {
					t.Errorf("member %s differs:\n%s\n---\n%s", k, a[k], b[k])
				}
			}
			t.Fatalf("rebuilt pack differs from the stored one (%d vs %d bytes)", buf.Len(), len(tgz1))
		}
	})

	t.Run("ok/link-audited", func(t *testing.T) {
		events, err := e.hub.Stores.Audit.Audit(t.Context(), e.info.TenantID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range events {
			if ev.Action == "pack_link_issued" && ev.Detail["pack_id"] == id1 {
				n++
			}
		}
		if n < 1 {
			t.Fatalf("no pack_link_issued event for %s", id1)
		}
	})

	// Chain, then rotation: the second pack names the first, the third is
	// signed by the new key, and the first still verifies afterwards.
	_, r2, tgz2 := ad.readyPack()
	m2 := manifestOf(t, tgz2)
	if m2.PreviousPack == nil || m2.PreviousPack.PackID != id1 || m2.PreviousPack.ManifestSHA256 != r1.Body["manifest_sha256"] {
		t.Fatalf("second pack's previous_pack = %+v, want %s/%v", m2.PreviousPack, id1, r1.Body["manifest_sha256"])
	}
	if r2.Body["previous_pack"] == nil {
		t.Errorf("GET of the second pack has no previous_pack: %s", r2)
	}
	clk.Advance(time.Second)
	rot := ad.do("POST", "/signing-keys/rotate", nil)
	if rot.Status != http.StatusOK {
		t.Fatalf("rotate: %s", rot)
	}
	newFP, lineage := e.fingerprint(t, e.info.TenantID)
	if newFP == fp || len(lineage) != 2 || lineage[0].ActiveUntil == nil || lineage[1].Endorsement == nil ||
		lineage[1].Endorsement.ByKeyID != lineage[0].KeyID {
		t.Fatalf("lineage after rotation: %+v", lineage)
	}
	clk.Advance(time.Second)
	_, _, tgz3 := ad.readyPack()
	checkBoth(t, writeTemp(t, "third.tar.gz", tgz3), newFP, true)
	// The first pack, fetched again after the rotation, still verifies.
	again := download(t, ad.awaitPack(id1).Body["download_url"].(string))
	if !bytes.Equal(again, tgz1) {
		t.Fatal("the stored first pack changed")
	}
	checkBoth(t, writeTemp(t, "first-again.tar.gz", again), fp, true)
	// With the old key expected, the new pack fails the fingerprint check.
	checkBoth(t, writeTemp(t, "third-old-fp.tar.gz", tgz3), fp, false)

	t.Run("fail/claimed-time-outside-window", func(t *testing.T) {
		// The old key signs a manifest that claims a time after its retirement,
		// with the lineage that shows the retirement.
		rec, err := e.hub.Stores.Keys.GetKeys(t.Context(), e.info.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		old := rec.Lineage[0]
		late, _ := time.Parse(time.RFC3339, *old.ActiveUntil)
		forged := forgePack(t, e, rec, old.KeyID, late.Add(time.Hour), tgz1)
		out := checkBoth(t, writeTemp(t, "forged.tar.gz", forged), "", false)
		if !strings.Contains(out, "✗") || !strings.Contains(strings.ToLower(out), "active") {
			t.Fatalf("forged pack not refused for its key window:\n%s", out)
		}
	})
}

func manifestBytes(t *testing.T, tgz []byte) []byte {
	t.Helper()
	return []byte(members(t, tgz)["manifest.json"])
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPackRequests(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	for _, tc := range []struct {
		name, body string
	}{
		{"fail/not-rfc3339", `{"period_start":"2026-04-01","period_end":"2026-04-30T23:59:59Z"}`},
		{"fail/end-before-start", `{"period_start":"2026-04-30T00:00:00Z","period_end":"2026-04-01T00:00:00Z"}`},
		{"fail/equal", `{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-01T00:00:00Z"}`},
		{"fail/too-long", `{"period_start":"2024-01-01T00:00:00Z","period_end":"2026-04-01T00:00:00Z"}`},
		{"fail/missing", `{"period_start":"2026-04-01T00:00:00Z"}`},
		{"fail/not-object", `[1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, ad.do("POST", "/evidence-packs", []byte(tc.body)), http.StatusBadRequest, "invalid_request")
		})
	}
	t.Run("fail/unknown-id", func(t *testing.T) {
		expect(t, ad.do("GET", "/evidence-packs/pk_nosuchpack", nil), http.StatusNotFound, "not_found")
	})
	t.Run("fail/expires-in-over-7-days", func(t *testing.T) {
		id := ad.requestPack(period(t))
		ad.awaitPack(id)
		expect(t, ad.do("GET", "/evidence-packs/"+id+"?expires_in=604801", nil), http.StatusBadRequest, "invalid_request")
		r := ad.do("GET", "/evidence-packs/"+id+"?expires_in=604800", nil)
		expect(t, r, http.StatusOK, "")
		exp, _ := time.Parse(time.RFC3339, r.Body["expires_at"].(string))
		if d := time.Until(exp); d < 7*24*time.Hour-time.Minute {
			t.Errorf("expires_at %s is not 7 days away", exp)
		}
	})
	t.Run("fail/other-tenant", func(t *testing.T) {
		id := ad.requestPack(period(t))
		ad.awaitPack(id)
		other, err := e.hub.AddTenant(t.Context(), "other-bv")
		if err != nil {
			t.Fatal(err)
		}
		expect(t, e.adminOf(other).do("GET", "/evidence-packs/"+id, nil), http.StatusNotFound, "not_found")
	})
	t.Run("fail/agent-token", func(t *testing.T) {
		ag := e.enrolledAgent()
		r := call(t, ag.c, "POST", e.info.URL+"/api/v1/evidence-packs", ag.token, period(t), nil)
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
			t.Fatalf("agent token on POST /evidence-packs: %s", r)
		}
	})
}

// TestPackStorage checks the S3 side against MinIO: Object Lock keeps a pack
// from deletion and overwrite, and presigned links are checked.
func TestPackStorage(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	id, r, _ := ad.readyPack()
	pk, err := e.hub.Stores.Packs.GetPack(t.Context(), e.info.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	c, bucket := e.hub.S3, e.bucket
	head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(pk.ObjectKey)})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeCompliance || head.ObjectLockRetainUntilDate == nil {
		t.Fatalf("stored pack lock = %q until %v, want COMPLIANCE", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	t.Run("fail/delete-version", func(t *testing.T) {
		_, err := c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(pk.ObjectKey), VersionId: head.VersionId})
		if err == nil {
			t.Fatal("deleting a locked pack version succeeded")
		}
	})
	t.Run("fail/overwrite", func(t *testing.T) {
		// On a versioned bucket a PUT or a plain DELETE only adds a version or a
		// delete marker: the locked version stays, and links name it.
		if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(pk.ObjectKey),
			Body: strings.NewReader("forged")}); err != nil {
			t.Logf("overwrite refused: %v", err)
		}
		if _, err := c.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(pk.ObjectKey)}); err != nil {
			t.Logf("delete refused: %v", err)
		}
		if pk.ObjectVersion == "" || pk.ObjectVersion != aws.ToString(head.VersionId) {
			t.Fatalf("pack records version %q, stored version %q", pk.ObjectVersion, aws.ToString(head.VersionId))
		}
		got := download(t, ad.awaitPack(id).Body["download_url"].(string))
		if int64(len(got)) != pk.Size || !strings.HasPrefix(http.DetectContentType(got), "application/x-gzip") {
			t.Fatalf("link after overwrite serves %d bytes (%s), want the %d-byte pack", len(got), http.DetectContentType(got), pk.Size)
		}
	})
	t.Run("fail/tampered-signature", func(t *testing.T) {
		u, err := url.Parse(r.Body["download_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		s := []byte(q.Get("X-Amz-Signature"))
		s[0] ^= 1
		if s[0] == 'g' || s[0] > 'f' {
			s[0] = '0'
		}
		q.Set("X-Amz-Signature", string(s))
		u.RawQuery = q.Encode()
		res, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("tampered link: status %d, want 403", res.StatusCode)
		}
	})
	t.Run("fail/expired", func(t *testing.T) {
		r := ad.do("GET", "/evidence-packs/"+id+"?expires_in=1", nil)
		expect(t, r, http.StatusOK, "")
		time.Sleep(2500 * time.Millisecond)
		res, err := http.Get(r.Body["download_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("expired link: status %d, want 403", res.StatusCode)
		}
	})
}

// faultS3 fails UploadPart while armed.
type faultS3 struct {
	s3store.API
	armed *bool
}

func (f faultS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if *f.armed {
		return nil, errors.New("injected S3 fault")
	}
	return f.API.UploadPart(ctx, in, o...)
}

// faultVault hands out signers that fail while armed.
type faultVault struct {
	hub.KeyVault
	armed *bool
}

func (f faultVault) Signer(ctx context.Context, tenant, keyID, ref string) (pack.Signer, error) {
	s, err := f.KeyVault.Signer(ctx, tenant, keyID, ref)
	if err != nil {
		return nil, err
	}
	return faultSigner{s, f.armed}, nil
}

type faultSigner struct {
	pack.Signer
	armed *bool
}

func (f faultSigner) SignDigest(ctx context.Context, d []byte) ([]byte, error) {
	if *f.armed {
		return nil, errors.New("injected KMS fault")
	}
	return f.Signer.SignDigest(ctx, d)
}

func TestPackFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(armed *bool) local.Config
		reason string // the failed pack's reason names the cause, and no more
	}{
		{"fail/s3-mid-build", func(armed *bool) local.Config {
			return local.Config{WrapS3: func(a s3store.API) s3store.API { return faultS3{a, armed} }}
		}, "s3: storing the pack failed; request the pack again"},
		{"fail/kms-mid-build", func(armed *bool) local.Config {
			return local.Config{WrapVault: func(v hub.KeyVault) hub.KeyVault { return faultVault{v, armed} }}
		}, "kms: the tenant's signing key could not sign the pack; request the pack again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			armed := new(bool)
			cfg := tc.cfg(armed)
			cfg.DynamoEndpoint, cfg.TablePrefix = emuDynamo(t), prefix(t)
			e := startEnv(t, cfg)
			ad := e.admin()
			ag := e.enrolledAgent()
			expect(t, ag.ingest(ag.body(metric("cpu", 1))), http.StatusAccepted, "")
			*armed = true
			id := ad.requestPack(period(t))
			r := ad.awaitPack(id)
			if r.Body["status"] != "failed" || r.Body["reason"] != tc.reason || r.Body["download_url"] != nil {
				t.Fatalf("pack under fault: %s", r)
			}
			objs, err := e.hub.S3.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(objs.Versions) != 0 {
				t.Fatalf("a failed build left %d object versions", len(objs.Versions))
			}
			ups, err := e.hub.S3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Fatalf("a failed build left %d multipart uploads", len(ups.Uploads))
			}
			*armed = false
			_, _, tgz := ad.readyPack()
			fp, _ := e.fingerprint(t, e.info.TenantID)
			checkBoth(t, writeTemp(t, "retry.tar.gz", tgz), fp, true)
		})
	}
}

// TestPackEnvelopeMode builds and verifies a pack signed in kms-envelope mode.
func TestPackEnvelopeMode(t *testing.T) {
	clk := clocktest.Skewed()
	e := startEnv(t, local.Config{DynamoEndpoint: emuDynamo(t), TablePrefix: prefix(t), SigningMode: "kms-envelope", Clock: clk})
	ad := e.admin()
	ag := e.enrolledAgent()
	expect(t, ag.ingest(ag.body(metric("cpu", 1))), http.StatusAccepted, "")
	fp, _ := e.fingerprint(t, e.info.TenantID)
	_, _, tgz := ad.readyPack()
	checkBoth(t, writeTemp(t, "envelope.tar.gz", tgz), fp, true)
	clk.Advance(time.Second)
	expect(t, ad.do("POST", "/signing-keys/rotate", nil), http.StatusOK, "")
	clk.Advance(time.Second)
	newFP, _ := e.fingerprint(t, e.info.TenantID)
	_, _, tgz2 := ad.readyPack()
	checkBoth(t, writeTemp(t, "envelope2.tar.gz", tgz2), newFP, true)
}
