package dynamo_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clocktest"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/sig"
)

// commitT0 is the hub's clock when each case starts; the batches' records
// fall on the days before it.
var commitT0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

// commitDays are the days records fall on: a one-day batch uses the first.
var commitDays = []time.Time{
	time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC),
	time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC),
	time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC),
}

// batchKind is what the faulted batch looks like.
type batchKind struct {
	name   string
	signed bool
	days   int
	// fork: the faulted batch chains to a body the hub never had (a host
	// restored from a snapshot), so check 10 raises chain_fork for it.
	fork bool
}

var batchKinds = []batchKind{
	{"signed-1-day", true, 1, false},
	{"signed-3-days", true, 3, false},
	{"signed-forked", true, 1, true},
	{"legacy-1-day", false, 1, false},
	{"legacy-3-days", false, 3, false},
}

// TestCommitFaults is SPEC 4.2's last paragraph under a fault at every write
// of the ingest commit, found by counting the writes of a clean run, not by
// naming them. For each kind of batch, after the agent's first batch:
//
//   - crash: the process dies after write k of the second batch (k = 0 …
//     all of them: the last case loses only the answer); a new process
//     (a new core over the same tables) gets the agent's retries of the
//     same body until it answers;
//   - crash in the retry: the same, and the first retrying process dies
//     after each of its own writes in turn, a third one finishes;
//   - moved on: after the crash the agent sends its next batch instead;
//   - fault before / after: write k fails (not applied, or applied with its
//     answer lost) and the process goes on, undo included; the agent retries.
//
// Every answer is a 2xx, or a 429/503 or a lost race's 409 conflict with
// Retry-After (which the agent honours on the hub's clock). Each time a batch is acknowledged the pack
// read path (PeriodBatches) must hold every acknowledged batch exactly
// once and nothing else, except that a batch sent and never acknowledged
// may be there once; the agent then sends one more batch, which is accepted.
//
// A signed agent chains its bodies as monsys-agent does (SPEC 4.2's prev:
// the last body acknowledged), and check 10 must have counted each batch
// exactly once by the time it is acknowledged, whichever request stored
// it: no chain_fork for an honest agent's retries, exactly one for the
// forked kind's batch (the moved-on case, where the agent gives up on a
// batch the hub may have kept, is left out for it).
func TestCommitFaults(t *testing.T) {
	db := emutest.DynamoForTest(t)
	_, tables := newStore(t, db)
	fx := &commitFx{db: emutest.Data(t, db), tables: tables, auth: commitAuthority(t)}
	var crashes, retryCrashes, faults atomic.Int64 // fault points covered
	for _, kind := range batchKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			n := fx.cleanWrites(t, kind)
			t.Logf("%s: a clean second batch makes %d writes", kind.name, n)
			for k := int64(0); k <= n; k++ {
				t.Run(fmt.Sprintf("ok/crash-after-%d-writes", k), func(t *testing.T) {
					for k2 := int64(0); ; k2++ {
						c := fx.newCase(t, kind)
						b2 := c.sendCrashing(k)
						if k2 == 0 {
							crashes.Add(1)
						}
						api := c.faulty(crashAfter(k2))
						if _, ok := c.deliver(c.service(api), api, b2); !api.crashed.Load() {
							// The retry needed no more than k2 writes: the plain retry.
							if !ok {
								t.Fatalf("retry without a crash got no answer\n%s", api.Trace())
							}
							c.acked(b2)
							c.sendNext(nil)
							break
						}
						retryCrashes.Add(1)
						c.mustDeliver(b2)
						c.sendNext(nil)
					}
				})
				if kind.fork {
					continue
				}
				t.Run(fmt.Sprintf("ok/crash-after-%d-writes-then-moved-on", k), func(t *testing.T) {
					c := fx.newCase(t, kind)
					b2 := c.sendCrashing(k)
					c.sendNext(b2)
				})
			}
			for _, v := range []verdict{failBefore, failAfter} {
				name := map[verdict]string{failBefore: "fault-before", failAfter: "fault-after"}[v]
				for k := int64(1); ; k++ {
					var reached bool
					t.Run(fmt.Sprintf("ok/%s-write-%d", name, k), func(t *testing.T) {
						c := fx.newCase(t, kind)
						b2 := c.body()
						api := c.faulty(failWrite(k, v))
						svc := c.service(api)
						_, ok := c.deliver(svc, api, b2)
						if reached = api.writes.Load() >= k; !reached {
							return
						}
						faults.Add(1)
						if !ok {
							t.Fatalf("the process went on but the agent got no answer\n%s", api.Trace())
						}
						c.acked(b2)
						c.sendNextVia(svc, api, nil)
					})
					if !reached {
						break
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d fault points: %d crashes, %d crashes of the retrying process, %d backend faults",
			crashes.Load()+retryCrashes.Load()+faults.Load(), crashes.Load(), retryCrashes.Load(), faults.Load())
	})
}

// commitFx is what every case shares: the tables and the CA.
type commitFx struct {
	db     dynamo.API
	tables dynamo.Tables
	auth   *ca.Authority
}

func commitAuthority(t testing.TB) *ca.Authority {
	t.Helper()
	k := p256Key(t)
	root, err := ca.NewRoot(k, "commit test CA", commitT0.Add(-24*time.Hour), 10*365*24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ca.Authority{Cert: root, Signer: k, Rand: rand.Reader, Now: func() time.Time { return commitT0 }}
}

func p256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cleanWrites counts the writes of a kind's second batch when nothing fails.
func (fx *commitFx) cleanWrites(t *testing.T, kind batchKind) int64 {
	t.Helper()
	c := fx.newCase(t, kind)
	b2 := c.body()
	api := c.faulty(nil)
	if _, ok := c.deliver(c.service(api), api, b2); !ok {
		t.Fatal("clean run: no answer")
	}
	c.acked(b2)
	return api.writes.Load()
}

// commitCase is one agent, alone in its tenant, as the agent sees the hub:
// it sends bodies and retries them until it gets an answer.
type commitCase struct {
	t      testing.TB
	fx     *commitFx
	kind   batchKind
	clk    *clocktest.Clock
	tenant string
	agent  string
	token  string
	cert   string
	key    ed25519.PrivateKey
	seq    int64
	n      int
	ack    [][]byte // bodies answered 200 or 202
	// prev is the SHA-256 of the last body acknowledged: the next signed
	// body's prev (SPEC 4.2).
	prev string
	// forked is the body that chains to a body the hub never had;
	// forks is how many chain_fork occurrences the hub must have counted.
	forked []byte
	forks  int64
}

// newCase enrols an agent of kind in a new tenant and has its first batch accepted.
func (fx *commitFx) newCase(t testing.TB, kind batchKind) *commitCase {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	c := &commitCase{t: t, fx: fx, kind: kind, clk: clocktest.At(commitT0), tenant: "c" + hex.EncodeToString(rnd[:]),
		seq: 1743501600000000000}
	svc := c.service(fx.db)
	ctx := t.Context()
	adminKey, err := svc.Tenants.Bootstrap(ctx, c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	oper, err := fx.auth.IssueOperator(c.tenant, p256Key(t).Public(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := svc.AdminAuth.Authenticate(ctx, adminKey, string(ca.EncodeCertPEM(oper)))
	if err != nil {
		t.Fatal(err)
	}
	na, err := svc.Agents.Create(ctx, ad, "host-1")
	if err != nil {
		t.Fatal(err)
	}
	c.agent, c.token = na.AgentID, na.Token
	enroll, err := fx.auth.IssueEnrollment(c.tenant, p256Key(t).Public(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "host-1"}}, p256Key(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := map[string]string{"hostname": "host-1", "agent_version": "1.4.2", "os": "linux", "arch": "amd64",
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	if kind.signed {
		_, c.key, _ = ed25519.GenerateKey(rand.Reader)
		reg["signing_pubkey"] = base64.StdEncoding.EncodeToString(c.key.Public().(ed25519.PublicKey))
	}
	body, _ := json.Marshal(reg)
	res, err := svc.Register.Register(ctx, hub.RegisterRequest{Token: c.token, ClientCertPEM: string(ca.EncodeCertPEM(enroll)),
		ContentType: "application/json", Body: body})
	if err != nil || res.ClientCert == "" || res.SigningPubKeyPinned != kind.signed {
		t.Fatalf("register: %+v, %v", res, err)
	}
	c.cert = res.ClientCert
	c.mustDeliver(c.body())
	return c
}

// service is a new hub process over the shared tables, through db.
func (c *commitCase) service(db dynamo.API) *app.Core {
	c.t.Helper()
	st, err := dynamo.New(db, c.fx.tables)
	if err != nil {
		c.t.Fatal(err)
	}
	svc, err := app.Assemble(st, c.fx.auth, app.CoreConfig{PendingLease: time.Minute},
		hub.Env{Clock: c.clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		c.t.Fatal(err)
	}
	return svc
}

func (c *commitCase) faulty(fn func(int64, string) verdict) *faultAPI {
	f := &faultAPI{API: c.fx.db, agents: c.fx.tables.Agents}
	f.setFault(fn)
	return f
}

// body is the agent's next body: a batch header when signed, then one
// metric record on each of the kind's days.
func (c *commitCase) body() []byte {
	c.n++
	var recs []string
	if c.kind.signed {
		c.seq++
		prev := c.prev
		if c.kind.fork && c.n == 2 {
			sum := sha256.Sum256([]byte("a body the hub never had"))
			prev = hex.EncodeToString(sum[:])
		}
		h := fmt.Sprintf(`{"type":"batch","ts":%q,"seq":%d,"agent_version":"1.4.2"`, commitDays[0].Format(time.RFC3339), c.seq)
		if prev != "" {
			h += fmt.Sprintf(`,"prev":%q`, prev)
		}
		recs = append(recs, h+"}")
	}
	for d := range c.kind.days {
		ts := commitDays[d].Add(time.Duration(c.n) * time.Minute)
		recs = append(recs, fmt.Sprintf(`{"type":"metric","ts":%q,"name":"cpu","value":%d,"batch":%d}`, ts.Format(time.RFC3339), d, c.n))
	}
	b := []byte("[" + strings.Join(recs, ",") + "]")
	if c.kind.fork && c.n == 2 {
		c.forked = b
	}
	return b
}

func (c *commitCase) request(body []byte) hub.IngestRequest {
	r := hub.IngestRequest{Token: c.token, ClientCertPEM: c.cert, ContentType: "application/json", Body: body}
	if c.kind.signed {
		r.Signature = sig.Sign(c.key, body)
	}
	return r
}

// deliver sends body through svc until the hub answers: true and the result
// for a 2xx, false when the process behind api crashed (its answer never
// left). A 429, a 503 or a 409 conflict (a batch of the agent still in
// flight, docs/decisions.md) is retried after its Retry-After; any other
// answer fails the test.
func (c *commitCase) deliver(svc *app.Core, api *faultAPI, body []byte) (hub.IngestResult, bool) {
	c.t.Helper()
	for range 10 {
		res, err := svc.Ingest.Ingest(c.t.Context(), c.request(body))
		if api != nil && api.crashed.Load() {
			return hub.IngestResult{}, false
		}
		if err == nil {
			return res, true
		}
		var he *hub.Error
		if !errors.As(err, &he) || (he.Code != hub.CodeUnavailable && he.Code != hub.CodeThrottled && he.Code != hub.CodeConflict) ||
			he.RetryAfter <= 0 {
			c.t.Fatalf("answer %v: want a 2xx, or 409 conflict/429/503 with Retry-After\n%s", err, trace(api))
		}
		c.clk.Advance(he.RetryAfter)
	}
	c.t.Fatalf("no answer after 10 attempts\n%s", trace(api))
	return hub.IngestResult{}, false
}

func trace(api *faultAPI) string {
	if api == nil {
		return ""
	}
	return "writes:\n" + api.Trace()
}

// mustDeliver sends body through a new process without faults and records the answer.
func (c *commitCase) mustDeliver(body []byte) hub.IngestResult {
	c.t.Helper()
	res, ok := c.deliver(c.service(c.fx.db), nil, body)
	if !ok {
		c.t.Fatal("no answer")
	}
	c.acked(body)
	return res
}

// sendCrashing sends the agent's next body to a process that dies after k
// writes; the answer, if any, is lost. It returns the body.
func (c *commitCase) sendCrashing(k int64) []byte {
	c.t.Helper()
	b := c.body()
	api := c.faulty(crashAfter(k))
	c.deliver(c.service(api), api, b)
	return b
}

// sendNext sends one more batch through a new process: it must be accepted
// whole. maybe is a body sent before and never acknowledged.
func (c *commitCase) sendNext(maybe []byte) {
	c.t.Helper()
	c.sendNextVia(c.service(c.fx.db), nil, maybe)
}

func (c *commitCase) sendNextVia(svc *app.Core, api *faultAPI, maybe []byte) {
	c.t.Helper()
	b := c.body()
	res, ok := c.deliver(svc, api, b)
	if !ok || res.Duplicate || res.Accepted != c.kind.days {
		c.t.Fatalf("next batch: %+v (answered %v), want 202 with every record\n%s", res, ok, trace(api))
	}
	c.acked(b, maybe)
}

// acked records that body was answered 2xx and checks the pack read path
// one day at a time (a pack may cover any one of a batch's days): every
// acknowledged body exactly once, maybe (sent, never acknowledged) at most
// once, nothing else; and no batch left in flight.
func (c *commitCase) acked(body []byte, maybe ...[]byte) {
	c.t.Helper()
	c.ack = append(c.ack, body)
	st, err := dynamo.New(c.fx.db, c.fx.tables)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.kind.signed {
		sum := sha256.Sum256(body)
		c.prev = hex.EncodeToString(sum[:])
		if string(body) == string(c.forked) {
			c.forks++
		}
	}
	for i, day := range commitDays[:c.kind.days] {
		from := day.Truncate(24 * time.Hour)
		seen := map[string]int{}
		err = st.Batches.PeriodBatches(c.t.Context(), c.tenant, from, from.Add(24*time.Hour-time.Second), func(b hub.StoredBatch) error {
			seen[string(b.Body)]++
			return nil
		})
		if err != nil {
			c.t.Fatal(err)
		}
		for i, b := range c.ack {
			if seen[string(b)] != 1 {
				c.t.Fatalf("%s: acknowledged batch %d is in the day's batches %d times, want once: %s", from.Format(time.DateOnly), i+1, seen[string(b)], b)
			}
			delete(seen, string(b))
		}
		for _, m := range maybe {
			if i == 0 && c.kind.signed && seen[string(m)] == 1 {
				// The hub kept a batch the agent never had acknowledged, and
				// body chains past it: check 10 (SPEC 4.2).
				c.forks++
			}
			if seen[string(m)] > 1 {
				c.t.Fatalf("%s: an unacknowledged batch is there %d times: %s", from.Format(time.DateOnly), seen[string(m)], m)
			}
			delete(seen, string(m))
		}
		for b, n := range seen {
			c.t.Fatalf("%s: a batch nobody acknowledged is there %d times: %s", from.Format(time.DateOnly), n, b)
		}
	}
	a, err := st.Agents.GetAgent(c.t.Context(), c.agent)
	if err != nil {
		c.t.Fatal(err)
	}
	if a.Pending != nil {
		c.t.Fatalf("a batch is left in flight after the answer: %+v", *a.Pending)
	}
	if c.kind.signed {
		if a.LastSeq != c.seq || a.LastBatchSHA != c.prev {
			c.t.Fatalf("agent at seq %d (%s), want %d (%s)", a.LastSeq, a.LastBatchSHA, c.seq, c.prev)
		}
		page, err := st.Anomalies.ListAnomalies(c.t.Context(), c.tenant, anomaly.Filter{AgentID: c.agent, Kind: anomaly.ChainFork}, "", 10)
		if err != nil {
			c.t.Fatal(err)
		}
		var forks int64
		for _, an := range page.Anomalies {
			forks += an.Count
		}
		if forks != c.forks {
			c.t.Fatalf("chain_fork counted %d times, want %d: %+v", forks, c.forks, page.Anomalies)
		}
	}
}
