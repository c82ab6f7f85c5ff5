package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/monsys/hub/internal/hub"
)

// The listings of GET /agents and GET /evidence-packs (docs/dynamodb.md,
// "Listings"): tenant-scoped indexes, one partition per tenant, never a scan.

// encodeListCursor makes a listing's cursor from the sort key of the last
// item returned.
func encodeListCursor(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + last))
}

// decodeListCursor returns the sort key a cursor names, if valid says it
// can be one; else hub.ErrBadCursor.
func decodeListCursor(c string, valid func(string) bool) (string, error) {
	if c == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	after, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if err != nil || !ok || !valid(after) {
		return "", hub.ErrBadCursor
	}
	return after, nil
}

// ListAgents implements hub.AgentLister: the agent ids of the tenant index
// (tenant_id, agent_id; keys only, so that no ingest ever writes to it),
// from the cursor on, each agent read whole and kept when it is in status;
// the agents with an open anomaly come from the tenant's anomaly
// partition, whose ids sort by agent. A page reads its agents (two items
// each) and, to know whether there is a next page, at most the next
// matching one (docs/dynamodb.md, "Listings").
func (s *Agents) ListAgents(ctx context.Context, tenant string, status hub.AgentStatus, cursor string, limit int) (hub.AgentPage, error) {
	after, err := decodeListCursor(cursor, hub.ValidAgentID)
	if err != nil {
		return hub.AgentPage{}, err
	}
	if status == hub.AgentsAttention {
		return s.attentionAgents(ctx, tenant, after, limit)
	}
	kc, v := "tenant_id = :t", item{":t": vs(tenant)}
	if after != "" {
		kc, v[":a"] = kc+" AND agent_id > :a", vs(after)
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.t.Agents), IndexName: aws.String(AgentsByTenant),
		KeyConditionExpression: aws.String(kc), ExpressionAttributeValues: v, Limit: aws.Int32(int32(limit + 1))}
	var page hub.AgentPage
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return hub.AgentPage{}, classify("list agents", err)
		}
		for _, it := range out.Items {
			if len(page.Agents) == limit && status == hub.AgentsAll {
				// Every agent of the index is in the listing: one more id is a next page.
				page.NextCursor = encodeListCursor(page.Agents[limit-1].AgentID)
				return page, nil
			}
			a, err := s.GetAgent(ctx, gs(it, "agent_id"))
			if errors.Is(err, hub.ErrNotFound) {
				continue // deleted between the index and the read
			}
			if err != nil {
				return hub.AgentPage{}, err
			}
			if a.TenantID != tenant || !status.Matches(a, false) {
				continue
			}
			if len(page.Agents) == limit {
				page.NextCursor = encodeListCursor(page.Agents[limit-1].AgentID)
				return page, nil
			}
			page.Agents = append(page.Agents, a)
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// attentionAgents lists the tenant's agents with an open anomaly: the open
// items of the anomaly partition after the cursor's agent (anomaly ids are
// an_<agent>.<kind>.<gen>), then each agent's item.
func (s *Agents) attentionAgents(ctx context.Context, tenant, after string, limit int) (hub.AgentPage, error) {
	kc, v := "tenant_id = :t", item{":t": vs(tenant), ":open": vs("open")}
	if after != "" {
		// "/" sorts right after ".", and agent ids hold no punctuation: every
		// anomaly of the cursor's agent sorts before it, every later agent's after.
		kc, v[":a"] = kc+" AND anomaly_id > :a", vs("an_"+after+"/")
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.t.Anomalies), KeyConditionExpression: aws.String(kc),
		FilterExpression: aws.String("#st = :open"), ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: v, ProjectionExpression: aws.String("agent_id")}
	var ids []string
	for len(ids) <= limit {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return hub.AgentPage{}, classify("list agents with open anomalies", err)
		}
		for _, it := range out.Items {
			if id := gs(it, "agent_id"); len(ids) == 0 || ids[len(ids)-1] != id {
				ids = append(ids, id)
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	var page hub.AgentPage
	if len(ids) > limit {
		ids = ids[:limit]
		page.NextCursor = encodeListCursor(ids[limit-1])
	}
	for _, id := range ids {
		a, err := s.GetAgent(ctx, id)
		if err != nil {
			if errors.Is(err, hub.ErrNotFound) {
				continue
			}
			return hub.AgentPage{}, err
		}
		if a.TenantID == tenant {
			page.Agents = append(page.Agents, a)
		}
	}
	return page, nil
}

// listedKey is a pack's sort key in the tenant's listing index: its request
// time (fixed width, so strings sort as times) and its id, unique.
func listedKey(p hub.Pack) string { return p.RequestedAt.UTC().Format(timeLayout) + "#" + p.PackID }

// validListedKey reports whether a cursor's key can be a listedKey.
func validListedKey(k string) bool {
	t, id, ok := strings.Cut(k, "#")
	return ok && len(t) == len(timeLayout) && hub.ValidPackID(id)
}

// packListed are the attributes the listing index projects.
var packListed = []string{"status", "period_start", "period_end", "requested_at", "generated_at", "manifest_sha256"}

// ListPacks implements hub.PackLister: the tenant's listing index, newest
// request first, from the cursor on. The chain head has no listed key, so
// the index never holds it.
func (s *Packs) ListPacks(ctx context.Context, tenant, cursor string, limit int) (hub.PackPage, error) {
	t, err := s.packsTable("list packs")
	if err != nil {
		return hub.PackPage{}, err
	}
	before, err := decodeListCursor(cursor, validListedKey)
	if err != nil {
		return hub.PackPage{}, err
	}
	kc, v := "tenant_id = :t", item{":t": vs(tenant)}
	if before != "" {
		kc, v[":b"] = kc+" AND listed < :b", vs(before)
	}
	in := &dynamodb.QueryInput{TableName: aws.String(t), IndexName: aws.String(PacksListed), KeyConditionExpression: aws.String(kc),
		ExpressionAttributeValues: v, ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(limit + 1))}
	var page hub.PackPage
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return hub.PackPage{}, classify("list packs", err)
		}
		for _, it := range out.Items {
			if len(page.Packs) == limit {
				page.NextCursor = encodeListCursor(listedKey(page.Packs[limit-1]))
				return page, nil
			}
			page.Packs = append(page.Packs, decodePack(it))
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
