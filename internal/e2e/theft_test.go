package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/sig"
)

// TestTheftWithTokenOnly plays each row of the seed's "What an attacker with
// only the bearer token cannot do" table. The attacker holds the agent's
// token and even its TLS identity, but not its signing key: every forged
// batch gets 403 and leaves its anomaly; nothing is stored.
func TestTheftWithTokenOnly(t *testing.T) {
	e := newEnv(t)
	ad := e.admin()
	now := func() string { return time.Now().UTC().Format(time.RFC3339) }
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name    string
		records []rec
		version string
		signed  bool // the attacker signs with its own key, else sends no signature
		code    string
		anomaly string
	}{
		{"fail/fake-metrics", []rec{metric("cpu", 3), metric("mem", 12)}, "1.4.2", true, "signature_invalid", "signature_invalid"},
		{"fail/honeypot-trip-falsified", []rec{{"type": "honeypot_trip", "ts": now(), "path": "/srv/canary/passwords.xlsx", "tripped": false}}, "1.4.2", true, "signature_invalid", "signature_invalid"},
		{"fail/process-dna-replaced", []rec{{"type": "process_dna", "ts": now(), "exe": "/usr/sbin/sshd", "sha256": strings.Repeat("0", 64)}}, "1.4.2", false, "signature_missing", "unsigned_payload"},
		{"fail/version-downgrade", []rec{{"type": "agent_status", "ts": now(), "version": "1.0.0"}}, "1.0.0", true, "signature_invalid", "signature_invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			victim := e.enrolledAgent()
			expect(t, victim.ingest(victim.body(metric("cpu", 1))), http.StatusAccepted, "")
			lastSeq := victim.seq.Load()
			victim.version = c.version
			body := victim.body(c.records...)
			s := ""
			if c.signed {
				s = sig.Sign(attackerKey, body)
			}
			expect(t, victim.ingestWith(victim.c, body, s, nil), http.StatusForbidden, c.code)
			ad.anomaly(victim.id, c.anomaly)
			ad.noAnomaly(victim.id, "version_downgrade") // refused before check 9: nothing reported
			if e.batchStored(victim.id, victim.seq.Load()) {
				t.Fatal("the forged batch was stored")
			}
			if v := ad.agent(victim.id); v["last_seq"] != float64(lastSeq) || v["agent_version"] != "1.4.2" {
				t.Fatalf("the forged batch changed the agent: %v", v)
			}
		})
	}
	t.Run("fail/token-without-client-certificate", func(t *testing.T) {
		victim := e.enrolledAgent()
		other := e.enrolledAgent() // the attacker's own host, enrolled in the same tenant
		body := victim.body(metric("cpu", 99))
		expect(t, victim.ingestWith(other.c, body, sig.Sign(attackerKey, body), nil), http.StatusForbidden, "cert_pin_mismatch")
		ad.anomaly(victim.id, "cert_pin_mismatch")
	})
}
