// Package awslog_test runs the transparency log on the adapters it is
// deployed with, against the emulators: the head and pool on dynalite
// (internal/aws/dynamo), tiles and checkpoint on MinIO with Object Lock
// (internal/aws/s3store), and real litewitnesses.
package awslog_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/witness"
)

func TestMain(m *testing.M) { os.Exit(emutest.RunTests(m, emutest.NeedDynamo|emutest.NeedS3)) }

var (
	logKey  = tlogtest.NewKey(1)
	vkey, _ = tlog.VerifierKey(tlogtest.Origin, logKey.Priv.Public().(ed25519.PublicKey))
)

// stack returns fresh stores on the emulators.
func stack(t testing.TB) tlog.Stores {
	t.Helper()
	db := emutest.DynamoForTest(t)
	table := emutest.UniquePrefix(t) + dynamo.TableLog
	if err := dynamo.CreateLogTable(t.Context(), db, table); err != nil {
		t.Fatal(err)
	}
	ls, err := dynamo.NewLogStore(emutest.Data(t, db), table)
	if err != nil {
		t.Fatal(err)
	}
	c := emutest.S3ForTest(t)
	bucket := emutest.UniqueBucket(t)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	tiles, err := s3store.NewTiles(c, s3store.TilesConfig{Bucket: bucket, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tlog.Stores{Heads: ls, Pool: ls, Lookup: ls, Tiles: tiles, Checkpoints: tiles}
}

func cosigner(t testing.TB, ws ...*emu.Litewitness) *witness.Set {
	var items []string
	for _, w := range ws {
		items = append(items, w.VKey()+" "+w.URL())
	}
	list, q, err := witness.Parse(strings.Join(items, ","), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.New(list, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newLog(t testing.TB, st tlog.Stores, c tlog.Cosigner) *tlog.Log {
	l, err := tlog.New(tlog.Config{Origin: tlogtest.Origin}, st, logKey, c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestConcurrentWriters: writers (builders and integrity runs, each its own
// Lambda) append at once; the log they leave holds every entry once, and
// its checkpoint is cosigned by both witnesses.
func TestConcurrentWriters(t *testing.T) {
	st := stack(t)
	ws := []*emu.Litewitness{
		emutest.LitewitnessForTest(t, "w1.monsys.test", tlogtest.Origin, vkey),
		emutest.LitewitnessForTest(t, "w2.monsys.test", tlogtest.Origin, vkey),
	}
	const writers, rounds, each = 4, 3, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lost []error
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLog(t, st, cosigner(t, ws...))
			for r := range rounds {
				_, err := l.Append(t.Context(), tlogtest.TestEntries(fmt.Sprint("w", w), r*each, each)...)
				if err != nil {
					mu.Lock()
					lost = append(lost, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range lost {
		// Losing a race is allowed; the entries stay pending for the next run.
		if !errors.Is(err, tlog.ErrConflict) && !errors.Is(err, witness.ErrAhead) {
			t.Errorf("a writer failed: %v", err)
		}
	}
	t.Logf("%d of %d appends lost a race", len(lost), writers*rounds)
	final := newLog(t, st, cosigner(t, ws...))
	if _, err := final.Integrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	cp, err := final.Cosign(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var all []tlog.Entry
	var raw [][]byte
	for w := range writers {
		es := tlogtest.TestEntries(fmt.Sprint("w", w), 0, rounds*each)
		all = append(all, es...)
		for _, e := range es {
			b, _ := e.Bytes()
			raw = append(raw, b)
		}
	}
	if !strings.Contains(string(cp), fmt.Sprintf("\n%d\n", len(all))) {
		t.Fatalf("final checkpoint is not of size %d:\n%s", len(all), cp)
	}
	if _, _, err := final.Proofs(t.Context(), raw); err != nil {
		t.Fatalf("proofs of every entry: %v", err)
	}
}

// TestCrashAtEachWrite: an append on DynamoDB and S3 that crashes before
// any one of its writes is completed by the next run, and cosigned.
func TestCrashAtEachWrite(t *testing.T) {
	base := tlogtest.TestEntries("acme", 0, 254)
	more := tlogtest.TestEntries("acme", 254, 4) // crosses a tile boundary
	build := func(t *testing.T) (tlog.Stores, *witness.Set) {
		st := stack(t)
		w := emutest.LitewitnessForTest(t, "w1.monsys.test", tlogtest.Origin, vkey)
		c := cosigner(t, w)
		if _, err := newLog(t, st, c).Append(t.Context(), base...); err != nil {
			t.Fatal(err)
		}
		return st, c
	}
	st, c := build(t)
	count := tlogtest.NewFaulty(st, 0)
	if _, err := newLog(t, count.Stores(), c).Append(t.Context(), more...); err != nil {
		t.Fatal(err)
	}
	t.Logf("an append writes: %v", count.Log())
	for k := 1; k <= count.Writes(); k++ {
		t.Run(fmt.Sprintf("fail/crash-before-write-%d", k), func(t *testing.T) {
			st, c := build(t)
			f := tlogtest.NewFaulty(st, k)
			if _, err := newLog(t, f.Stores(), c).Append(t.Context(), more...); !errors.Is(err, tlogtest.ErrCrash) {
				t.Fatalf("Append = %v, want the crash", err)
			}
			next := newLog(t, st, c)
			if _, err := next.Integrate(t.Context()); err != nil {
				t.Fatalf("the next run: %v", err)
			}
			if _, err := next.Cosign(t.Context()); err != nil {
				t.Fatalf("the next run's cosigning: %v", err)
			}
			tlogtest.VerifyLog(t, st, vkey, append(append([]tlog.Entry(nil), base...), more...))
		})
	}
}

// BenchmarkIntegrate measures one integration on dynalite and MinIO (the
// emulators' latency, not AWS's): entries/s for a batch, and the
// DynamoDB and S3 writes it makes.
//
//	go test ./internal/tlog/awslog -run '^$' -bench Integrate -benchtime 5x
func BenchmarkIntegrate(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st := stack(b)
			l := newLog(b, st, tlogtest.Unwitnessed{})
			if _, err := l.Append(b.Context(), tlogtest.TestEntries("base", 0, 300)...); err != nil {
				b.Fatal(err)
			}
			n, writes := 0, 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := l.Submit(b.Context(), tlogtest.TestEntries("bench", n, batch)...); err != nil {
					b.Fatal(err)
				}
				f := tlogtest.NewFaulty(st, 0)
				fl := newLog(b, f.Stores(), tlogtest.Unwitnessed{})
				b.StartTimer()
				if _, err := fl.Integrate(b.Context()); err != nil {
					b.Fatal(err)
				}
				n += batch
				writes += f.Writes() - 1 + batch // Settle is one write per entry on DynamoDB
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/integration")
		})
	}
}
