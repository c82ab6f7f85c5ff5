package hub

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/clock"
)

// Env is what a use case takes from its surroundings besides its stores:
// the clock it reads and waits on, its randomness (ids, credentials), its
// logger and where its metrics go. The zero value is production's: the
// system clock, crypto/rand, slog.Default() and no metrics.
type Env struct {
	Clock   clock.Clock
	Rand    io.Reader
	Log     *slog.Logger
	Metrics Metrics
}

// Metrics counts anomaly occurrences by kind and severity, for alarms
// (CloudWatch Embedded Metric Format in AWS), and integrity cycles.
type Metrics interface {
	Anomaly(ctx context.Context, k anomaly.Kind, sev anomaly.Severity)
	Cycle(ctx context.Context, s Summary)
}

type noMetrics struct{}

func (noMetrics) Anomaly(context.Context, anomaly.Kind, anomaly.Severity) {}
func (noMetrics) Cycle(context.Context, Summary)                          {}

// filled is e with its defaults.
func (e Env) filled() Env {
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	if e.Rand == nil {
		e.Rand = rand.Reader
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Metrics == nil {
		e.Metrics = noMetrics{}
	}
	return e
}

// now is the clock's time in UTC, as the hub stores every time.
func (e Env) now() time.Time { return e.Clock.Now().UTC() }

// newID makes an id: prefix and 24 lowercase base32 characters (ValidAgentID).
func (e Env) newID(prefix string) (string, error) { return newID(prefix, e.Rand) }
