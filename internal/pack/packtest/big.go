package packtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/sig"
)

// BigSource is a pack.Source of a month of signed, chained agents, made up
// as it is read so that a million records cost no memory: the data of the
// speed and size figures (docs/evidence-pack.md, "Speed"). Each agent sends
// batches of BigPerBatch records (metrics with two disks, honeypot trips,
// process fingerprints, and an inventory snapshot part in every fifth
// batch), each batch chained to the one before; every tenth batch is a
// heartbeat (the header alone); the agents with an odd number rotate their
// signing key halfway through the month.
type BigSource struct {
	agents  int
	batches int // per agent, heartbeats included
	start   time.Time
	step    time.Duration
}

// Big agents and records per batch.
const (
	BigAgents   = 20
	BigPerBatch = 50
)

// Big returns the metadata, signer and source of a pack of about records
// records (rounded up to whole batches).
func Big(records int) (pack.Meta, Signer, *BigSource) {
	meta, s, _ := March()
	withRecords := (records + BigAgents*BigPerBatch - 1) / (BigAgents * BigPerBatch)
	n := withRecords + withRecords/9 // one heartbeat after every nine
	src := &BigSource{agents: BigAgents, batches: n, start: meta.PeriodStart}
	src.step = meta.PeriodEnd.Sub(meta.PeriodStart) / time.Duration(n+1)
	return meta, s, src
}

// Records is how many records the pack holds.
func (s *BigSource) Records() int {
	n := 0
	for i := range s.batches {
		if !heartbeat(i) {
			n += BigPerBatch
		}
	}
	return n * s.agents
}

func heartbeat(i int) bool { return i%10 == 9 }

func bigAgentID(a int) string { return fmt.Sprintf("ag_big%02d", a) }

// bigKey is agent a's signing key: generation 0 before the rotation, 1
// after (odd agents only).
func bigKey(a, gen int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1], seed[2] = 0xb1, byte(a), byte(gen)
	return ed25519.NewKeyFromSeed(seed)
}

// rotation is when the odd agents get their second key.
func (s *BigSource) rotation() time.Time {
	return s.start.Add(s.step * time.Duration(s.batches/2)).Add(s.step / 2)
}

// chain calls fn with agent a's batches in order, each with its prev.
func (s *BigSource) chain(a int, fn func(pack.Batch) error) error {
	prev := ""
	for i := range s.batches {
		b := s.batch(a, i, prev)
		prev = b.SHA256
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (s *BigSource) batch(a, i int, prev string) pack.Batch {
	at := s.start.Add(s.step * time.Duration(i+1)).Add(time.Duration(a) * time.Second)
	seq := at.UnixNano()
	gen := 0
	if a%2 == 1 && !at.Before(s.rotation()) {
		gen = 1
	}
	var recs []json.RawMessage
	if !heartbeat(i) {
		recs = bigRecords(a, i, at, s.step)
	}
	body, err := batch.Encode(batch.Header{TS: at, Seq: seq, AgentVersion: "1.5.0", Prev: prev}, recs)
	if err != nil {
		panic(err)
	}
	id := bigAgentID(a)
	return pack.Batch{TenantID: "acme", AgentID: id, Key: "s#" + strconv.FormatInt(seq, 10), Seq: seq,
		SHA256: pack.SHA256Hex(body), Signed: true, Signature: sig.Sign(bigKey(a, gen), body), Body: body,
		Records: len(recs), ReceivedAt: at.Add(2 * time.Second)}
}

// bigRecords are the records of agent a's batch i, sent at at, step after
// the one before, in the agent's member order.
func bigRecords(a, i int, at time.Time, step time.Duration) []json.RawMessage {
	out := make([]json.RawMessage, 0, BigPerBatch)
	for j := range BigPerBatch {
		ts := batch.TS(at.Add(-step + step*time.Duration(j)/BigPerBatch))
		k := a*1_000_003 + i*BigPerBatch + j
		var r string
		switch {
		case j == 0 && i%5 == 0:
			r = bigInventory(ts, a, i)
		case j%25 == 1:
			r = fmt.Sprintf(`{"type":"honeypot_trip","ts":%q,"path":"/home/deploy/.aws/credentials","event":"accessed","atime":%q}`, ts, ts)
		case j%10 == 2:
			r = fmt.Sprintf(`{"type":"process_dna","ts":%q,"exe":"/usr/sbin/nginx","sha256":"%064x","size":%d}`, ts, k, 1200000+k%4096)
		default:
			r = fmt.Sprintf(`{"type":"metric","ts":%q,"cpu_percent":%g,"load1":%g,"load5":%g,"load15":%g,`+
				`"mem_total_bytes":8589934592,"mem_available_bytes":%d,"mem_used_percent":%g,"swap_total_bytes":0,"swap_free_bytes":0,`+
				`"disks":[{"path":"/","total_bytes":107374182400,"used_bytes":%d,"free_bytes":%d,"used_percent":%g},`+
				`{"path":"/var","total_bytes":53687091200,"used_bytes":%d,"free_bytes":%d,"used_percent":%g}],"uptime_seconds":%d}`,
				ts, float64(k%10000)/97, float64(k%400)/100, float64(k%300)/100, float64(k%200)/100,
				4294967296+k%1000000, float64(k%1000)/10.0+0.05,
				50000000000+k, 57374182400-k, float64(k%997)/13,
				20000000000+k, 33687091200-k, float64(k%991)/11, 86400+k)
		}
		out = append(out, json.RawMessage(r))
	}
	return out
}

func bigInventory(ts string, a, i int) string {
	b := fmt.Appendf(nil, `{"type":"inventory_snapshot","ts":%q,"snapshot_id":"snap-%d-%d","part":1,"parts":1,"hostname":"web-%02d",`+
		`"os":{"id":"debian","version_id":"12","pretty_name":"Debian GNU/Linux 12 (bookworm)","goos":"linux"},"package_manager":"dpkg","package_count":20,"packages":[`,
		ts, a, i, a)
	for p := range 20 {
		if p > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"name":"pkg-%d","version":"1.%d.%d-1+deb12u%d","arch":"amd64"}`, p, p, i%7, a%3)
	}
	return string(append(b, `]}`...))
}

var _ pack.Source = (*BigSource)(nil)

// Batches calls fn with every batch, agent after agent.
func (s *BigSource) Batches(_ context.Context, _ pack.Period, fn func(pack.Batch) error) error {
	for a := range s.agents {
		if err := s.chain(a, fn); err != nil {
			return err
		}
	}
	return nil
}

// Anomalies holds none.
func (s *BigSource) Anomalies(context.Context, pack.Period, func(anomaly.Anomaly) error) error {
	return nil
}

// Audit holds none.
func (s *BigSource) Audit(context.Context, pack.Period, func(pack.AuditEvent) error) error {
	return nil
}

// Agent returns the agent with its key history.
func (s *BigSource) Agent(_ context.Context, id string) (pack.Agent, error) {
	for a := range s.agents {
		if bigAgentID(a) != id {
			continue
		}
		pinned := s.start.Add(-24 * time.Hour)
		keys := []pack.SigningKey{{PublicKey: bigKey(a, 0).Public().(ed25519.PublicKey), PinnedAt: pinned}}
		if a%2 == 1 {
			keys[0].UnpinnedAt = s.rotation()
			keys = append(keys, pack.SigningKey{PublicKey: bigKey(a, 1).Public().(ed25519.PublicKey), PinnedAt: s.rotation()})
		}
		cur := keys[len(keys)-1]
		return pack.Agent{TenantID: "acme", AgentID: id, Hostname: fmt.Sprintf("web-%02d", a), OS: "linux", Arch: "amd64",
			AgentVersion: "1.5.0", MaxAgentVersion: "1.5.0", SigningPubKey: cur.PublicKey, SigningSetAt: cur.PinnedAt,
			SigningKeys: keys, RegisteredAt: pinned, CreatedAt: pinned}, nil
	}
	return pack.Agent{}, pack.ErrUnknownAgent
}

// SignedBatches calls fn with the agent's batches whose seq is in [from, to].
func (s *BigSource) SignedBatches(_ context.Context, id string, from, to int64, fn func(pack.Batch) error) error {
	for a := range s.agents {
		if bigAgentID(a) == id {
			return s.chain(a, func(b pack.Batch) error {
				if b.Seq < from || b.Seq > to {
					return nil
				}
				return fn(b)
			})
		}
	}
	return nil
}
