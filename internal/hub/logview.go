package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/monsys/hub/internal/tlog"
)

// LogReader reads the transparency log's published objects at their
// c2sp.org/tlog-tiles paths (tlog.Reader over the log's S3 store): the
// object, or an error wrapping tlog.ErrNotFound for a path that names none.
type LogReader interface {
	Read(ctx context.Context, path string) ([]byte, error)
}

// LogView serves the transparency log to monitors (GET /log/..., SPEC 4
// and 10). The log is one per deployment (SPEC 10), so every tenant's
// admin reads the same log; its entries name their tenants, which is what
// lets any tenant check that the hub shows all of them one history.
type LogView struct {
	r LogReader
}

// NewLogView returns the use case.
func NewLogView(r LogReader) (*LogView, error) {
	if r == nil {
		return nil, errors.New("hub: the log view needs the log's store")
	}
	return &LogView{r: r}, nil
}

// maxLogPath bounds a requested path: the longest c2sp.org/tlog-tiles path
// of a log of 2^63 entries is far shorter.
const maxLogPath = 128

// Read returns the object at path ("checkpoint", "tile/<L>/<N>[.p/<W>]",
// "tile/entries/<N>[.p/<W>]"). A path of another shape, and an object not
// (or not yet) written, such as the checkpoint of a log that never
// published one, is 404 not_found, as c2sp.org/tlog-tiles answers.
func (v *LogView) Read(ctx context.Context, _ Admin, path string) ([]byte, error) {
	if len(path) > maxLogPath {
		return nil, &Error{Code: CodeNotFound, Message: "no such log object"}
	}
	b, err := v.r.Read(ctx, path)
	if errors.Is(err, tlog.ErrNotFound) {
		msg := "no such log object"
		if path == "checkpoint" {
			msg = "the log has no checkpoint yet"
		}
		return nil, &Error{Code: CodeNotFound, Message: msg, Cause: err}
	}
	if err != nil {
		return nil, fmt.Errorf("read log object %q: %w", path, err)
	}
	return b, nil
}
