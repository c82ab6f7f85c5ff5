package hub

import (
	"context"
	"errors"

	"github.com/monsys/hub/internal/anomaly"
)

// Anomalies lists a tenant's anomalies for its admin (GET /anomalies).
type Anomalies struct {
	list AnomalyLister
}

// NewAnomalies returns the listing over the anomalies.
func NewAnomalies(list AnomalyLister) (*Anomalies, error) {
	if list == nil {
		return nil, errors.New("hub: the anomaly listing needs the anomalies")
	}
	return &Anomalies{list: list}, nil
}

// ErrBadCursor means a pagination cursor does not decode.
var ErrBadCursor = errors.New("bad cursor")

// List is GET /anomalies for the admin's tenant.
func (an *Anomalies) List(ctx context.Context, ad Admin, f anomaly.Filter, cursor string, limit int) (AnomalyPage, error) {
	if f.Status != "" && f.Status != anomaly.Open && f.Status != anomaly.Closed {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "status must be open or closed, got %q", f.Status)
	}
	if f.Kind != "" && !anomaly.ValidKind(string(f.Kind)) {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "unknown anomaly kind %q", f.Kind)
	}
	p, err := an.list.ListAnomalies(ctx, ad.TenantID, f, cursor, pageLimit(limit))
	if errors.Is(err, ErrBadCursor) {
		return AnomalyPage{}, refuse(CodeInvalidRequest, "the cursor is not one this hub issued")
	}
	if err != nil {
		return AnomalyPage{}, backend("list anomalies", err)
	}
	if p.Anomalies == nil {
		p.Anomalies = []anomaly.Anomaly{}
	}
	return p, nil
}
