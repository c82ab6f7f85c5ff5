package storetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// Memory is every store of the core in memory, with the same conditional-write
// semantics as the DynamoDB adapter, for unit tests and benchmarks; Run holds
// both to one standard. It is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	creds     map[string]hub.Credential
	tenants   map[string]hub.Tenant
	agents    map[string]hub.Agent
	index     map[string]indexMarks      // agentID: the integrity cycle's sparse indexes
	batches   map[string]hub.StoredBatch // agentID + "|" + key
	anomalies map[string]anomaly.Anomaly // tenant + "|" + id
	audit     map[string]hub.AuditEvent
	packs     map[string]hub.Pack     // tenant + "|" + pack id
	heads     map[string]hub.PackHead // tenant
	keys      map[string]hub.KeyRecord
}

var (
	_ hub.CredentialStore = (*Memory)(nil)
	_ hub.TenantStore     = (*Memory)(nil)
	_ hub.AuditStore      = (*Memory)(nil)
)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{creds: map[string]hub.Credential{}, tenants: map[string]hub.Tenant{}, agents: map[string]hub.Agent{},
		index: map[string]indexMarks{}, batches: map[string]hub.StoredBatch{}, anomalies: map[string]anomaly.Anomaly{},
		audit: map[string]hub.AuditEvent{}, packs: map[string]hub.Pack{}, heads: map[string]hub.PackHead{}, keys: map[string]hub.KeyRecord{}}
}

// Stores is m for every family.
func (m *Memory) Stores() hub.Stores {
	return hub.Stores{Credentials: m, Tenants: m, Agents: m, Commits: m, Attention: m, Batches: m, Anomalies: m, Audit: m, Packs: m, Keys: m}
}

// GetCredential implements hub.CredentialReader.
func (s *Memory) GetCredential(_ context.Context, h string) (hub.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[h]
	if !ok {
		return hub.Credential{}, hub.ErrNotFound
	}
	return c, nil
}

// PutCredential implements hub.CredentialWriter.
func (s *Memory) PutCredential(_ context.Context, c hub.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[c.Hash] = c
	return nil
}

// DeleteCredential implements hub.CredentialWriter.
func (s *Memory) DeleteCredential(_ context.Context, h string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.creds, h)
	return nil
}

// GetTenant implements hub.TenantStore.
func (s *Memory) GetTenant(_ context.Context, id string) (hub.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return hub.Tenant{}, hub.ErrNotFound
	}
	return t, nil
}

// PutTenant implements hub.TenantStore; an existing tenant is left as it is,
// as the DynamoDB adapter does.
func (s *Memory) PutTenant(_ context.Context, t hub.Tenant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.TenantID]; !ok {
		s.tenants[t.TenantID] = t
	}
	return nil
}

// ListTenants implements hub.TenantStore.
func (s *Memory) ListTenants(context.Context) ([]hub.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]hub.Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TenantID < out[j].TenantID })
	return out, nil
}

func clone(a hub.Agent) hub.Agent {
	g := make(map[anomaly.Kind]int64, len(a.AnomalyGen))
	for k, v := range a.AnomalyGen {
		g[k] = v
	}
	a.AnomalyGen = g
	if a.Cert != nil {
		c := *a.Cert
		a.Cert = &c
	}
	if a.Pending != nil {
		p := *a.Pending
		a.Pending = &p
	}
	a.SigningPubKey = bytes.Clone(a.SigningPubKey)
	a.SigningKeys = slices.Clone(a.SigningKeys)
	for i := range a.SigningKeys {
		a.SigningKeys[i].PublicKey = bytes.Clone(a.SigningKeys[i].PublicKey)
	}
	return a
}

// GetAgent implements hub.AgentReader.
func (s *Memory) GetAgent(_ context.Context, id string) (hub.Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[id]
	if !ok {
		return hub.Agent{}, hub.ErrNotFound
	}
	return clone(a), nil
}

// GetAgentState implements hub.AgentReader: the agent without its profile,
// as the DynamoDB adapter reads it.
func (s *Memory) GetAgentState(ctx context.Context, id string) (hub.Agent, error) {
	a, err := s.GetAgent(ctx, id)
	if err != nil {
		return hub.Agent{}, err
	}
	return a.WithoutProfile(), nil
}

// update applies f to an existing agent under the lock; f returns false to fail the condition.
func (s *Memory) update(id string, f func(a *hub.Agent) bool) error {
	return s.updateMarked(id, func(a *hub.Agent, _ *indexMarks) bool { return f(a) })
}

// updateMarked is update that also sees the agent's index marks.
func (s *Memory) updateMarked(id string, f func(a *hub.Agent, m *indexMarks) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[id]
	if !ok {
		return hub.ErrConflict
	}
	a, m := clone(a), s.index[id]
	if !f(&a, &m) {
		return hub.ErrConflict
	}
	s.agents[id], s.index[id] = a, m
	return nil
}

// CreateAgent implements hub.AgentMaker.
func (s *Memory) CreateAgent(_ context.Context, a hub.Agent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.agents[a.AgentID]; ok {
		return hub.ErrConflict
	}
	s.agents[a.AgentID] = clone(a)
	return nil
}

// PinSigningKey implements hub.PinStore.
func (s *Memory) PinSigningKey(_ context.Context, id string, key []byte, at time.Time) error {
	return s.update(id, func(a *hub.Agent) bool {
		if len(a.SigningPubKey) > 0 {
			return false
		}
		a.SigningPubKey, a.SigningSetAt = bytes.Clone(key), at
		a.SigningKeys = append(a.SigningKeys, hub.SigningKey{PublicKey: bytes.Clone(key), PinnedAt: at})
		a.LogMark = hub.LogMark(hub.KeyPin, at)
		return true
	})
}

// UnpinSigningKey implements hub.Unpinner.
func (s *Memory) UnpinSigningKey(_ context.Context, id string, history []hub.SigningKey) error {
	return s.update(id, func(a *hub.Agent) bool {
		if len(history) == 0 {
			return false
		}
		last := history[len(history)-1]
		// No stored history: an agent pinned before histories were kept,
		// whose one entry is KeyHistory's fallback.
		seen := len(a.SigningKeys) == len(history) || len(a.SigningKeys) == 0 && len(history) == 1
		if !seen || !bytes.Equal(a.SigningPubKey, last.PublicKey) || !a.SigningSetAt.Equal(last.PinnedAt) {
			return false
		}
		a.SigningPubKey, a.SigningSetAt = nil, time.Time{}
		a.SigningKeys = slices.Clone(history)
		a.LogMark = hub.LogMark(hub.KeyUnpin, last.UnpinnedAt)
		return true
	})
}

// ClearLogMark implements hub.LogMarks.
func (s *Memory) ClearLogMark(_ context.Context, id, mark string) error {
	return s.update(id, func(a *hub.Agent) bool {
		if a.LogMark == "" || a.LogMark != mark {
			return false
		}
		a.LogMark = ""
		return true
	})
}

// PinCert implements hub.PinStore.
func (s *Memory) PinCert(_ context.Context, id string, c hub.CertPin, expect string) error {
	return s.update(id, func(a *hub.Agent) bool {
		cur := ""
		if a.Cert != nil {
			cur = a.Cert.Fingerprint
		}
		if cur != expect {
			return false
		}
		a.Cert = &c
		return true
	})
}

// UnpinCert implements hub.Unpinner.
func (s *Memory) UnpinCert(_ context.Context, id string) error {
	return s.update(id, func(a *hub.Agent) bool { a.Cert = nil; return true })
}

// ReplaceToken implements hub.AgentMaker.
func (s *Memory) ReplaceToken(_ context.Context, id, newHash, oldHash string) error {
	return s.update(id, func(a *hub.Agent) bool {
		if a.TokenHash != oldHash {
			return false
		}
		a.TokenHash = newHash
		return true
	})
}

// RecordRegistration implements hub.PinStore.
func (s *Memory) RecordRegistration(_ context.Context, id string, r hub.Registration) error {
	return s.update(id, func(a *hub.Agent) bool {
		a.Hostname, a.AgentVersion, a.OS, a.Arch, a.MaxAgentVersion = r.Hostname, r.AgentVersion, r.OS, r.Arch, r.MaxAgentVersion
		a.RegisteredAt, a.LastSeen = r.At, r.At
		return true
	})
}

// BeginBatch implements hub.SeqStore.
func (s *Memory) BeginBatch(_ context.Context, id string, p hub.Pending, pub []byte, version, maxVersion string) error {
	return s.updateMarked(id, func(a *hub.Agent, m *indexMarks) bool {
		if a.LastSeq != p.PrevSeq || a.Pending != nil || !bytes.Equal(a.SigningPubKey, pub) {
			return false
		}
		a.LastSeq, a.LastBatchSHA, a.Pending = p.Seq, p.SHA, &p
		a.AgentVersion, a.MaxAgentVersion = version, maxVersion
		a.LastSeen, a.LastSignedAt, a.LiveAt = p.At, p.At, p.At
		m.live = true
		return true
	})
}

// samePending reports whether the agent's marker is p's: seq, sha and at.
func samePending(a *hub.Agent, p hub.Pending) bool {
	return a.Pending != nil && a.Pending.Seq == p.Seq && a.Pending.SHA == p.SHA && a.Pending.At.Equal(p.At)
}

// ClaimBatch implements hub.ClaimStore.
func (s *Memory) ClaimBatch(_ context.Context, id string, seen, next hub.Pending) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !samePending(a, seen) || a.Pending.Undo != seen.Undo {
			return false
		}
		a.Pending = &next
		return true
	})
}

// EndBatch implements hub.ClaimStore.
func (s *Memory) EndBatch(_ context.Context, id string, p hub.Pending) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !samePending(a, p) || a.Pending.Undo {
			return false
		}
		a.Pending = nil
		return true
	})
}

// AbortBatch implements hub.SeqStore.
func (s *Memory) AbortBatch(_ context.Context, id string, p hub.Pending) error {
	return s.update(id, func(a *hub.Agent) bool {
		if !samePending(a, p) {
			return false
		}
		a.LastSeq, a.LastBatchSHA, a.Pending = p.PrevSeq, p.PrevSHA, nil
		return true
	})
}

// MarkUnsigned implements hub.UnsignedMarker.
func (s *Memory) MarkUnsigned(_ context.Context, id string, t time.Time) error {
	return s.updateMarked(id, func(a *hub.Agent, m *indexMarks) bool {
		a.LastUnsignedAt, a.LastSeen, a.LiveAt = t, t, t
		m.live, m.attn = true, true
		return true
	})
}

// BumpAnomalyGen implements hub.AnomalyGens.
func (s *Memory) BumpAnomalyGen(_ context.Context, id string, k anomaly.Kind, from int64) error {
	return s.update(id, func(a *hub.Agent) bool {
		if a.AnomalyGen[k] != from {
			return false
		}
		a.AnomalyGen[k] = from + 1
		return true
	})
}

// PutBatch implements hub.BatchWriter.
func (s *Memory) PutBatch(_ context.Context, b hub.StoredBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches[b.AgentID+"|"+b.Key] = cloneBatch(b)
	return nil
}

// cloneBatch copies the slices of b, so that neither the writer nor a reader
// shares them with the store.
func cloneBatch(b hub.StoredBatch) hub.StoredBatch {
	b.Body, b.Days = bytes.Clone(b.Body), slices.Clone(b.Days)
	return b
}

// PutBatchIndex implements hub.BatchWriter: this store keeps no separate
// index, a stored batch is found by its period as it is.
func (s *Memory) PutBatchIndex(context.Context, hub.StoredBatch) error { return nil }

// GetBatch implements hub.BatchReader.
func (s *Memory) GetBatch(_ context.Context, agentID, key string) (hub.StoredBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.batches[agentID+"|"+key]
	if !ok {
		return hub.StoredBatch{}, hub.ErrNotFound
	}
	return cloneBatch(b), nil
}

// DeleteBatch implements hub.BatchWriter.
func (s *Memory) DeleteBatch(_ context.Context, b hub.StoredBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.batches, b.AgentID+"|"+b.Key)
	return nil
}

// PeriodBatches implements hub.PeriodReader: the tenant's batches whose
// records span a time in [from, to] (to's whole second), by agent and key.
func (s *Memory) PeriodBatches(_ context.Context, tenantID string, from, to time.Time, fn func(hub.StoredBatch) error) error {
	end := to.Add(time.Second)
	s.mu.Lock()
	var out []hub.StoredBatch
	for _, b := range s.batches {
		if b.TenantID == tenantID && len(b.Days) > 0 && !b.MinTS.After(end) && !b.MaxTS.Before(from) {
			out = append(out, cloneBatch(b))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].AgentID < out[j].AgentID || out[i].AgentID == out[j].AgentID && out[i].Key < out[j].Key
	})
	for _, b := range out {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// SignedBatches implements hub.ChainReader.
func (s *Memory) SignedBatches(_ context.Context, agentID string, from, to int64, fn func(hub.StoredBatch) error) error {
	s.mu.Lock()
	var out []hub.StoredBatch
	for _, b := range s.batches {
		if b.AgentID == agentID && b.Signed && b.Seq >= from && b.Seq <= to {
			out = append(out, cloneBatch(b))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y hub.StoredBatch) int { return cmp.Compare(x.Seq, y.Seq) })
	for _, b := range out {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// Batches returns every stored batch of an agent, by key (tests only).
func (s *Memory) Batches(agentID string) []hub.StoredBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hub.StoredBatch
	for k, b := range s.batches {
		if strings.HasPrefix(k, agentID+"|") {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// RaiseAnomaly implements hub.AnomalyRaiser.
func (s *Memory) RaiseAnomaly(_ context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error) {
	a, _, err := s.upsertAnomaly(e, gen, func(anomaly.Anomaly) bool { return false })
	if err != nil {
		return anomaly.Anomaly{}, err
	}
	return a, nil
}

// upsertAnomaly opens the anomaly of generation gen or folds e into it when
// it is open, unless alone says to leave it (false); hub.ErrClosed when that
// generation is closed.
func (s *Memory) upsertAnomaly(e anomaly.Event, gen int64, alone func(anomaly.Anomaly) bool) (anomaly.Anomaly, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := e.TenantID + "|" + anomaly.ID(e.AgentID, e.Kind, gen)
	a, ok := s.anomalies[k]
	switch {
	case !ok:
		a = anomaly.New(e, gen)
	case a.Counted(e):
		return a, false, nil
	case a.Status == anomaly.Closed:
		return a, false, hub.ErrClosed
	case alone(a):
		return a, false, nil
	default:
		a = a.Repeat(e)
	}
	s.anomalies[k] = a
	return a, true, nil
}

// RefreshAnomaly implements hub.AnomalyCycle.
func (s *Memory) RefreshAnomaly(_ context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error) {
	return s.upsertAnomaly(e, gen, func(a anomaly.Anomaly) bool { return a.LastSeen.After(e.At.Add(-every)) })
}

// CloseAnomaly implements hub.AnomalyCycle.
func (s *Memory) CloseAnomaly(_ context.Context, tenant, id string, t time.Time, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenant + "|" + id
	a, ok := s.anomalies[k]
	switch {
	case !ok:
		return hub.ErrNotFound
	case a.Status != anomaly.Open:
		return hub.ErrConflict
	}
	s.anomalies[k] = a.Close(t, reason)
	return nil
}

// ListAnomalies implements hub.AnomalyLister; the cursor is the last id returned.
func (s *Memory) ListAnomalies(_ context.Context, tenant string, f anomaly.Filter, cursor string, limit int) (hub.AnomalyPage, error) {
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return hub.AnomalyPage{}, hub.ErrBadCursor
		}
		after = string(b)
	}
	s.mu.Lock()
	var all []anomaly.Anomaly
	for k, a := range s.anomalies {
		if strings.HasPrefix(k, tenant+"|") && f.Match(a) && a.ID > after {
			all = append(all, a)
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	p := hub.AnomalyPage{Anomalies: all}
	if len(all) > limit {
		p.Anomalies = all[:limit]
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(all[limit-1].ID))
	}
	return p, nil
}

// AppendAudit implements hub.AuditSink.
func (s *Memory) AppendAudit(_ context.Context, e hub.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit[e.TenantID+"|"+e.ID] = e
	return nil
}

// Audit implements hub.AuditReader.
func (s *Memory) Audit(_ context.Context, tenant string, from, to time.Time) ([]hub.AuditEvent, error) {
	var out []hub.AuditEvent
	for _, e := range s.AuditLog(tenant) {
		if !e.At.Before(from) && e.At.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Audited returns the tenant's audit events of one action, oldest first
// (tests only).
func (s *Memory) Audited(tenant, action string) []hub.AuditEvent {
	var out []hub.AuditEvent
	for _, e := range s.AuditLog(tenant) {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// AuditLog returns the audit events of a tenant, oldest first (tests only).
func (s *Memory) AuditLog(tenant string) []hub.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hub.AuditEvent
	for k, e := range s.audit {
		if strings.HasPrefix(k, tenant+"|") {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].At.Before(out[j].At) || out[i].At.Equal(out[j].At) && out[i].ID < out[j].ID
	})
	return out
}

// memShards is how many partitions of the time index each day of a tenant
// has in Memory: as in DynamoDB, a pass is fanned out over days × shards.
const memShards = 4

// ExpiryShards implements hub.BatchExpirer.
func (s *Memory) ExpiryShards() int { return memShards }

func memShard(agentID string) int {
	h := fnv.New32a()
	h.Write([]byte(agentID))
	return int(h.Sum32() % memShards)
}

// ExpirePart implements hub.BatchExpirer over the entries the time index
// would hold: one per batch, day and shard, "<agent_id>#<batch_key>".
func (s *Memory) ExpirePart(_ context.Context, sc hub.ExpiryScope, part hub.ExpiryPart, cursor string, limit int) (hub.ExpiryPage, error) {
	day := part.Day.UTC().Format("2006-01-02")
	end := sc.To.Add(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []string
	for k, b := range s.batches {
		if b.TenantID == sc.TenantID && memShard(b.AgentID) == part.Shard && slices.Contains(b.Days, day) && b.AgentID+"#"+b.Key > cursor {
			entries = append(entries, k)
		}
	}
	slices.SortFunc(entries, func(x, y string) int {
		return strings.Compare(s.batches[x].AgentID+"#"+s.batches[x].Key, s.batches[y].AgentID+"#"+s.batches[y].Key)
	})
	var pg hub.ExpiryPage
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
		last := s.batches[entries[limit-1]]
		pg.Cursor = last.AgentID + "#" + last.Key
	}
	for _, k := range entries {
		b := s.batches[k]
		if !b.MinTS.Before(sc.From) && b.MaxTS.Before(end) && b.ReceivedAt.Before(sc.ReceivedBefore) {
			b.ExpireAt = sc.At.Truncate(time.Second)
			s.batches[k] = b
			if b.MinTS.UTC().Format("2006-01-02") == day {
				pg.Marked++
			}
		}
	}
	return pg, nil
}
