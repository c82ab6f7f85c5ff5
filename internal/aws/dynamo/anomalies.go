package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/hub"
)

// Anomalies keeps anomalies, one item per (agent, kind, generation).
type Anomalies struct{ conn }

var _ hub.AnomalyStore = (*Anomalies)(nil)

func decodeAnomaly(it item) anomaly.Anomaly {
	a := anomaly.Anomaly{ID: gs(it, "anomaly_id"), TenantID: gs(it, "tenant_id"), AgentID: gs(it, "agent_id"),
		Kind: anomaly.Kind(gs(it, "kind")), Severity: anomaly.Severity(gs(it, "severity")), Status: anomaly.Status(gs(it, "status")),
		FirstSeen: gt(it, "first_seen"), LastSeen: gt(it, "last_seen"), Count: gn(it, "count"), Detail: gs(it, "detail"),
		Generation: gn(it, "gen"), LastOccurrence: gs(it, "occ")}
	if t := gt(it, "closed_at"); !t.IsZero() {
		a.ClosedAt = &t
	}
	if r, ok := it["closed_reason"].(*types.AttributeValueMemberS); ok {
		a.ClosedReason = &r.Value
	}
	return a
}

// RaiseAnomaly implements hub.AnomalyRaiser with one conditional upsert of the
// generation's item, then (rarely) a second conditional write that escalates
// the severity.
func (s *Anomalies) RaiseAnomaly(ctx context.Context, e anomaly.Event, gen int64) (anomaly.Anomaly, error) {
	a, _, err := s.upsertAnomaly(ctx, e, gen, "attribute_not_exists(#st) OR #st = :open", nil)
	return a, err
}

// RefreshAnomaly implements hub.AnomalyCycle: the raise, conditional also
// on the open anomaly's last_seen being at least every old.
func (s *Anomalies) RefreshAnomaly(ctx context.Context, e anomaly.Event, gen int64, every time.Duration) (anomaly.Anomaly, bool, error) {
	return s.upsertAnomaly(ctx, e, gen, "attribute_not_exists(#st) OR (#st = :open AND last_seen <= :cutoff)",
		item{":cutoff": vt(e.At.Add(-every))})
}

// upsertAnomaly is the one conditional write of a raise or refresh. The
// item keeps the last event's occurrence in occ (anomaly.Event.Occurrence):
// an event naming that occurrence fails the condition and counts nothing.
func (s *Anomalies) upsertAnomaly(ctx context.Context, e anomaly.Event, gen int64, cond string, extra item) (anomaly.Anomaly, bool, error) {
	id := anomaly.ID(e.AgentID, e.Kind, gen)
	k := item{"tenant_id": vs(e.TenantID), "anomaly_id": vs(id)}
	v := item{":a": vs(e.AgentID), ":k": vs(string(e.Kind)), ":g": vn(gen), ":t": vt(e.At),
		":d": vs(e.Detail), ":open": vs(string(anomaly.Open)), ":sev": vs(string(e.Severity)),
		":rank": vn(int64(e.Severity.Rank())), ":one": vn(1)}
	for kk, vv := range extra {
		v[kk] = vv
	}
	update := "SET agent_id = :a, kind = :k, gen = :g, first_seen = if_not_exists(first_seen, :t), " +
		"last_seen = :t, detail = :d, #st = if_not_exists(#st, :open), severity = if_not_exists(severity, :sev), " +
		"severity_rank = if_not_exists(severity_rank, :rank)"
	if e.Occurrence != "" {
		update, v[":occ"] = update+", occ = :occ ADD #c :one", vs(e.Occurrence)
		cond = "(" + cond + ") AND (attribute_not_exists(occ) OR occ <> :occ)"
	} else {
		update += " ADD #c :one REMOVE occ"
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.t.Anomalies), Key: k,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names("#st", "status", "#c", "count"),
		ExpressionAttributeValues: v,
		ReturnValues:              types.ReturnValueAllNew})
	if err := classify("raise anomaly", err); err != nil {
		if !errors.Is(err, hub.ErrConflict) {
			return anomaly.Anomaly{}, false, err
		}
		// Lost the condition: counted already (nothing to do), closed (move
		// on a generation) or refreshed recently (nothing to do).
		cur, gerr := s.get(ctx, "read anomaly", s.t.Anomalies, k)
		if gerr != nil {
			return anomaly.Anomaly{}, false, gerr
		}
		a := decodeAnomaly(cur)
		if a.Status == anomaly.Closed && !a.Counted(e) {
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

// CloseAnomaly implements hub.AnomalyCycle: it closes the open anomaly id of tenant at t for reason, with a
// write conditional on status open: hub.ErrNotFound when there is no such
// anomaly, hub.ErrConflict when it is already closed.
func (s *Anomalies) CloseAnomaly(ctx context.Context, tenant, id string, t time.Time, reason string) error {
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

// ListAnomalies implements hub.AnomalyLister: one tenant partition, narrowed to
// one agent by key prefix, filtered by status and kind, paged by anomaly id.
func (s *Anomalies) ListAnomalies(ctx context.Context, tenant string, f anomaly.Filter, cursor string, limit int) (hub.AnomalyPage, error) {
	in, empty, err := s.listQuery(tenant, f, cursor, limit)
	if err != nil || empty {
		return hub.AnomalyPage{}, err
	}
	var page hub.AnomalyPage
	for {
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
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// listQuery is the first query of a listing: the tenant's partition, from
// the cursor on, narrowed to one agent by key prefix, filtered by status and
// kind. empty reports a cursor past the agent's range: nothing to list.
func (s *Anomalies) listQuery(tenant string, f anomaly.Filter, cursor string, limit int) (in *dynamodb.QueryInput, empty bool, err error) {
	var start item
	after := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var ok bool
		// What it decodes to becomes a key: it must be one DynamoDB takes.
		if after, ok = strings.CutPrefix(string(raw), cursorPrefix); err != nil || !ok || !validAnomalyKey(after) {
			return nil, false, hub.ErrBadCursor
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
			return nil, true, nil
		}
	}
	in = &dynamodb.QueryInput{TableName: aws.String(s.t.Anomalies), KeyConditionExpression: aws.String(kc),
		ExpressionAttributeValues: v, ExclusiveStartKey: start, Limit: aws.Int32(int32(limit + 1)), ConsistentRead: aws.Bool(true)}
	var filters []string
	n := map[string]string{}
	if f.Status != "" {
		filters, n["#st"], v[":st"] = append(filters, "#st = :st"), "status", vs(string(f.Status))
	}
	if f.Kind != "" {
		filters, n["#k"], v[":k"] = append(filters, "#k = :k"), "kind", vs(string(f.Kind))
	}
	if len(filters) > 0 {
		in.FilterExpression, in.ExpressionAttributeNames = aws.String(strings.Join(filters, " AND ")), n
	}
	return in, false, nil
}
