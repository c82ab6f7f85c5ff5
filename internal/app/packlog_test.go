package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/storetest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/verify"
	"github.com/monsys/hub/internal/witness"
)

// Several pack builders and integrity runs append to the log at once, each
// with its own tlog.Log as separate Lambdas would, over dynalite, MinIO, the
// local KMS log key and a real litewitness: every pack is ready with proofs
// the verifiers accept, and the log is one consistent log holding every
// entry once (the witness cosigned each checkpoint it was sent, so no
// writer forked it).
func TestConcurrentPackBuildersOneLog(t *testing.T) {
	ctx := t.Context()
	getenv, _ := deployedEnv(t)
	r := newLogRig(t, getenv)
	ls0, k, vkey, lw, s3c, db := r.ls, r.kms, r.vkey, r.witness, r.s3, r.db
	table, bucket := r.newLogStore(t)
	ls := ls0
	ls.Table, ls.Bucket = table, bucket
	var err error
	if ls.Witnesses, ls.Quorum, err = witness.Parse(lw.VKey()+" "+lw.URL(), ""); err != nil {
		t.Fatal(err)
	}
	newLog := func() *tlog.Log {
		tl, _, err := app.NewLog(ctx, ls, app.LogParts{DynamoDB: emutest.Data(t, db), S3: s3c, KMS: k})
		if err != nil {
			t.Error(err)
		}
		return tl
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, "packlog test CA", time.Now(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := storetest.NewMemory()
	objects, vault := storetest.NewObjects(), &storetest.Vault{}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	const builders, runs, perRun = 4, 3, 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		entries []tlog.Entry
		ids     = map[string]string{} // tenant → pack
	)
	for i := range builders {
		tenant := fmt.Sprintf("t%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := newLog()
			core, err := app.Assemble(mem.Stores(), &ca.Authority{Cert: root, Signer: key}, app.CoreConfig{Log: tl, Publish: tl, Prove: tl}, hub.Env{Log: quiet})
			if err == nil {
				err = core.AddPacks(app.PackPorts{Vault: vault, Objects: objects, Starter: &storetest.Builds{}}, hub.PackConfig{TempDir: t.TempDir()})
			}
			if err != nil {
				t.Error(err)
				return
			}
			v, err := core.Packs.RequestPack(ctx, hub.Admin{TenantID: tenant}, []byte(`{"period_start":"2026-04-01T00:00:00Z","period_end":"2026-04-30T23:59:59Z"}`))
			if err != nil {
				t.Error(err)
				return
			}
			if err := core.Packs.BuildPack(ctx, tenant, v.PackID); err != nil {
				t.Errorf("build %s: %v", tenant, err)
				return
			}
			mu.Lock()
			ids[tenant] = v.PackID
			mu.Unlock()
		}()
	}
	for r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := newLog()
			var es []tlog.Entry
			for j := range perRun {
				es = append(es, tlog.Pin("acme", fmt.Sprintf("ag_%d_%d", r, j), strings.Repeat("ab:", 31)+"ab", time.Date(2026, 4, 1, 10, r, j, 0, time.UTC)))
			}
			if _, err := tl.Submit(ctx, es...); err != nil {
				t.Error(err)
				return
			}
			if err := tl.Publish(ctx); err != nil {
				t.Errorf("integrity run %d: %v", r, err)
				return
			}
			mu.Lock()
			entries = append(entries, es...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	keys, err := verify.ParseTransparencyOptions(verify.TransparencyOptions{LogKey: vkey, WitnessKeys: []string{lw.VKey()}})
	if err != nil {
		t.Fatal(err)
	}
	for tenant, id := range ids {
		p, err := mem.GetPack(ctx, tenant, id)
		if err != nil || p.Status != hub.PackReady {
			t.Fatalf("pack %s of %s: %+v, %v", id, tenant, p, err)
		}
		b, _ := objects.Object(p.ObjectKey, p.ObjectVersion)
		m := untar(t, b)
		in := verify.TransparencyInput{PackID: id, TenantID: tenant, GeneratedAt: pack.TimeString(p.GeneratedAt),
			ManifestSHA256: pack.SHA256Hex(m[pack.ManifestName]), PackProof: m[pack.PackProofName], PinsProofs: m[pack.PinsProofsName]}
		for _, c := range verify.CheckTransparency(in, keys) {
			if !c.OK {
				t.Errorf("pack of %s: %s: %v", tenant, c.Name, c.Lines)
			}
		}
		entries = append(entries, tlog.Pack(tenant, id, p.ManifestSHA256, pack.TimeString(p.GeneratedAt)))
	}
	st, err := dynamo.NewLogStore(emutest.Data(t, db), table)
	if err != nil {
		t.Fatal(err)
	}
	tiles, err := s3store.NewTiles(s3c, s3store.TilesConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	// In the order the log gave them, each at its own index: then the log
	// holds exactly these entries, as one tree.
	lids := make([]tlog.ID, len(entries))
	for i, e := range entries {
		b, err := e.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		lids[i] = tlog.EntryID(b)
	}
	got, err := st.Lookup(ctx, lids)
	if err != nil {
		t.Fatal(err)
	}
	ordered := make([]tlog.Entry, len(entries))
	for i, s := range got {
		if !s.Integrated || s.Index < 0 || s.Index >= int64(len(entries)) || ordered[s.Index].Type != "" {
			t.Fatalf("entry %d: %+v", i, s)
		}
		ordered[s.Index] = entries[i]
	}
	tlogtest.VerifyLog(t, tlog.Stores{Heads: st, Pool: st, Lookup: st, Tiles: tiles, Checkpoints: tiles}, vkey, ordered)
}

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	return packtest.Contents(t, b)
}
