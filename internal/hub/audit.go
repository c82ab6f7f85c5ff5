package hub

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// auditor appends the use cases' audit events to the sink, stamped with the
// clock's time when they carry none.
type auditor struct {
	sink AuditSink
	env  Env
}

// record appends e. A failure fails the request (with 503 when the backend
// is away): every audited step is idempotent, so the caller's retry completes it.
func (a auditor) record(ctx context.Context, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = a.env.now()
	}
	if err := a.sink.AppendAudit(ctx, e); err != nil {
		return backend("append audit "+e.Action, err)
	}
	return nil
}

// auditID derives a stable event id from its parts, so retries overwrite.
func auditID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return "ev_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:15])
}
