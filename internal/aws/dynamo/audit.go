package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/hub"
)

// AuditLog keeps the tenants' audit logs.
type AuditLog struct{ conn }

var _ hub.AuditStore = (*AuditLog)(nil)

// AppendAudit implements hub.AuditSink.
func (s *AuditLog) AppendAudit(ctx context.Context, e hub.AuditEvent) error {
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

// Audit implements hub.AuditReader: a tenant's audit events in [from, to), oldest first.
func (s *AuditLog) Audit(ctx context.Context, tenant string, from, to time.Time) ([]hub.AuditEvent, error) {
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
