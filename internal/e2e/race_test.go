package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/hub"
)

// TestRaceRegister50Keys: 50 concurrent registrations of one agent with 50
// different keys. DynamoDB's conditional write decides: exactly one 200, 49
// 403 signature_invalid, and the pin is the winner's key.
func TestRaceRegister50Keys(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent()
	const n = 50
	keys := make([]string, n)
	for i := range keys {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		keys[i] = base64.StdEncoding.EncodeToString(pub)
	}
	results := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = a.register(a.enrollC, a.regBody(&keys[i], ""))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, r := range results {
		switch {
		case r.Status == http.StatusOK:
			if winner >= 0 {
				t.Fatalf("two registrations won: %d and %d", winner, i)
			}
			winner = i
		case r.Status == http.StatusForbidden && r.code() == "signature_invalid":
		default:
			t.Fatalf("registration %d: %s", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("no registration won")
	}
	ad := e.admin()
	if v := ad.agent(a.id); v["signing_pubkey"] != keys[winner] {
		t.Fatalf("pinned %v, want the winner's key %s", v["signing_pubkey"], keys[winner])
	}
	if an := ad.anomaly(a.id, "signature_invalid"); an["count"] != float64(n-1) {
		t.Fatalf("anomaly count %v, want %d (one open anomaly for all losers)", an["count"], n-1)
	}
}

// TestRaceRegisterWithCSRs: concurrent first registrations of one agent,
// each with its own signing key and most with their own CSR, through the
// enrollment certificate, then a few more once the race is decided (SPEC 4.1:
// every loser gets 403 signature_invalid whether or not it carries a csr,
// never cert_pin_mismatch). Exactly one wins; its key and certificate are
// pinned.
func TestRaceRegisterWithCSRs(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent()
	const n, late = 16, 4 // the last four start after the race
	keys, bodies := make([]string, n), make([][]byte, n)
	for i := range n {
		b := e.newAgentKeysOnly()
		keys[i] = b.pub()
		csr := b.csr()
		if i%3 == 2 {
			csr = "" // some racers carry no csr
		}
		bodies[i] = a.regBody(&keys[i], csr)
	}
	results := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n - late {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = a.register(a.enrollC, bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	// Late losers: they start once the race is decided and find both pins.
	for i := n - late; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.register(a.enrollC, bodies[i])
		}()
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		switch {
		case r.Status == http.StatusOK:
			if winner >= 0 {
				t.Fatalf("two registrations won: %d and %d", winner, i)
			}
			winner = i
		case r.Status == http.StatusForbidden && r.code() == "signature_invalid":
		default:
			t.Errorf("registration %d (csr %v, late %v): %s", i, i%3 != 2, i >= n-late, r)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if winner < 0 {
		t.Fatal("no registration won")
	}
	v := e.admin().agent(a.id)
	if v["signing_pubkey"] != keys[winner] {
		t.Fatalf("pinned %v, want the winner's key %s", v["signing_pubkey"], keys[winner])
	}
	if wantCert := winner%3 != 2; v["client_cert_pinned"] != wantCert {
		t.Fatalf("client_cert_pinned = %v, want %v (winner %d)", v["client_cert_pinned"], wantCert, winner)
	}
	e.admin().noAnomaly(a.id, "cert_pin_mismatch")
}

// TestRaceIngestSameSeq: 20 concurrent ingests of the same seq, each a
// different body: exactly one is accepted and stored.
func TestRaceIngestSameSeq(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	const n = 20
	seq := a.seq.Add(1)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = a.bodySeq(seq, metric("cpu", float64(i)))
	}
	results := make([]resp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = a.ingest(bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	accepted := -1
	for i, r := range results {
		switch {
		case r.Status == http.StatusAccepted:
			if accepted >= 0 {
				t.Fatalf("two ingests of seq %d accepted: %d and %d", seq, accepted, i)
			}
			accepted = i
		case r.Status == http.StatusConflict && r.code() == "replay_rejected":
		case r.Status == http.StatusConflict && r.code() == "conflict" && r.Header.Get("Retry-After") != "":
			// the winner was still storing its batch: a lost race, never 5xx (SPEC 4)
		default:
			t.Fatalf("ingest %d: %s", i, r)
		}
	}
	if accepted < 0 {
		t.Fatal("no ingest accepted")
	}
	b, err := e.hub.Stores.Batches.GetBatch(t.Context(), a.id, hub.SignedBatchKey(seq))
	if err != nil || string(b.Body) != string(bodies[accepted]) {
		t.Fatalf("stored batch is not the accepted one: %v", err)
	}
	if v := e.admin().agent(a.id); v["last_seq"] != float64(seq) {
		t.Fatalf("last_seq %v", v["last_seq"])
	}
}

// TestRaceIngestIdenticalBodies: the same body sent 20 times at once (a retry
// storm) is accepted once; the others are duplicates of it, or told with
// 409 conflict and Retry-After to retry while it is stored.
func TestRaceIngestIdenticalBodies(t *testing.T) {
	e := newEnv(t)
	a := e.enrolledAgent()
	body := a.body(metric("cpu", 1))
	const n = 20
	results := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = a.ingest(body) }()
	}
	wg.Wait()
	count := 0
	for i, r := range results {
		switch {
		case r.Status == http.StatusAccepted:
			count++
		case r.Status == http.StatusOK && r.Body["duplicate"] == true:
		case r.Status == http.StatusConflict && r.code() == "conflict" && r.Header.Get("Retry-After") != "":
			// told to retry while the first copy is stored: a lost race is 409, never 5xx (SPEC 4)
		default:
			t.Fatalf("ingest %d: %s", i, r)
		}
	}
	if count != 1 {
		t.Fatalf("%d accepted, want exactly 1", count)
	}
}
