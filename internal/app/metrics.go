package app

import (
	"context"
	"io"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/emf"
	"github.com/monsys/hub/internal/hub"
)

// EMFMetrics writes the hub's metrics as CloudWatch Embedded Metric Format
// lines: AnomalyOccurrences by Kind and Severity (template.yaml alarms on
// Severity=critical), one line per integrity cycle, and PackBuildFailures
// (alarmed: a pack that was requested and will not come).
type EMFMetrics struct{ W *emf.Writer }

var _ hub.Metrics = EMFMetrics{}

// NewEMFMetrics writes to w.
func NewEMFMetrics(w io.Writer) EMFMetrics { return EMFMetrics{W: emf.New(w, nil)} }

// Anomaly implements hub.Metrics.
func (m EMFMetrics) Anomaly(_ context.Context, k anomaly.Kind, sev anomaly.Severity) {
	_ = m.W.Emit(map[string]string{"Kind": string(k), "Severity": string(sev)},
		emf.Metric{Name: "AnomalyOccurrences", Value: 1, Unit: emf.Count})
}

// Cycle implements hub.Metrics.
func (m EMFMetrics) Cycle(_ context.Context, s hub.Summary) {
	_ = m.W.Emit(map[string]string{"Function": "integrity"},
		emf.Metric{Name: "IntegrityChecked", Value: float64(s.Checked), Unit: emf.Count},
		emf.Metric{Name: "IntegrityRaised", Value: float64(s.Raised), Unit: emf.Count},
		emf.Metric{Name: "IntegrityRefreshed", Value: float64(s.Refreshed), Unit: emf.Count},
		emf.Metric{Name: "IntegrityClosed", Value: float64(s.Closed), Unit: emf.Count},
		emf.Metric{Name: "IntegrityErrors", Value: float64(s.Errors), Unit: emf.Count},
		emf.Metric{Name: "IntegrityDuration", Value: float64(s.Duration.Milliseconds()), Unit: emf.Milliseconds})
}

// PackBuildFailed counts a pack build that failed (app.PackFunction).
func (m EMFMetrics) PackBuildFailed(_ context.Context) {
	_ = m.W.Emit(map[string]string{"Function": "pack"}, emf.Metric{Name: "PackBuildFailures", Value: 1, Unit: emf.Count})
}
