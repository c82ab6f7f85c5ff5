package dynamo

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// Agents keeps the agent items: identity, pins and anomaly generations.
type Agents struct{ conn }

var _ hub.AgentStore = (*Agents)(nil)

// Commits holds the ingest commit's writes on the agent items.
type Commits struct{ conn }

var _ hub.CommitStore = (*Commits)(nil)

func agentKey(id string) item { return item{"agent_id": vs(id)} }

func decodeAgent(it item) hub.Agent {
	a := hub.Agent{
		TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"), TokenHash: gs(it, "token_hash"),
		Hostname: gs(it, "hostname"), OS: gs(it, "os"), Arch: gs(it, "arch"),
		AgentVersion: gs(it, "agent_version"), MaxAgentVersion: gs(it, "max_agent_version"),
		SigningPubKey: gb(it, "signing_pubkey"), SigningSetAt: gt(it, "signing_set_at"), SigningKeys: decodeSigningKeys(it),
		LastSeq: gn(it, "last_seq"), LastBatchSHA: gs(it, "last_batch_sha"),
		LastSeen: gt(it, "last_seen"), LastSignedAt: gt(it, "last_signed_at"), LastUnsignedAt: gt(it, "last_unsigned_at"),
		RegisteredAt: gt(it, "registered_at"), CreatedAt: gt(it, "created_at"),
		LiveAt: gt(it, "live_at"), StaleSince: gt(it, "stale_since"),
		AnomalyGen: map[anomaly.Kind]int64{},
	}
	if c := gm(it, "cert"); c != nil {
		a.Cert = &hub.CertPin{Fingerprint: gs(c, "fp"), PEM: gs(c, "pem"), PubKeySHA: gs(c, "pub_sha"),
			NotAfter: gt(c, "not_after"), SetAt: gt(c, "set_at"), Previous: gs(c, "previous")}
	}
	if p := gm(it, "pending"); p != nil {
		a.Pending = &hub.Pending{Seq: gn(p, "seq"), SHA: gs(p, "sha"), PrevSeq: gn(p, "prev_seq"), PrevSHA: gs(p, "prev_sha"),
			At: gt(p, "at"), Undo: gbool(p, "undo")}
	}
	for k := range it {
		if kind, ok := strings.CutPrefix(k, "gen_"); ok {
			a.AnomalyGen[anomaly.Kind(kind)] = gn(it, k)
		}
	}
	return a
}

// GetAgent implements hub.AgentReader.
func (s *Agents) GetAgent(ctx context.Context, id string) (hub.Agent, error) {
	it, err := s.get(ctx, "get agent", s.t.Agents, agentKey(id))
	if err != nil {
		return hub.Agent{}, err
	}
	return decodeAgent(it), nil
}

// CreateAgent implements hub.AgentMaker.
func (s *Agents) CreateAgent(ctx context.Context, a hub.Agent) error {
	it := item{"agent_id": vs(a.AgentID), "tenant_id": vs(a.TenantID), "token_hash": vs(a.TokenHash),
		"created_at": vt(a.CreatedAt), "last_seq": vn(0)}
	if a.Hostname != "" {
		it["hostname"] = vs(a.Hostname)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Agents), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(agent_id)")})
	return classify("create agent", err)
}

// update runs one conditional UpdateItem on an agent that must exist.
func (s *conn) update(ctx context.Context, op, id, expr, cond string, n map[string]string, v item) error {
	c := "attribute_exists(agent_id)"
	if cond != "" {
		c += " AND (" + cond + ")"
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Agents), Key: agentKey(id),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(c)}
	if len(n) > 0 {
		in.ExpressionAttributeNames = n
	}
	if len(v) > 0 {
		in.ExpressionAttributeValues = v
	}
	_, err := s.db.UpdateItem(ctx, in)
	return classify(op+" "+id, err)
}

// PinSigningKey implements hub.PinStore: the TOFU pin, attribute_not_exists.
// The same write appends the key to the history (docs/dynamodb.md).
func (s *Agents) PinSigningKey(ctx context.Context, id string, k []byte, at time.Time) error {
	e := &types.AttributeValueMemberL{Value: []types.AttributeValue{signingKeyValue(hub.SigningKey{PublicKey: k, PinnedAt: at})}}
	return s.update(ctx, "pin signing key", id,
		"SET signing_pubkey = :k, signing_set_at = :t, signing_keys = list_append(if_not_exists(signing_keys, :none), :e)",
		"attribute_not_exists(signing_pubkey)", nil,
		item{":k": vb(k), ":t": vt(at), ":e": e, ":none": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}})
}

// UnpinSigningKey implements hub.Unpinner: the pin goes and the history is
// written in one write, if both are still as the caller read them.
func (s *Agents) UnpinSigningKey(ctx context.Context, id string, h []hub.SigningKey) error {
	if len(h) == 0 {
		return hub.ErrConflict
	}
	last := h[len(h)-1]
	l := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(h))}
	for i, k := range h {
		l.Value[i] = signingKeyValue(k)
	}
	cond := "signing_pubkey = :k AND signing_set_at = :t AND size(signing_keys) = :n"
	if len(h) == 1 { // or an agent pinned before histories were kept
		cond = "signing_pubkey = :k AND signing_set_at = :t AND (attribute_not_exists(signing_keys) OR size(signing_keys) = :n)"
	}
	return s.update(ctx, "unpin signing key", id, "SET signing_keys = :h REMOVE signing_pubkey, signing_set_at", cond, nil,
		item{":k": vb(last.PublicKey), ":t": vt(last.PinnedAt), ":n": vn(int64(len(h))), ":h": l})
}

func signingKeyValue(k hub.SigningKey) types.AttributeValue {
	m := item{"pk": vb(k.PublicKey), "pinned_at": vt(k.PinnedAt)}
	if !k.UnpinnedAt.IsZero() {
		m["unpinned_at"] = vt(k.UnpinnedAt)
	}
	return &types.AttributeValueMemberM{Value: m}
}

func decodeSigningKeys(it item) []hub.SigningKey {
	l, ok := it["signing_keys"].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]hub.SigningKey, 0, len(l.Value))
	for _, v := range l.Value {
		if m, ok := v.(*types.AttributeValueMemberM); ok {
			out = append(out, hub.SigningKey{PublicKey: gb(m.Value, "pk"), PinnedAt: gt(m.Value, "pinned_at"), UnpinnedAt: gt(m.Value, "unpinned_at")})
		}
	}
	return out
}

// PinCert implements hub.PinStore.
func (s *Agents) PinCert(ctx context.Context, id string, c hub.CertPin, expect string) error {
	m := item{"fp": vs(c.Fingerprint), "pub_sha": vs(c.PubKeySHA), "not_after": vt(c.NotAfter), "set_at": vt(c.SetAt)}
	if c.PEM != "" {
		m["pem"] = vs(c.PEM)
	}
	if c.Previous != "" {
		m["previous"] = vs(c.Previous)
	}
	v := item{":c": &types.AttributeValueMemberM{Value: m}}
	cond := "attribute_not_exists(cert)"
	if expect != "" {
		cond, v[":old"] = "cert.fp = :old", vs(expect)
	}
	return s.update(ctx, "pin client certificate", id, "SET cert = :c", cond, nil, v)
}

// UnpinCert implements hub.Unpinner.
func (s *Agents) UnpinCert(ctx context.Context, id string) error {
	return s.update(ctx, "unpin client certificate", id, "REMOVE cert", "", nil, nil)
}

// ReplaceToken implements hub.AgentMaker.
func (s *Agents) ReplaceToken(ctx context.Context, id, newHash, oldHash string) error {
	return s.update(ctx, "replace token", id, "SET token_hash = :n", "token_hash = :o", nil,
		item{":n": vs(newHash), ":o": vs(oldHash)})
}

// RecordRegistration implements hub.PinStore.
func (s *Agents) RecordRegistration(ctx context.Context, id string, r hub.Registration) error {
	return s.update(ctx, "record registration", id,
		"SET hostname = :h, agent_version = :v, #os = :os, arch = :a, max_agent_version = :mv, registered_at = :t, last_seen = :t",
		"", names("#os", "os"),
		item{":h": vs(r.Hostname), ":v": vs(r.AgentVersion), ":os": vs(r.OS), ":a": vs(r.Arch), ":mv": vs(r.MaxAgentVersion), ":t": vt(r.At)})
}

func pendingValue(p hub.Pending) types.AttributeValue {
	m := item{"seq": vn(p.Seq), "sha": vs(p.SHA), "prev_seq": vn(p.PrevSeq), "prev_sha": vs(p.PrevSHA), "at": vt(p.At)}
	if p.Undo {
		m["undo"] = vbool(true)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// samePending is the condition that the marker is still p's: seq, sha and
// at (the holder's lease), with pendingNames and the values pendingKey adds.
const samePending = "pending.seq = :pseq AND pending.sha = :psha AND pending.#at = :pat"

var pendingNames = map[string]string{"#at": "at", "#undo": "undo"}

func pendingKey(p hub.Pending, v item) item {
	v[":pseq"], v[":psha"], v[":pat"] = vn(p.Seq), vs(p.SHA), vt(p.At)
	return v
}

// BeginBatch implements hub.SeqStore: the commit point of a signed batch.
func (s *Commits) BeginBatch(ctx context.Context, id string, p hub.Pending, pub []byte, version, maxVersion string) error {
	return s.update(ctx, "begin batch", id,
		"SET last_seq = :seq, last_batch_sha = :sha, pending = :p, agent_version = :v, max_agent_version = :mv, last_seen = :t, last_signed_at = :t, "+
			"live_at = :t, live_shard = :sh",
		"last_seq = :prev AND attribute_not_exists(pending) AND signing_pubkey = :pub", nil,
		item{":seq": vn(p.Seq), ":sha": vs(p.SHA), ":p": pendingValue(p), ":v": vs(version), ":mv": vs(maxVersion),
			":t": vt(p.At), ":prev": vn(p.PrevSeq), ":pub": vb(pub), ":sh": vs(shardOf(id))})
}

// ClaimBatch implements hub.ClaimStore.
func (s *Commits) ClaimBatch(ctx context.Context, id string, seen, next hub.Pending) error {
	undo := "attribute_not_exists(pending.#undo)"
	v := pendingKey(seen, item{":p": pendingValue(next)})
	if seen.Undo {
		undo, v[":true"] = "pending.#undo = :true", vbool(true)
	}
	return s.update(ctx, "claim batch", id, "SET pending = :p", samePending+" AND "+undo, pendingNames, v)
}

// EndBatch implements hub.ClaimStore.
func (s *Commits) EndBatch(ctx context.Context, id string, p hub.Pending) error {
	return s.update(ctx, "end batch", id, "REMOVE pending", samePending+" AND attribute_not_exists(pending.#undo)",
		pendingNames, pendingKey(p, item{}))
}

// AbortBatch implements hub.SeqStore.
func (s *Commits) AbortBatch(ctx context.Context, id string, p hub.Pending) error {
	return s.update(ctx, "abort batch", id, "SET last_seq = :prev, last_batch_sha = :prevsha REMOVE pending",
		samePending, names("#at", "at"), pendingKey(p, item{":prev": vn(p.PrevSeq), ":prevsha": vs(p.PrevSHA)}))
}

// MarkUnsigned implements hub.UnsignedMarker.
func (s *Commits) MarkUnsigned(ctx context.Context, id string, t time.Time) error {
	return s.update(ctx, "mark unsigned", id, "SET last_unsigned_at = :t, last_seen = :t, live_at = :t, live_shard = :sh, attn = :sh",
		"", nil, item{":t": vt(t), ":sh": vs(shardOf(id))})
}

// BumpAnomalyGen implements hub.AnomalyGens.
func (s *Agents) BumpAnomalyGen(ctx context.Context, id string, k anomaly.Kind, from int64) error {
	cond := "#g = :from"
	if from == 0 {
		cond = "attribute_not_exists(#g) OR #g = :from"
	}
	return s.update(ctx, "bump anomaly generation", id, "SET #g = :next", cond, names("#g", "gen_"+string(k)),
		item{":from": vn(from), ":next": vn(from + 1)})
}
