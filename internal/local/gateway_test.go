package local

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/clock"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestGatewayOwnErrors: the answers the gateway gives itself, before any
// handler runs, are SPEC 4 envelopes with a request_id, the same one as the
// X-Request-Id header, as API Gateway's gateway responses in template.yaml
// carry $context.requestId.
func TestGatewayOwnErrors(t *testing.T) {
	h := &Hub{cfg: Config{Clock: clock.Real{}}}
	tests := []struct {
		name   string
		body   io.Reader
		status int
		code   string
	}{
		{"fail/over-10-MiB", io.LimitReader(zeros{}, maxGatewayBody+1), http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"fail/unreadable-body", failingBody{}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.gateway(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/ingest", tt.body))
			var env struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatalf("body is not a JSON envelope: %q", rec.Body)
			}
			if rec.Code != tt.status || env.Error.Code != tt.code || env.Error.Message == "" {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if env.RequestID == "" || env.RequestID != rec.Header().Get("X-Request-Id") {
				t.Fatalf("request_id %q, X-Request-Id %q", env.RequestID, rec.Header().Get("X-Request-Id"))
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}
