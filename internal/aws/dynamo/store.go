package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/cred"
	"github.com/monsys/hub/internal/hub"
)

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store implements hub.Store on DynamoDB.
type Store struct {
	db API
	t  Tables
}

var _ hub.Store = (*Store)(nil)

// New returns a store over the given tables.
func New(db API, t Tables) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("dynamo: nil client")
	}
	for _, n := range []string{t.Credentials, t.Tenants, t.Agents, t.Batches, t.BatchIndex, t.Anomalies, t.Audit} {
		if n == "" {
			return nil, fmt.Errorf("dynamo: every table name is required, got %+v", t)
		}
	}
	return &Store{db: db, t: t}, nil
}

func (s *Store) get(ctx context.Context, op, table string, k item) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, classify(op, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("%s: %w", op, hub.ErrNotFound)
	}
	return out.Item, nil
}

// --- credentials and tenants

// GetCredential implements hub.CredentialStore.
func (s *Store) GetCredential(ctx context.Context, h string) (hub.Credential, error) {
	it, err := s.get(ctx, "get credential", s.t.Credentials, item{"hash": vs(h)})
	if err != nil {
		return hub.Credential{}, err
	}
	return hub.Credential{Hash: h, Kind: cred.Kind(gs(it, "kind")), TenantID: gs(it, "tenant_id"),
		AgentID: gs(it, "agent_id"), CreatedAt: gt(it, "created_at")}, nil
}

// PutCredential implements hub.CredentialStore.
func (s *Store) PutCredential(ctx context.Context, c hub.Credential) error {
	it := item{"hash": vs(c.Hash), "kind": vs(string(c.Kind)), "tenant_id": vs(c.TenantID), "created_at": vt(c.CreatedAt)}
	if c.AgentID != "" {
		it["agent_id"] = vs(c.AgentID)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Credentials), Item: it})
	return classify("put credential", err)
}

// DeleteCredential implements hub.CredentialStore.
func (s *Store) DeleteCredential(ctx context.Context, h string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.Credentials), Key: item{"hash": vs(h)}})
	return classify("delete credential", err)
}

// GetTenant implements hub.TenantStore.
func (s *Store) GetTenant(ctx context.Context, id string) (hub.Tenant, error) {
	it, err := s.get(ctx, "get tenant", s.t.Tenants, item{"tenant_id": vs(id)})
	if err != nil {
		return hub.Tenant{}, err
	}
	return hub.Tenant{TenantID: id, CreatedAt: gt(it, "created_at")}, nil
}

// PutTenant implements hub.TenantStore; an existing tenant is left as it is.
func (s *Store) PutTenant(ctx context.Context, t hub.Tenant) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Tenants),
		Item:                item{"tenant_id": vs(t.TenantID), "created_at": vt(t.CreatedAt)},
		ConditionExpression: aws.String("attribute_not_exists(tenant_id)")})
	err = classify("put tenant", err)
	if err != nil && errors.Is(err, hub.ErrConflict) {
		return nil
	}
	return err
}

// --- agents

func agentKey(id string) item { return item{"agent_id": vs(id)} }

func decodeAgent(it item) hub.Agent {
	a := hub.Agent{
		TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"), TokenHash: gs(it, "token_hash"),
		Hostname: gs(it, "hostname"), OS: gs(it, "os"), Arch: gs(it, "arch"),
		AgentVersion: gs(it, "agent_version"), MaxAgentVersion: gs(it, "max_agent_version"),
		SigningPubKey: gb(it, "signing_pubkey"), SigningSetAt: gt(it, "signing_set_at"),
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
func (s *Store) GetAgent(ctx context.Context, id string) (hub.Agent, error) {
	it, err := s.get(ctx, "get agent", s.t.Agents, agentKey(id))
	if err != nil {
		return hub.Agent{}, err
	}
	return decodeAgent(it), nil
}

// CreateAgent implements hub.AgentWriter.
func (s *Store) CreateAgent(ctx context.Context, a hub.Agent) error {
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
func (s *Store) update(ctx context.Context, op, id, expr, cond string, n map[string]string, v item) error {
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

// PinSigningKey implements hub.AgentWriter: the TOFU pin, attribute_not_exists.
func (s *Store) PinSigningKey(ctx context.Context, id string, k []byte, at time.Time) error {
	return s.update(ctx, "pin signing key", id, "SET signing_pubkey = :k, signing_set_at = :t",
		"attribute_not_exists(signing_pubkey)", nil, item{":k": vb(k), ":t": vt(at)})
}

// UnpinSigningKey implements hub.AgentWriter.
func (s *Store) UnpinSigningKey(ctx context.Context, id string) error {
	return s.update(ctx, "unpin signing key", id, "REMOVE signing_pubkey, signing_set_at", "", nil, nil)
}

// PinCert implements hub.AgentWriter.
func (s *Store) PinCert(ctx context.Context, id string, c hub.CertPin, expect string) error {
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

// UnpinCert implements hub.AgentWriter.
func (s *Store) UnpinCert(ctx context.Context, id string) error {
	return s.update(ctx, "unpin client certificate", id, "REMOVE cert", "", nil, nil)
}

// ReplaceToken implements hub.AgentWriter.
func (s *Store) ReplaceToken(ctx context.Context, id, newHash, oldHash string) error {
	return s.update(ctx, "replace token", id, "SET token_hash = :n", "token_hash = :o", nil,
		item{":n": vs(newHash), ":o": vs(oldHash)})
}

// RecordRegistration implements hub.AgentWriter.
func (s *Store) RecordRegistration(ctx context.Context, id string, r hub.Registration) error {
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

// BeginBatch implements hub.AgentWriter: the commit point of a signed batch.
func (s *Store) BeginBatch(ctx context.Context, id string, p hub.Pending, pub []byte, version, maxVersion string) error {
	return s.update(ctx, "begin batch", id,
		"SET last_seq = :seq, last_batch_sha = :sha, pending = :p, agent_version = :v, max_agent_version = :mv, last_seen = :t, last_signed_at = :t, "+
			"live_at = :t, live_shard = :sh",
		"last_seq = :prev AND attribute_not_exists(pending) AND signing_pubkey = :pub", nil,
		item{":seq": vn(p.Seq), ":sha": vs(p.SHA), ":p": pendingValue(p), ":v": vs(version), ":mv": vs(maxVersion),
			":t": vt(p.At), ":prev": vn(p.PrevSeq), ":pub": vb(pub), ":sh": vs(shardOf(id))})
}

// ClaimBatch implements hub.AgentWriter.
func (s *Store) ClaimBatch(ctx context.Context, id string, seen, next hub.Pending) error {
	undo := "attribute_not_exists(pending.#undo)"
	v := pendingKey(seen, item{":p": pendingValue(next)})
	if seen.Undo {
		undo, v[":true"] = "pending.#undo = :true", vbool(true)
	}
	return s.update(ctx, "claim batch", id, "SET pending = :p", samePending+" AND "+undo, pendingNames, v)
}

// EndBatch implements hub.AgentWriter.
func (s *Store) EndBatch(ctx context.Context, id string, p hub.Pending) error {
	return s.update(ctx, "end batch", id, "REMOVE pending", samePending+" AND attribute_not_exists(pending.#undo)",
		pendingNames, pendingKey(p, item{}))
}

// AbortBatch implements hub.AgentWriter.
func (s *Store) AbortBatch(ctx context.Context, id string, p hub.Pending) error {
	return s.update(ctx, "abort batch", id, "SET last_seq = :prev, last_batch_sha = :prevsha REMOVE pending",
		samePending, names("#at", "at"), pendingKey(p, item{":prev": vn(p.PrevSeq), ":prevsha": vs(p.PrevSHA)}))
}

// MarkUnsigned implements hub.AgentWriter.
func (s *Store) MarkUnsigned(ctx context.Context, id string, t time.Time) error {
	return s.update(ctx, "mark unsigned", id, "SET last_unsigned_at = :t, last_seen = :t, live_at = :t, live_shard = :sh, attn = :sh",
		"", nil, item{":t": vt(t), ":sh": vs(shardOf(id))})
}

// BumpAnomalyGen implements hub.AgentWriter.
func (s *Store) BumpAnomalyGen(ctx context.Context, id string, k anomaly.Kind, from int64) error {
	cond := "#g = :from"
	if from == 0 {
		cond = "attribute_not_exists(#g) OR #g = :from"
	}
	return s.update(ctx, "bump anomaly generation", id, "SET #g = :next", cond, names("#g", "gen_"+string(k)),
		item{":from": vn(from), ":next": vn(from + 1)})
}

// --- batches and their time index

func indexShard(agentID string) int {
	h := fnv.New32a()
	h.Write([]byte(agentID))
	return int(h.Sum32() % IndexShards)
}

// IndexPartition is the batch-index partition of a tenant, day and shard.
func IndexPartition(tenant, day string, shard int) string {
	return tenant + "#" + day + "#" + strconv.Itoa(shard)
}

func indexEntry(b hub.StoredBatch) string { return b.AgentID + "#" + b.Key }

// PutBatch implements hub.BatchStore: one index entry per day the batch's
// records fall on, then the batch item. The item comes last so that a batch
// that can be read has all its entries; a crash in between leaves entries
// without a batch, which pack reads skip and the batch's retry completes.
func (s *Store) PutBatch(ctx context.Context, b hub.StoredBatch) error {
	if err := s.PutBatchIndex(ctx, b); err != nil {
		return err
	}
	it := item{"agent_id": vs(b.AgentID), "batch_key": vs(b.Key), "tenant_id": vs(b.TenantID), "sha256": vs(b.SHA),
		"signed": vbool(b.Signed), "body": vb(b.Body), "records": vn(int64(b.Records)), "received_at": vt(b.ReceivedAt)}
	if b.Signed {
		it["seq"], it["signature"] = vn(b.Seq), vs(b.Signature)
	}
	if len(b.Days) > 0 {
		it["min_ts"], it["max_ts"] = vt(b.MinTS), vt(b.MaxTS)
		it["days"] = &types.AttributeValueMemberSS{Value: b.Days}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Batches), Item: it})
	return classify("put batch", err)
}

// PutBatchIndex implements hub.BatchStore: one idempotent put per day.
func (s *Store) PutBatchIndex(ctx context.Context, b hub.StoredBatch) error {
	shard := indexShard(b.AgentID)
	for _, d := range b.Days {
		e := item{"tday": vs(IndexPartition(b.TenantID, d, shard)), "entry": vs(indexEntry(b)),
			"agent_id": vs(b.AgentID), "batch_key": vs(b.Key), "min_ts": vt(b.MinTS), "max_ts": vt(b.MaxTS)}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.BatchIndex), Item: e}); err != nil {
			return classify("put batch index "+d, err)
		}
	}
	return nil
}

// GetBatch implements hub.BatchStore.
func (s *Store) GetBatch(ctx context.Context, agentID, k string) (hub.StoredBatch, error) {
	it, err := s.get(ctx, "get batch", s.t.Batches, item{"agent_id": vs(agentID), "batch_key": vs(k)})
	if err != nil {
		return hub.StoredBatch{}, err
	}
	return decodeBatch(it), nil
}

func decodeBatch(it item) hub.StoredBatch {
	b := hub.StoredBatch{TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"), Key: gs(it, "batch_key"),
		Seq: gn(it, "seq"), SHA: gs(it, "sha256"), Signed: gbool(it, "signed"), Signature: gs(it, "signature"),
		Body: gb(it, "body"), Records: int(gn(it, "records")), MinTS: gt(it, "min_ts"), MaxTS: gt(it, "max_ts"),
		ReceivedAt: gt(it, "received_at")}
	if v, ok := it["days"].(*types.AttributeValueMemberSS); ok {
		b.Days = v.Value
	}
	return b
}

// DeleteBatch implements hub.BatchStore: index entries first, then the
// batch item, so that a crash in between leaves the item that says which
// entries to delete (only a batch being undone is deleted, and nobody ends it).
func (s *Store) DeleteBatch(ctx context.Context, b hub.StoredBatch) error {
	shard := indexShard(b.AgentID)
	for _, d := range b.Days {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.BatchIndex),
			Key: item{"tday": vs(IndexPartition(b.TenantID, d, shard)), "entry": vs(indexEntry(b))}})
		if err != nil {
			return classify("delete batch index "+d, err)
		}
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.t.Batches),
		Key: item{"agent_id": vs(b.AgentID), "batch_key": vs(b.Key)}})
	return classify("delete batch", err)
}

// --- anomalies

func decodeAnomaly(it item) anomaly.Anomaly {
	a := anomaly.Anomaly{ID: gs(it, "anomaly_id"), TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"),
		Kind: anomaly.Kind(gs(it, "kind")), Severity: anomaly.Severity(gs(it, "severity")), Status: anomaly.Status(gs(it, "status")),
		FirstSeen: gt(it, "first_seen"), LastSeen: gt(it, "last_seen"), Count: gn(it, "count"), Detail: gs(it, "detail"),
		Generation: gn(it, "gen")}
	if t := gt(it, "closed_at"); !t.IsZero() {
		a.ClosedAt = &t
	}
	if r, ok := it["closed_reason"].(*types.AttributeValueMemberS); ok {
		a.ClosedReason = &r.Value
	}
	return a
}

// RaiseAnomaly implements hub.AnomalyStore with one conditional upsert of the
// generation's item, then (rarely) a second conditional write that escalates
// the severity.
func (s *Store) RaiseAnomaly(ctx context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error) {
	a, _, err := s.upsertAnomaly(ctx, e, gen, "attribute_not_exists(#st) OR #st = :open", nil)
	return a, err
}

// RefreshAnomaly implements hub.IntegrityStore: the raise, conditional also
// on the open anomaly's last_seen being at least every old.
func (s *Store) RefreshAnomaly(ctx context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error) {
	return s.upsertAnomaly(ctx, e, gen, "attribute_not_exists(#st) OR (#st = :open AND last_seen <= :cutoff)",
		item{":cutoff": vt(e.At.Add(-every))})
}

func (s *Store) upsertAnomaly(ctx context.Context, e anomaly.Event, gen int64, cond string, extra item) (anomaly.Anomaly, bool, error) {
	id := anomaly.ID(e.AgentID, e.Kind, gen)
	k := item{"tenant_id": vs(e.TenantID), "anomaly_id": vs(id)}
	v := item{":a": vs(e.AgentID), ":k": vs(string(e.Kind)), ":g": vn(gen), ":t": vt(e.At),
		":d": vs(e.Detail), ":open": vs(string(anomaly.Open)), ":sev": vs(string(e.Severity)),
		":rank": vn(int64(e.Severity.Rank())), ":one": vn(1)}
	for kk, vv := range extra {
		v[kk] = vv
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Anomalies), Key: k,
		UpdateExpression: aws.String("SET agent_id = :a, kind = :k, gen = :g, first_seen = if_not_exists(first_seen, :t), " +
			"last_seen = :t, detail = :d, #st = if_not_exists(#st, :open), severity = if_not_exists(severity, :sev), " +
			"severity_rank = if_not_exists(severity_rank, :rank) ADD #c :one"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names("#st", "status", "#c", "count"),
		ExpressionAttributeValues: v,
		ReturnValues:              types.ReturnValueAllNew})
	if err := classify("raise anomaly", err); err != nil {
		if !errors.Is(err, hub.ErrConflict) {
			return anomaly.Anomaly{}, false, err
		}
		// Lost the condition: closed (move on a generation) or refreshed recently (nothing to do).
		cur, gerr := s.get(ctx, "read anomaly", s.t.Anomalies, k)
		if gerr != nil {
			return anomaly.Anomaly{}, false, gerr
		}
		a := decodeAnomaly(cur)
		if a.Status == anomaly.Closed {
			return a, false, fmt.Errorf("raise anomaly %s: %w", id, hub.ErrClosed)
		}
		return a, false, nil
	}
	a := decodeAnomaly(out.Attributes)
	if e.Severity.Rank() > a.Severity.Rank() {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Anomalies), Key: k,
			UpdateExpression:         aws.String("SET severity = :sev, severity_rank = :rank"),
			ConditionExpression:      aws.String("severity_rank < :rank AND #st = :open"),
			ExpressionAttributeNames: names("#st", "status"),
			ExpressionAttributeValues: item{":sev": vs(string(e.Severity)), ":rank": vn(int64(e.Severity.Rank())),
				":open": vs(string(anomaly.Open))}})
		if err := classify("escalate anomaly", err); err != nil && !errors.Is(err, hub.ErrConflict) {
			return a, true, err
		}
		a.Severity = e.Severity
	}
	return a, true, nil
}

// CloseAnomaly closes the open anomaly id of tenant at t for reason, with a
// write conditional on status open: hub.ErrNotFound when there is no such
// anomaly, hub.ErrConflict when it is already closed.
func (s *Store) CloseAnomaly(ctx context.Context, tenant, id string, t time.Time, reason string) error {
	k := item{"tenant_id": vs(tenant), "anomaly_id": vs(id)}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Anomalies), Key: k,
		UpdateExpression:         aws.String("SET #st = :closed, closed_at = :t, closed_reason = :r"),
		ConditionExpression:      aws.String("#st = :open"),
		ExpressionAttributeNames: names("#st", "status"),
		ExpressionAttributeValues: item{":closed": vs(string(anomaly.Closed)), ":open": vs(string(anomaly.Open)),
			":t": vt(t), ":r": vs(reason)}})
	err = classify("close anomaly "+id, err)
	if !errors.Is(err, hub.ErrConflict) {
		return err
	}
	// The condition also fails on a missing item: tell the two apart.
	if _, gerr := s.get(ctx, "close anomaly "+id, s.t.Anomalies, k); gerr != nil {
		return gerr
	}
	return err
}

const cursorPrefix = "v1:"

// validAnomalyKey reports whether a cursor's anomaly id can be a sort key:
// an anomaly id (an_...), valid UTF-8, within DynamoDB's 1024 bytes.
func validAnomalyKey(id string) bool {
	return strings.HasPrefix(id, "an_") && len(id) <= 1024 && utf8.ValidString(id)
}

// ListAnomalies implements hub.AnomalyStore: one tenant partition, narrowed to
// one agent by key prefix, filtered by status and kind, paged by anomaly id.
func (s *Store) ListAnomalies(ctx context.Context, tenant string, f anomaly.Filter, cursor string, limit int) (hub.AnomalyPage, error) {
	var start item
	after := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var ok bool
		// What it decodes to becomes a key: it must be one DynamoDB takes.
		if after, ok = strings.CutPrefix(string(raw), cursorPrefix); err != nil || !ok || !validAnomalyKey(after) {
			return hub.AnomalyPage{}, hub.ErrBadCursor
		}
		start = item{"tenant_id": vs(tenant), "anomaly_id": vs(after)}
	}
	kc := "tenant_id = :t"
	v := item{":t": vs(tenant)}
	if f.AgentID != "" {
		p := "an_" + f.AgentID + "."
		kc += " AND begins_with(anomaly_id, :p)"
		v[":p"] = vs(p)
		// A cursor means "after this id" and may come from a listing with
		// another agent filter; DynamoDB refuses a start key outside the
		// begins_with range, so clamp it to that range.
		switch {
		case start == nil || strings.HasPrefix(after, p):
		case after < p:
			start = nil
		default:
			return hub.AnomalyPage{}, nil
		}
	}
	var filters []string
	n := map[string]string{}
	if f.Status != "" {
		filters, n["#st"], v[":st"] = append(filters, "#st = :st"), "status", vs(string(f.Status))
	}
	if f.Kind != "" {
		filters, n["#k"], v[":k"] = append(filters, "#k = :k"), "kind", vs(string(f.Kind))
	}
	var page hub.AnomalyPage
	for {
		in := &dynamodb.QueryInput{TableName: aws.String(s.t.Anomalies), KeyConditionExpression: aws.String(kc),
			ExpressionAttributeValues: v, ExclusiveStartKey: start, Limit: aws.Int32(int32(limit + 1)), ConsistentRead: aws.Bool(true)}
		if len(filters) > 0 {
			in.FilterExpression, in.ExpressionAttributeNames = aws.String(strings.Join(filters, " AND ")), n
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return hub.AnomalyPage{}, classify("list anomalies", err)
		}
		for _, it := range out.Items {
			if len(page.Anomalies) == limit {
				last := page.Anomalies[limit-1].ID
				page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + last))
				return page, nil
			}
			page.Anomalies = append(page.Anomalies, decodeAnomaly(it))
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		start = out.LastEvaluatedKey
	}
}

// --- audit

// AppendAudit implements hub.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, e hub.AuditEvent) error {
	it := item{"tenant_id": vs(e.TenantID), "event_id": vs(e.ID), "at": vt(e.At), "action": vs(e.Action), "actor": vs(e.Actor)}
	if e.AgentID != "" {
		it["agent_id"] = vs(e.AgentID)
	}
	if len(e.Detail) > 0 {
		m := item{}
		for k, val := range e.Detail {
			m[k] = vs(val)
		}
		it["detail"] = &types.AttributeValueMemberM{Value: m}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.t.Audit), Item: it})
	return classify("append audit", err)
}

// Audit lists a tenant's audit events in [from, to), oldest first.
func (s *Store) Audit(ctx context.Context, tenant string, from, to time.Time) ([]hub.AuditEvent, error) {
	var out []hub.AuditEvent
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.t.Audit), IndexName: aws.String(AuditByTime),
			KeyConditionExpression:    aws.String("tenant_id = :t AND #at BETWEEN :f AND :u"),
			ExpressionAttributeNames:  names("#at", "at"),
			ExpressionAttributeValues: item{":t": vs(tenant), ":f": vt(from), ":u": vt(to)}, ExclusiveStartKey: start})
		if err != nil {
			return nil, classify("query audit", err)
		}
		for _, it := range res.Items {
			e := hub.AuditEvent{TenantID: tenant, ID: gs(it, "event_id"), At: gt(it, "at"), Action: gs(it, "action"),
				Actor: gs(it, "actor"), AgentID: gs(it, "agent_id")}
			if m := gm(it, "detail"); m != nil {
				e.Detail = map[string]string{}
				for k := range m {
					e.Detail[k] = gs(m, k)
				}
			}
			if e.At.Before(to) {
				out = append(out, e)
			}
		}
		if res.LastEvaluatedKey == nil {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}
