// Package collect gathers the records the agent sends: metric,
// inventory_snapshot, process_dna, honeypot_trip. Each collector reads the
// host through an injectable root or source so that it can be tested against
// fixtures; on a real host the defaults read the live system.
package collect

import (
	"context"
	"errors"
	"time"
)

// Collector produces records; each record marshals to a JSON object with
// "type" and "ts".
type Collector interface {
	Name() string
	Collect(ctx context.Context, now time.Time) ([]any, error)
}

// ErrUnsupported means a collector cannot run on this platform.
var ErrUnsupported = errors.New("collector not supported on this platform")
