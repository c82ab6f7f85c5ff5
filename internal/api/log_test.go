package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// The /log/ routes (SPEC 4 and 10): log-checkpoint.json, log-tile.json and
// log-entries.json through a handler of the Log group over a log of three
// entries in the kit's in-memory stores.

// logFx is apiFx whose handler serves the Log group over mem.
type logFx struct {
	*apiFx
	mem *tlogtest.Memory
}

// newLogFx builds the fixture; with n > 0 the log holds n entries and a
// checkpoint, with n == 0 it has published nothing yet. read, when set,
// stands between the view and the stores.
func newLogFx(t *testing.T, n int, read func(tlog.Reader) hub.LogReader) *logFx {
	t.Helper()
	f := &logFx{apiFx: newAPIFx(t), mem: tlogtest.NewMemory()}
	st := f.mem.Stores()
	if n > 0 {
		l, err := tlog.New(tlog.Config{Origin: tlogtest.Origin}, st, tlogtest.NewKey(1), tlogtest.Unwitnessed{})
		f.must(err)
		_, err = l.Append(f.ctx, tlogtest.TestEntries(tenant, 0, n)...)
		f.must(err)
	}
	var r hub.LogReader = tlog.Reader{Tiles: st.Tiles, Checkpoints: st.Checkpoints}
	if read != nil {
		r = read(tlog.Reader{Tiles: st.Tiles, Checkpoints: st.Checkpoints})
	}
	f.must(f.core.AddLogView(r))
	h, err := api.New(f.core.Services(), slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), api.Log)
	f.must(err)
	f.h = h
	return f
}

// raw sends ev across the JSON boundary and returns the response with its
// body decoded as API Gateway would send it (base64 when flagged).
func (f *logFx) raw(ev events.APIGatewayProxyRequest) (result, []byte) {
	f.t.Helper()
	in, err := json.Marshal(ev)
	f.must(err)
	var decoded events.APIGatewayProxyRequest
	f.must(json.Unmarshal(in, &decoded))
	resp, err := f.h.Handle(f.ctx, decoded)
	f.must(err)
	out, err := json.Marshal(resp)
	f.must(err)
	var r result
	f.must(json.Unmarshal(out, &r))
	body := []byte(r.Body)
	if r.B64 {
		body, err = base64.StdEncoding.DecodeString(r.Body)
		f.must(err)
	}
	if r.Headers["X-Request-Id"] != requestID {
		f.t.Fatalf("headers %v", r.Headers)
	}
	return r, body
}

// failed checks a refused request: the SPEC 4 envelope as JSON.
func (f *logFx) failed(ev events.APIGatewayProxyRequest, status int, code hub.Code) {
	f.t.Helper()
	r, body := f.raw(ev)
	if r.Status != status || r.B64 || r.Headers["Content-Type"] != "application/json" {
		f.t.Fatalf("status %d (base64 %v, %q), want %d: %s", r.Status, r.B64, r.Headers["Content-Type"], status, body)
	}
	r.Body = string(body)
	f.must(json.Unmarshal(body, &r.json))
	wantEnvelope(f.t, r, code)
}

// logEvent is the event file with its path replaced by p (after the prefix).
func logEvent(t *testing.T, file, p string) events.APIGatewayProxyRequest {
	ev := event(t, file)
	p = api.Prefix + "/" + p
	ev.Path, ev.RequestContext.Path = p, p
	ev.PathParameters = map[string]string{"proxy": strings.TrimPrefix(p, "/")}
	return ev
}

// The three files serve the stored objects byte for byte, with the
// content types and cache headers of docs/transparency-log.md; the entry
// bundle is the same under /log/entries/ and /log/tile/entries/.
func TestLogFiles(t *testing.T) {
	f := newLogFx(t, 3, nil)
	cp, _, err := f.mem.ReadCheckpoint(f.ctx)
	f.must(err)
	tile, err := f.mem.ReadTile(f.ctx, "tile/0/000.p/3")
	f.must(err)
	bundle, err := f.mem.ReadTile(f.ctx, "tile/entries/000.p/3")
	f.must(err)
	for _, c := range []struct {
		name  string
		ev    events.APIGatewayProxyRequest
		want  []byte
		ctype string
		cache string
		b64   bool
	}{
		{"ok/checkpoint", event(t, "log-checkpoint.json"), cp, "text/plain; charset=utf-8", "private, no-cache", false},
		{"ok/tile", event(t, "log-tile.json"), tile, "application/octet-stream", "private, max-age=31536000, immutable", true},
		{"ok/entries", event(t, "log-entries.json"), bundle, "application/octet-stream", "private, max-age=31536000, immutable", true},
		{"ok/tile-entries", logEvent(t, "log-entries.json", "log/tile/entries/000.p/3"), bundle, "application/octet-stream", "private, max-age=31536000, immutable", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, body := f.raw(c.ev)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, body)
			}
			if !bytes.Equal(body, c.want) || len(body) == 0 {
				t.Fatalf("body %q, want %q", body, c.want)
			}
			if r.B64 != c.b64 || r.Headers["Content-Type"] != c.ctype || r.Headers["Cache-Control"] != c.cache {
				t.Fatalf("base64 %v, headers %v", r.B64, r.Headers)
			}
		})
	}
	// The checkpoint is a signed note of the log's three entries.
	if !strings.HasPrefix(string(cp), tlogtest.Origin+"\n3\n") {
		t.Fatalf("checkpoint %q", cp)
	}
}

// The log is one per deployment (SPEC 10): another tenant's admin reads
// the same bytes; what every route needs is an admin key and its operator
// certificate.
func TestLogAdminOnly(t *testing.T) {
	f := newLogFx(t, 3, nil)
	cp, _, err := f.mem.ReadCheckpoint(f.ctx)
	f.must(err)
	for _, file := range []string{"log-checkpoint.json", "log-tile.json", "log-entries.json"} {
		ev := event(t, file)
		asOther(t, &ev)
		r, body := f.raw(ev)
		if r.Status != http.StatusOK {
			t.Fatalf("%s as globex: status %d: %s", file, r.Status, body)
		}
		if file == "log-checkpoint.json" && !bytes.Equal(body, cp) {
			t.Fatalf("globex reads another checkpoint: %q", body)
		}
		ev = event(t, file)
		delHeader(&ev, "Authorization")
		f.failed(ev, http.StatusUnauthorized, hub.CodeUnauthorized)
		ev = event(t, file)
		setHeader(&ev, "Authorization", "Bearer "+agentToken)
		f.failed(ev, http.StatusUnauthorized, hub.CodeUnauthorized)
		ev = event(t, file)
		ev.HTTPMethod = http.MethodPost
		f.failed(ev, http.StatusNotFound, hub.CodeNotFound)
	}
}

// A log that has published nothing yet has no checkpoint and no tiles:
// 404 not_found, as a c2sp.org/tlog-tiles server answers, not a 5xx.
func TestLogEmpty(t *testing.T) {
	f := newLogFx(t, 0, nil)
	for _, file := range []string{"log-checkpoint.json", "log-tile.json", "log-entries.json"} {
		f.failed(event(t, file), http.StatusNotFound, hub.CodeNotFound)
	}
}

// A path that names no object of the log, or not in its one canonical
// spelling, is 404 not_found (never a 5xx): a monitor then asks for the
// partial tile, as c2sp.org/tlog-tiles clients do.
func TestLogBadPaths(t *testing.T) {
	f := newLogFx(t, 3, nil)
	for _, c := range []struct{ name, path string }{
		{"fail/full-tile-not-yet", "log/tile/0/000"},
		{"fail/other-width", "log/tile/0/000.p/4"},
		{"fail/width-zero", "log/tile/0/000.p/0"},
		{"fail/width-256", "log/tile/0/000.p/256"},
		{"fail/level-not-yet", "log/tile/1/000.p/1"},
		{"fail/not-canonical", "log/tile/0/0.p/3"},
		{"fail/negative", "log/tile/0/-1"},
		{"fail/letters", "log/tile/0/abc"},
		{"fail/dot-dot", "log/tile/../checkpoint"},
		{"fail/trailing", "log/tile/0/000.p/3/"},
		{"fail/extra-segment", "log/tile/0/000.p/3/x"},
		{"fail/entries-empty", "log/entries/"},
		{"fail/entries-of-entries", "log/entries/entries/000.p/3"},
		{"fail/entries-level", "log/entries/0/000.p/3"},
		{"fail/tile-bare", "log/tile"},
		{"fail/checkpoint-sub", "log/checkpoint/x"},
		{"fail/log-bare", "log"},
		{"fail/huge", "log/tile/0/" + strings.Repeat("x001/", 200) + "000"},
		{"fail/nul", "log/tile/0/000\x00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.failed(logEvent(t, "log-tile.json", c.path), http.StatusNotFound, hub.CodeNotFound)
		})
	}
}

// A store that fails is 500 internal with no internal text, and the
// credentials the error drags along stay out of the answer and the log.
func TestLogStoreFails(t *testing.T) {
	f := newLogFx(t, 3, func(tlog.Reader) hub.LogReader { return failingReader{} })
	for _, file := range []string{"log-checkpoint.json", "log-tile.json"} {
		r, body := f.raw(event(t, file))
		if r.Status != http.StatusInternalServerError || strings.Contains(string(body), "dynamodb") {
			t.Fatalf("%s: status %d: %s", file, r.Status, body)
		}
	}
}

type failingReader struct{}

func (failingReader) Read(context.Context, string) ([]byte, error) {
	return nil, errors.Join(errSecret, errors.New("s3: GetObject: connection reset"))
}
