package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

var (
	_ hub.PackStore = (*Memory)(nil)
	_ hub.KeyStore  = (*Memory)(nil)
)

// headID is the pack id the DynamoDB adapter keeps a tenant's chain head
// under: never a pack.
const headID = "_head"

// CreatePack implements hub.PackRecords.
func (s *Memory) CreatePack(_ context.Context, p hub.Pack) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := p.TenantID + "|" + p.PackID
	if _, ok := s.packs[k]; ok || p.PackID == headID {
		return fmt.Errorf("create pack %s: %w", p.PackID, hub.ErrConflict)
	}
	s.packs[k] = clonePack(p)
	return nil
}

// GetPack implements hub.PackRecords.
func (s *Memory) GetPack(_ context.Context, tenantID, packID string) (hub.Pack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.packs[tenantID+"|"+packID]
	if !ok {
		return hub.Pack{}, fmt.Errorf("get pack %s: %w", packID, hub.ErrNotFound)
	}
	return clonePack(p), nil
}

// FinishPack implements hub.PackRecords.
func (s *Memory) FinishPack(_ context.Context, p hub.Pack) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := p.TenantID + "|" + p.PackID
	if cur, ok := s.packs[k]; !ok || cur.Status != hub.PackPending {
		return fmt.Errorf("finish pack %s: %w", p.PackID, hub.ErrConflict)
	}
	s.packs[k] = clonePack(p)
	return nil
}

// AcquireBuild implements hub.BuildLease.
func (s *Memory) AcquireBuild(_ context.Context, tenantID, packID string, until, now time.Time) (hub.PackHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.heads[tenantID]
	if h.Building != "" && h.Building != packID && !h.LeaseUntil.Before(now) {
		return hub.PackHead{}, fmt.Errorf("acquire build of %s: %w", tenantID, hub.ErrConflict)
	}
	h.Building, h.LeaseUntil = packID, until
	s.heads[tenantID] = h
	return cloneHead(h), nil
}

// ReleaseBuild implements hub.BuildLease.
func (s *Memory) ReleaseBuild(_ context.Context, tenantID, packID string, last *pack.PackRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.heads[tenantID]
	if h.Building == "" || h.Building != packID {
		return fmt.Errorf("release build of %s: %w", tenantID, hub.ErrConflict)
	}
	h.Building, h.LeaseUntil = "", time.Time{}
	if last != nil {
		l := *last
		h.Last = &l
	}
	s.heads[tenantID] = h
	return nil
}

// StoredPacks returns the tenant's packs, by id (tests only).
func (s *Memory) StoredPacks(tenantID string) []hub.Pack {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hub.Pack
	for _, p := range s.packs {
		if p.TenantID == tenantID {
			out = append(out, clonePack(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PackID < out[j].PackID })
	return out
}

func clonePack(p hub.Pack) hub.Pack {
	if p.Previous != nil {
		r := *p.Previous
		p.Previous = &r
	}
	p.ExpiredParts = maps.Clone(p.ExpiredParts)
	p.LaneBeats = maps.Clone(p.LaneBeats)
	return p
}

func cloneHead(h hub.PackHead) hub.PackHead {
	if h.Last != nil {
		r := *h.Last
		h.Last = &r
	}
	return h
}

// GetKeys implements hub.KeyStore.
func (s *Memory) GetKeys(_ context.Context, tenantID string) (hub.KeyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.keys[tenantID]
	if !ok {
		return hub.KeyRecord{}, fmt.Errorf("get signing keys of %s: %w", tenantID, hub.ErrNotFound)
	}
	return cloneKeys(r), nil
}

// PutKeys implements hub.KeyStore: version 1 (or 0) only if there is no
// record, any later version only over the one before it.
func (s *Memory) PutKeys(_ context.Context, r hub.KeyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.keys[r.TenantID]
	if r.Version <= 1 && ok || r.Version > 1 && (!ok || cur.Version != r.Version-1) {
		return fmt.Errorf("put signing keys of %s: %w", r.TenantID, hub.ErrConflict)
	}
	s.keys[r.TenantID] = cloneKeys(r)
	return nil
}

func cloneKeys(r hub.KeyRecord) hub.KeyRecord {
	r.Lineage = slices.Clone(r.Lineage)
	for i, e := range r.Lineage {
		if e.Endorsement != nil {
			en := *e.Endorsement
			r.Lineage[i].Endorsement = &en
		}
		if e.ActiveUntil != nil {
			u := *e.ActiveUntil
			r.Lineage[i].ActiveUntil = &u
		}
	}
	r.Refs = maps.Clone(r.Refs)
	if r.Refs == nil {
		r.Refs = map[string]string{}
	}
	if r.Pending != nil {
		p := *r.Pending
		r.Pending = &p
	}
	return r
}

// MarkArchived implements hub.PackArchiver.
func (s *Memory) MarkArchived(_ context.Context, tenantID, packID string, at, expireAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID + "|" + packID
	cur, ok := s.packs[k]
	if !ok || cur.Status != hub.PackReady {
		return fmt.Errorf("mark pack %s archived: %w", packID, hub.ErrConflict)
	}
	if cur.ArchivedAt.IsZero() {
		cur.ArchivedAt, cur.BatchesExpireAt = at, expireAt
		s.packs[k] = cur
	}
	return nil
}

// MarkPartExpired implements hub.PackArchiver.
func (s *Memory) MarkPartExpired(_ context.Context, tenantID, packID, part string, marked int) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID + "|" + packID
	cur, ok := s.packs[k]
	if !ok || cur.Status != hub.PackReady {
		return nil, fmt.Errorf("mark part %s of pack %s expired: %w", part, packID, hub.ErrConflict)
	}
	if cur.ExpiredParts == nil {
		cur.ExpiredParts = map[string]int{}
	}
	cur.ExpiredParts[part] = marked
	s.packs[k] = cur
	return maps.Clone(cur.ExpiredParts), nil
}

// ClaimExpiryFan implements hub.PackArchiver.
func (s *Memory) ClaimExpiryFan(_ context.Context, tenantID, packID string, prev, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID + "|" + packID
	cur, ok := s.packs[k]
	if !ok || cur.Status != hub.PackReady || !cur.ExpiryFannedAt.Equal(prev) {
		return fmt.Errorf("claim the expiry pass of pack %s: %w", packID, hub.ErrConflict)
	}
	cur.ExpiryFannedAt = now
	s.packs[k] = cur
	return nil
}

// BeatLane implements hub.PackArchiver.
func (s *Memory) BeatLane(_ context.Context, tenantID, packID string, shard int, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID + "|" + packID
	cur, ok := s.packs[k]
	if !ok || cur.Status != hub.PackReady {
		return fmt.Errorf("beat lane %d of pack %s: %w", shard, packID, hub.ErrConflict)
	}
	cur.LaneBeats = maps.Clone(cur.LaneBeats)
	if cur.LaneBeats == nil {
		cur.LaneBeats = map[int]time.Time{}
	}
	cur.LaneBeats[shard] = at
	s.packs[k] = cur
	return nil
}
