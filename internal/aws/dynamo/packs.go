package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/pack"
)

// Packs keeps pack records and each tenant's chain head.
type Packs struct{ conn }

var _ hub.PackStore = (*Packs)(nil)

// headID is the item of the packs table that holds a tenant's chain head and
// build lease; pack ids start with "pk_", so it cannot collide.
const headID = "_head"

func (s *Packs) packsTable(op string) (string, error) {
	if s.t.Packs == "" {
		return "", fmt.Errorf("%s: no packs table configured", op)
	}
	return s.t.Packs, nil
}

func packItem(p hub.Pack) item {
	it := item{"tenant_id": vs(p.TenantID), "pack_id": vs(p.PackID), "status": vs(p.Status),
		"period_start": vt(p.PeriodStart), "period_end": vt(p.PeriodEnd), "requested_at": vt(p.RequestedAt),
		"listed": vs(listedKey(p))}
	if !p.GeneratedAt.IsZero() {
		it["generated_at"] = vt(p.GeneratedAt)
	}
	if !p.FinishedAt.IsZero() {
		it["finished_at"] = vt(p.FinishedAt)
	}
	if !p.ArchivedAt.IsZero() {
		it["archived_at"], it["batches_expire_at"] = vt(p.ArchivedAt), vt(p.BatchesExpireAt)
	}
	for k, v := range map[string]string{"object_key": p.ObjectKey, "object_version": p.ObjectVersion, "file_name": p.FileName, "manifest_sha256": p.ManifestSHA256,
		"signing_key_id": p.SigningKeyID, "reason": p.Reason} {
		if v != "" {
			it[k] = vs(v)
		}
	}
	if p.Status == hub.PackReady {
		it["size"], it["records"] = vn(p.Size), vn(p.Records)
	}
	if p.Previous != nil {
		it["prev_pack_id"], it["prev_manifest_sha256"] = vs(p.Previous.PackID), vs(p.Previous.ManifestSHA256)
	}
	return it
}

func decodePack(it item) hub.Pack {
	p := hub.Pack{TenantID: gs(it, "tenant_id"), PackID: gs(it, "pack_id"), Status: gs(it, "status"),
		PeriodStart: gt(it, "period_start"), PeriodEnd: gt(it, "period_end"), RequestedAt: gt(it, "requested_at"),
		GeneratedAt: gt(it, "generated_at"), FinishedAt: gt(it, "finished_at"), ArchivedAt: gt(it, "archived_at"), BatchesExpireAt: gt(it, "batches_expire_at"), ObjectKey: gs(it, "object_key"), ObjectVersion: gs(it, "object_version"),
		FileName: gs(it, "file_name"), Size: gn(it, "size"), Records: gn(it, "records"),
		ManifestSHA256: gs(it, "manifest_sha256"), SigningKeyID: gs(it, "signing_key_id"), Reason: gs(it, "reason")}
	if id := gs(it, "prev_pack_id"); id != "" {
		p.Previous = &pack.PackRef{PackID: id, ManifestSHA256: gs(it, "prev_manifest_sha256")}
	}
	p.ExpiredParts = expiredParts(it)
	p.ExpiryFannedAt = gt(it, "expiry_fanned_at")
	for k := range it {
		if sh, ok := strings.CutPrefix(k, lanePrefix); ok {
			if n, err := strconv.Atoi(sh); err == nil {
				if p.LaneBeats == nil {
					p.LaneBeats = map[int]time.Time{}
				}
				p.LaneBeats[n] = gt(it, k)
			}
		}
	}
	return p
}

// lanePrefix starts the attribute of each lane's last beat: xl_<shard>.
const lanePrefix = "xl_"

// partPrefix starts the attribute of each done part of a pack's expiry
// pass: xp_<part> = the batches it marked (one attribute each, so that a
// rerun of a part overwrites its own and the parts are counted exactly).
const partPrefix = "xp_"

// expiredParts reads a pack item's done parts; nil when there are none.
func expiredParts(it item) map[string]int {
	var out map[string]int
	for k := range it {
		if part, ok := strings.CutPrefix(k, partPrefix); ok {
			if out == nil {
				out = map[string]int{}
			}
			out[part] = int(gn(it, k))
		}
	}
	return out
}

// CreatePack implements hub.PackRecords.
func (s *Packs) CreatePack(ctx context.Context, p hub.Pack) error {
	t, err := s.packsTable("create pack")
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t), Item: packItem(p),
		ConditionExpression: aws.String("attribute_not_exists(pack_id)")})
	return classify("create pack "+p.PackID, err)
}

// GetPack implements hub.PackRecords.
func (s *Packs) GetPack(ctx context.Context, tenantID, packID string) (hub.Pack, error) {
	t, err := s.packsTable("get pack")
	if err != nil {
		return hub.Pack{}, err
	}
	if packID == headID {
		return hub.Pack{}, fmt.Errorf("get pack: %w", hub.ErrNotFound)
	}
	it, err := s.get(ctx, "get pack "+packID, t, item{"tenant_id": vs(tenantID), "pack_id": vs(packID)})
	if err != nil {
		return hub.Pack{}, err
	}
	return decodePack(it), nil
}

// FinishPack implements hub.PackStore: the whole item, if still pending.
func (s *Packs) FinishPack(ctx context.Context, p hub.Pack) error {
	t, err := s.packsTable("finish pack")
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t), Item: packItem(p),
		ConditionExpression:      aws.String("#st = :pending"),
		ExpressionAttributeNames: names("#st", "status"), ExpressionAttributeValues: item{":pending": vs(hub.PackPending)}})
	return classify("finish pack "+p.PackID, err)
}

func decodeHead(it item) hub.PackHead {
	h := hub.PackHead{Building: gs(it, "building"), LeaseUntil: gt(it, "lease_until")}
	if id := gs(it, "last_pack_id"); id != "" {
		h.Last = &pack.PackRef{PackID: id, ManifestSHA256: gs(it, "last_manifest_sha256")}
	}
	return h
}

// AcquireBuild implements hub.BuildLease with one conditional update of the
// tenant's head item.
func (s *Packs) AcquireBuild(ctx context.Context, tenantID, packID string, until, now time.Time) (hub.PackHead, error) {
	t, err := s.packsTable("acquire build")
	if err != nil {
		return hub.PackHead{}, err
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                       item{"tenant_id": vs(tenantID), "pack_id": vs(headID)},
		UpdateExpression:          aws.String("SET building = :id, lease_until = :until"),
		ConditionExpression:       aws.String("attribute_not_exists(building) OR building = :id OR lease_until < :now"),
		ExpressionAttributeValues: item{":id": vs(packID), ":until": vt(until), ":now": vt(now)},
		ReturnValues:              types.ReturnValueAllNew})
	if err != nil {
		return hub.PackHead{}, classify("acquire build of "+tenantID, err)
	}
	return decodeHead(out.Attributes), nil
}

// ReleaseBuild implements hub.BuildLease.
func (s *Packs) ReleaseBuild(ctx context.Context, tenantID, packID string, last *pack.PackRef) error {
	t, err := s.packsTable("release build")
	if err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                       item{"tenant_id": vs(tenantID), "pack_id": vs(headID)},
		UpdateExpression:          aws.String("REMOVE building, lease_until"),
		ConditionExpression:       aws.String("building = :id"),
		ExpressionAttributeValues: item{":id": vs(packID)}}
	if last != nil {
		in.UpdateExpression = aws.String("SET last_pack_id = :last, last_manifest_sha256 = :sha REMOVE building, lease_until")
		in.ExpressionAttributeValues[":last"] = vs(last.PackID)
		in.ExpressionAttributeValues[":sha"] = vs(last.ManifestSHA256)
	}
	_, err = s.db.UpdateItem(ctx, in)
	return classify("release build of "+tenantID, err)
}

// --- signing keys

// Keys keeps each tenant's signing-key record.
type Keys struct{ conn }

var _ hub.KeyStore = (*Keys)(nil)

func (s *Keys) keysTable(op string) (string, error) {
	if s.t.SigningKeys == "" {
		return "", fmt.Errorf("%s: no signing-keys table configured", op)
	}
	return s.t.SigningKeys, nil
}

// GetKeys implements hub.KeyStore.
func (s *Keys) GetKeys(ctx context.Context, tenantID string) (hub.KeyRecord, error) {
	t, err := s.keysTable("get signing keys")
	if err != nil {
		return hub.KeyRecord{}, err
	}
	it, err := s.get(ctx, "get signing keys of "+tenantID, t, item{"tenant_id": vs(tenantID)})
	if err != nil {
		return hub.KeyRecord{}, err
	}
	r := hub.KeyRecord{TenantID: tenantID, Version: gn(it, "version"), Refs: map[string]string{}}
	if raw := gs(it, "lineage"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &r.Lineage); err != nil {
			return hub.KeyRecord{}, fmt.Errorf("get signing keys of %s: lineage: %w", tenantID, err)
		}
	}
	for k := range gm(it, "refs") {
		r.Refs[k] = gs(gm(it, "refs"), k)
	}
	if p := gm(it, "pending"); p != nil {
		r.Pending = &hub.PendingKey{KeyID: gs(p, "key_id"), Ref: gs(p, "ref"), At: gt(p, "at")}
	}
	return r, nil
}

// PutKeys implements hub.KeyStore: one conditional put on the version.
func (s *Keys) PutKeys(ctx context.Context, r hub.KeyRecord) error {
	t, err := s.keysTable("put signing keys")
	if err != nil {
		return err
	}
	it := item{"tenant_id": vs(r.TenantID), "version": vn(r.Version)}
	if len(r.Lineage) > 0 {
		raw, err := r.Lineage.MarshalCanonical()
		if err != nil {
			return fmt.Errorf("put signing keys of %s: %w", r.TenantID, err)
		}
		it["lineage"] = vs(string(raw))
	}
	refs := item{}
	for k, v := range r.Refs {
		refs[k] = vs(v)
	}
	it["refs"] = &types.AttributeValueMemberM{Value: refs}
	if r.Pending != nil {
		p := item{"key_id": vs(r.Pending.KeyID), "at": vt(r.Pending.At)}
		if r.Pending.Ref != "" { // a claim has no reference yet
			p["ref"] = vs(r.Pending.Ref)
		}
		it["pending"] = &types.AttributeValueMemberM{Value: p}
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(t), Item: it}
	if r.Version <= 1 {
		in.ConditionExpression = aws.String("attribute_not_exists(tenant_id)")
	} else {
		in.ConditionExpression = aws.String("version = :prev")
		in.ExpressionAttributeValues = item{":prev": vn(r.Version - 1)}
	}
	_, err = s.db.PutItem(ctx, in)
	return classify("put signing keys of "+r.TenantID, err)
}

// MarkPartExpired implements hub.PackArchiver: SET xp_<part> on the pack
// item if it is ready, answering the item as it is after the write.
func (s *Packs) MarkPartExpired(ctx context.Context, tenantID, packID, part string, marked int) (map[string]int, error) {
	t, err := s.packsTable("mark part expired")
	if err != nil {
		return nil, err
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                      item{"tenant_id": vs(tenantID), "pack_id": vs(packID)},
		UpdateExpression:         aws.String("SET #p = :n"),
		ConditionExpression:      aws.String("#st = :ready"),
		ExpressionAttributeNames: names("#st", "status", "#p", partPrefix+part), ExpressionAttributeValues: item{":n": vn(int64(marked)), ":ready": vs(hub.PackReady)},
		ReturnValues: types.ReturnValueAllNew})
	if err := classify("mark part "+part+" of pack "+packID+" expired", err); err != nil {
		return nil, err
	}
	return expiredParts(out.Attributes), nil
}

// BeatLane implements hub.PackArchiver: SET xl_<shard> on the pack item if
// it is ready.
func (s *Packs) BeatLane(ctx context.Context, tenantID, packID string, shard int, at time.Time) error {
	t, err := s.packsTable("beat lane")
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                      item{"tenant_id": vs(tenantID), "pack_id": vs(packID)},
		UpdateExpression:         aws.String("SET #l = :at"),
		ConditionExpression:      aws.String("#st = :ready"),
		ExpressionAttributeNames: names("#st", "status", "#l", lanePrefix+strconv.Itoa(shard)), ExpressionAttributeValues: item{":at": vt(at), ":ready": vs(hub.PackReady)}})
	return classify("beat lane "+strconv.Itoa(shard)+" of pack "+packID, err)
}

// ClaimExpiryFan implements hub.PackArchiver.
func (s *Packs) ClaimExpiryFan(ctx context.Context, tenantID, packID string, prev, now time.Time) error {
	t, err := s.packsTable("claim the expiry pass")
	if err != nil {
		return err
	}
	cond, vals := "#st = :ready AND attribute_not_exists(expiry_fanned_at)", item{":now": vt(now), ":ready": vs(hub.PackReady)}
	if !prev.IsZero() {
		cond = "#st = :ready AND expiry_fanned_at = :prev"
		vals[":prev"] = vt(prev)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                      item{"tenant_id": vs(tenantID), "pack_id": vs(packID)},
		UpdateExpression:         aws.String("SET expiry_fanned_at = :now"),
		ConditionExpression:      aws.String(cond),
		ExpressionAttributeNames: names("#st", "status"), ExpressionAttributeValues: vals})
	return classify("claim the expiry pass of pack "+packID, err)
}

// MarkArchived implements hub.PackArchiver.
func (s *Packs) MarkArchived(ctx context.Context, tenantID, packID string, at, expireAt time.Time) error {
	t, err := s.packsTable("mark pack archived")
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(t),
		Key:                      item{"tenant_id": vs(tenantID), "pack_id": vs(packID)},
		UpdateExpression:         aws.String("SET archived_at = if_not_exists(archived_at, :at), batches_expire_at = if_not_exists(batches_expire_at, :e)"),
		ConditionExpression:      aws.String("#st = :ready"),
		ExpressionAttributeNames: names("#st", "status"), ExpressionAttributeValues: item{":at": vt(at), ":e": vt(expireAt), ":ready": vs(hub.PackReady)}})
	return classify("mark pack archived "+packID, err)
}
