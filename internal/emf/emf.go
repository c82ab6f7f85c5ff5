// Package emf writes CloudWatch Embedded Metric Format lines: JSON log lines
// that CloudWatch Logs turns into metrics, so the template can alarm on them
// without any metrics API call from the functions.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace of every monsys metric.
const Namespace = "monsys"

// Unit of a metric value.
type Unit string

// Units used by the hub.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// Metric is one value.
type Metric struct {
	Name  string
	Value float64
	Unit  Unit
}

// Writer emits EMF lines to w; safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns a writer to w with the given clock (nil: time.Now).
func New(w io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{w: w, now: now}
}

// Emit writes one line holding metrics under the given dimensions.
func (e *Writer) Emit(dims map[string]string, metrics ...Metric) error {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	defs := make([]map[string]string, len(metrics))
	line := map[string]any{}
	for i, m := range metrics {
		defs[i] = map[string]string{"Name": m.Name, "Unit": string(m.Unit)}
		line[m.Name] = m.Value
	}
	for k, v := range dims {
		line[k] = v
	}
	line["_aws"] = map[string]any{
		"Timestamp": e.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": Namespace, "Dimensions": [][]string{keys}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("emf: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.w.Write(append(b, '\n'))
	return err
}
