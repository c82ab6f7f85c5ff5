package dynamo

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// Agents keeps the agent items: identity, pins and anomaly generations.
// Each agent has two items in the agents table: the state, under its id,
// read on every request and kept under 1 KB (one read unit, one write unit
// per change, docs/dynamodb.md "The agent item"); and the profile, under
// id + profileSuffix, which ingest never needs: the host's registration
// details and the PEM of each certificate the hub pinned for it
// (pem_<fingerprint>).
type Agents struct{ conn }

// profileSuffix makes the key of an agent's profile item. Agent ids have
// no '#'.
const profileSuffix = "#profile"

func profileKey(id string) item { return item{"agent_id": vs(id + profileSuffix)} }

// pemAttr is the profile attribute that holds the PEM of the certificate with fingerprint fp.
func pemAttr(fp string) string { return "pem_" + fp }

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
		SigningPubKey: gb(it, "signing_pubkey"), SigningSetAt: gt(it, "signing_set_at"), SigningKeys: signingKeys(it),
		LastSeq: gn(it, "last_seq"), LastBatchSHA: gs(it, "last_batch_sha"),
		LastSeen: gt(it, "last_seen"), LastSignedAt: gt(it, "last_signed_at"), LastUnsignedAt: gt(it, "last_unsigned_at"),
		RegisteredAt: gt(it, "registered_at"), CreatedAt: gt(it, "created_at"),
		LiveAt: gt(it, "live_at"), StaleSince: gt(it, "stale_since"), LogMark: gs(it, "lm"),
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

// GetAgent implements hub.AgentReader: the state item, then the profile.
func (s *Agents) GetAgent(ctx context.Context, id string) (hub.Agent, error) {
	it, err := s.get(ctx, "get agent", s.t.Agents, agentKey(id))
	if err != nil {
		return hub.Agent{}, err
	}
	a := decodeAgent(it)
	p, err := s.get(ctx, "get agent profile", s.t.Agents, profileKey(id))
	if errors.Is(err, hub.ErrNotFound) {
		return a, nil // never registered
	}
	if err != nil {
		return hub.Agent{}, err
	}
	if h := gs(p, "hostname"); h != "" {
		a.Hostname = h
	}
	a.OS, a.Arch, a.RegisteredAt = gs(p, "os"), gs(p, "arch"), gt(p, "registered_at")
	if a.Cert != nil {
		if pem := gs(p, pemAttr(a.Cert.Fingerprint)); pem != "" {
			a.Cert.PEM = pem // items pinned before the profile keep theirs in the pin
		}
	}
	return a, nil
}

// GetAgentState implements hub.AgentStateReader: the state item alone.
func (s *Agents) GetAgentState(ctx context.Context, id string) (hub.Agent, error) {
	it, err := s.get(ctx, "get agent", s.t.Agents, agentKey(id))
	if err != nil {
		return hub.Agent{}, err
	}
	return decodeAgent(it).WithoutProfile(), nil
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
	return s.updateIf(ctx, op, id, aws.String(expr), agentExistsAnd(cond), n, v)
}

// agentExistsAnd is the condition of an update of an agent that must
// exist and meet cond (none if empty).
func agentExistsAnd(cond string) *string {
	if cond == "" {
		return aws.String("attribute_exists(agent_id)")
	}
	return aws.String("attribute_exists(agent_id) AND (" + cond + ")")
}

// updateIf is update with the expression and the whole condition given as
// the SDK takes them: the ingest's begin and end make theirs once.
func (s *conn) updateIf(ctx context.Context, op, id string, expr, cond *string, n map[string]string, v item) error {
	in := s.agentUpdate(agentKey(id), expr, n, v)
	in.ConditionExpression = cond
	if _, err := s.db.UpdateItem(ctx, in); err != nil {
		return classify(op+" "+id, err)
	}
	return nil
}

// agentUpdate is an UpdateItem of one item of the agents table; empty
// names or values are left out, as DynamoDB requires.
func (s *conn) agentUpdate(key item, expr *string, n map[string]string, v item) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{TableName: s.agents, Key: key, UpdateExpression: expr}
	if len(n) > 0 {
		in.ExpressionAttributeNames = n
	}
	if len(v) > 0 {
		in.ExpressionAttributeValues = v
	}
	return in
}

// PinSigningKey implements hub.PinStore: the TOFU pin, attribute_not_exists.
// The pinned key is the open last entry of the history (signingKeys), so
// the pin writes nothing else and the item every ingest writes stays small
// (docs/dynamodb.md, "Signing-key history").
func (s *Agents) PinSigningKey(ctx context.Context, id string, k []byte, at time.Time) error {
	return s.update(ctx, "pin signing key", id, "SET signing_pubkey = :k, signing_set_at = :t, "+setLogMark,
		"attribute_not_exists(signing_pubkey)", nil, item{":k": vb(k), ":t": vt(at), ":lm": vs(hub.LogMark(hub.KeyPin, at)), ":lp": vs(shardOf(id))})
}

// UnpinSigningKey implements hub.Unpinner: the pin goes and the history h,
// its last entry (the pin) closed, is written in the same write as the
// stored keys it had before, if the pin and those are still as the caller
// read them.
func (s *Agents) UnpinSigningKey(ctx context.Context, id string, h []hub.SigningKey) error {
	if len(h) == 0 {
		return hub.ErrConflict
	}
	last := h[len(h)-1]
	l := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(h))}
	for i, k := range h {
		l.Value[i] = signingKeyValue(k)
	}
	v := item{":k": vb(last.PublicKey), ":t": vt(last.PinnedAt), ":h": l,
		":lm": vs(hub.LogMark(hub.KeyUnpin, last.UnpinnedAt)), ":lp": vs(shardOf(id))}
	cond := "signing_pubkey = :k AND signing_set_at = :t AND attribute_not_exists(signing_keys)"
	if len(h) > 1 {
		cond, v[":n"] = "signing_pubkey = :k AND signing_set_at = :t AND size(signing_keys) = :n", vn(int64(len(h)-1))
	}
	return s.update(ctx, "unpin signing key", id, "SET signing_keys = :h, "+setLogMark+" REMOVE signing_pubkey, signing_set_at", cond, nil, v)
}

// setLogMark is the part of a pin's or unpin's write that marks the agent
// log pending: the mark (lm) and the agent's shard (lp), the key of the
// sparse log-pending index (docs/dynamodb.md); short names, as the item is
// the one every ingest writes.
const setLogMark = "lm = :lm, lp = :lp"

// ClearLogMark implements hub.LogMarks: the agent leaves the log-pending
// index if its mark is still mark.
func (s *conn) ClearLogMark(ctx context.Context, id, mark string) error {
	return s.update(ctx, "clear log-pending mark", id, "REMOVE lm, lp", "lm = :lm", nil, item{":lm": vs(mark)})
}

func signingKeyValue(k hub.SigningKey) types.AttributeValue {
	m := item{"pk": vb(k.PublicKey), "pinned_at": vt(k.PinnedAt)}
	if !k.UnpinnedAt.IsZero() {
		m["unpinned_at"] = vt(k.UnpinnedAt)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// signingKeys is an agent's key history: the keys it had, stored closed in
// signing_keys, then the pinned one, open.
func signingKeys(it item) []hub.SigningKey {
	out := decodeSigningKeys(it)
	if k := gb(it, "signing_pubkey"); len(k) > 0 {
		out = append(out, hub.SigningKey{PublicKey: k, PinnedAt: gt(it, "signing_set_at")})
	}
	return out
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

// PinCert implements hub.PinStore. The certificate's PEM goes to the
// profile first, under its fingerprint, where nothing refers to it until the
// pin does; then the pin, conditional, on the state item; then the PEM of the
// certificate it replaces, which nothing needs any more, is removed.
func (s *Agents) PinCert(ctx context.Context, id string, c hub.CertPin, expect string) error {
	if c.PEM != "" {
		if err := s.profile(ctx, "keep client certificate", id, "SET #pem = :pem", names("#pem", pemAttr(c.Fingerprint)),
			item{":pem": vs(c.PEM)}); err != nil {
			return err
		}
	}
	m := item{"fp": vs(c.Fingerprint), "pub_sha": vs(c.PubKeySHA), "not_after": vt(c.NotAfter), "set_at": vt(c.SetAt)}
	if c.Previous != "" {
		m["previous"] = vs(c.Previous)
	}
	v := item{":c": &types.AttributeValueMemberM{Value: m}}
	cond := "attribute_not_exists(cert)"
	if expect != "" {
		cond, v[":old"] = "cert.fp = :old", vs(expect)
	}
	if err := s.update(ctx, "pin client certificate", id, "SET cert = :c", cond, nil, v); err != nil {
		return err
	}
	if expect == "" || expect == c.Fingerprint {
		return nil
	}
	return s.profile(ctx, "drop replaced client certificate", id, "REMOVE #pem", names("#pem", pemAttr(expect)), nil)
}

// profile runs one UpdateItem on an agent's profile item, which it creates
// if need be.
func (s *Agents) profile(ctx context.Context, op, id, expr string, n map[string]string, v item) error {
	_, err := s.db.UpdateItem(ctx, s.agentUpdate(profileKey(id), aws.String(expr), n, v))
	return classify(op+" "+id, err)
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

// RecordRegistration implements hub.PinStore: the versions on the state
// item (which must exist), then the host's details on the profile.
func (s *Agents) RecordRegistration(ctx context.Context, id string, r hub.Registration) error {
	if err := s.update(ctx, "record registration", id, "SET agent_version = :v, max_agent_version = :mv, last_seen = :t", "", nil,
		item{":v": vs(r.AgentVersion), ":mv": vs(r.MaxAgentVersion), ":t": vt(r.At)}); err != nil {
		return err
	}
	return s.profile(ctx, "record registration details", id, "SET hostname = :h, #os = :os, arch = :a, registered_at = :t",
		names("#os", "os"), item{":h": vs(r.Hostname), ":os": vs(r.OS), ":a": vs(r.Arch), ":t": vt(r.At)})
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

// The begin's and the end's expressions, made once (every ingest writes both).
var (
	beginExpr = aws.String("SET last_seq = :seq, last_batch_sha = :sha, pending = :p, agent_version = :v, max_agent_version = :mv, " +
		"last_seen = :t, last_signed_at = :t, live_at = :t, live_b = :b, live_shard = :sh")
	beginCond = agentExistsAnd("last_seq = :prev AND attribute_not_exists(pending) AND signing_pubkey = :pub")
	endExpr   = aws.String("REMOVE pending")
	endCond   = agentExistsAnd(samePending + " AND attribute_not_exists(pending.#undo)")
)

// BeginBatch implements hub.SeqStore: the commit point of a signed batch.
func (s *Commits) BeginBatch(ctx context.Context, id string, p hub.Pending, pub []byte, version, maxVersion string) error {
	return s.updateIf(ctx, "begin batch", id, beginExpr, beginCond, nil,
		item{":seq": vn(p.Seq), ":sha": vs(p.SHA), ":p": pendingValue(p), ":v": vs(version), ":mv": vs(maxVersion),
			":t": vt(p.At), ":prev": vn(p.PrevSeq), ":pub": vb(pub), ":sh": vs(shardOf(id)), ":b": vt(liveBucket(id, p.At))})
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
	return s.updateIf(ctx, "end batch", id, endExpr, endCond, pendingNames, pendingKey(p, make(item, 3)))
}

// AbortBatch implements hub.SeqStore.
func (s *Commits) AbortBatch(ctx context.Context, id string, p hub.Pending) error {
	return s.update(ctx, "abort batch", id, "SET last_seq = :prev, last_batch_sha = :prevsha REMOVE pending",
		samePending, names("#at", "at"), pendingKey(p, item{":prev": vn(p.PrevSeq), ":prevsha": vs(p.PrevSHA)}))
}

// MarkUnsigned implements hub.UnsignedMarker.
func (s *Commits) MarkUnsigned(ctx context.Context, id string, t time.Time) error {
	return s.update(ctx, "mark unsigned", id, "SET last_unsigned_at = :t, last_seen = :t, live_at = :t, live_b = :b, live_shard = :sh, attn = :sh",
		"", nil, item{":t": vt(t), ":sh": vs(shardOf(id)), ":b": vt(liveBucket(id, t))})
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
