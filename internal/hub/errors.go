package hub

import (
	"errors"
	"fmt"
	"time"
)

// Code is an error code of SPEC 4; the HTTP edge maps each to its status.
type Code string

// Error codes of SPEC 4.
const (
	CodeInvalidRequest   Code = "invalid_request"
	CodeUnauthorized     Code = "unauthorized"
	CodeForbidden        Code = "forbidden"
	CodeSignatureMissing Code = "signature_missing"
	CodeSignatureInvalid Code = "signature_invalid"
	CodeCertPinMismatch  Code = "cert_pin_mismatch"
	CodeNotFound         Code = "not_found"
	CodeReplayRejected   Code = "replay_rejected"
	CodeConflict         Code = "conflict" // a concurrent change of the same thing won; retry
	CodePayloadTooLarge  Code = "payload_too_large"
	CodeUnsupportedMedia Code = "unsupported_media_type"
	CodeThrottled        Code = "throttled"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"
)

// Error is a refusal with its SPEC code. Message is safe to show to the caller;
// Cause is for logs only.
type Error struct {
	Code       Code
	Message    string
	Cause      error
	LastSeq    *int64        // replay_rejected only
	RetryAfter time.Duration // throttled, unavailable, and a conflict worth retrying
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

func refuse(c Code, format string, a ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, a...)}
}

// backend turns a store failure into the error the caller sees: 429 or 503
// with Retry-After when the backend was throttled or away, else 500.
func backend(op string, err error) error {
	var he *Error
	if errors.As(err, &he) {
		return err
	}
	switch {
	case errors.Is(err, ErrThrottled):
		return &Error{Code: CodeThrottled, Message: "the hub is busy; retry later", Cause: fmt.Errorf("%s: %w", op, err), RetryAfter: 2 * time.Second}
	case errors.Is(err, ErrUnavailable):
		return &Error{Code: CodeUnavailable, Message: "the hub's storage is unavailable; retry later", Cause: fmt.Errorf("%s: %w", op, err), RetryAfter: 5 * time.Second}
	}
	return &Error{Code: CodeInternal, Message: "internal error", Cause: fmt.Errorf("%s: %w", op, err)}
}
