package api

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
)

// ErrorResponse answers ev with err in the SPEC 4 envelope and logs it, as
// Handle answers a refused request. It is for a function whose Handler
// cannot be built yet (internal/app: the hub is not bootstrapped).
func ErrorResponse(ctx context.Context, log *slog.Logger, ev events.APIGatewayProxyRequest, err error) events.APIGatewayProxyResponse {
	h := &Handler{log: log}
	r := &request{ev: &ev, reqID: ev.RequestContext.RequestID}
	if r.reqID == "" {
		r.reqID = newRequestID()
	}
	_, resp := h.fail(ctx, r, err)
	resp.Headers["X-Request-Id"] = r.reqID
	return resp
}
