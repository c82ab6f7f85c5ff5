// Package batch builds and sequences ingest bodies as SPEC 4.2 defines them:
// a JSON array whose first element is the batch header, at most 1000 elements
// and 256 KiB. The agent signs them with the hub's own package
// internal/sig (SPEC 3), so that signing and verifying are one implementation.
package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Hub limits on one ingest body (SPEC 4.2).
const (
	MaxBodyBytes = 256 << 10
	MaxElements  = 1000
)

// headerReserve bounds the encoded size of any Header with a version string
// of up to 64 bytes; splitting leaves this much room for it.
const headerReserve = 192

// Sentinel errors.
var (
	// ErrRecordTooLarge means one record cannot fit in any body.
	ErrRecordTooLarge = errors.New("record too large for one batch")
	// ErrMalformed means a body is not an array that starts with a header.
	ErrMalformed = errors.New("malformed batch body")
)

// Header is the first element of a signed batch.
type Header struct {
	Type         string `json:"type"`
	TS           string `json:"ts"`
	Seq          int64  `json:"seq"`
	AgentVersion string `json:"agent_version"`
}

// NewHeader makes the header for a batch created at now with seq.
func NewHeader(now time.Time, seq int64, version string) Header {
	return Header{Type: "batch", TS: TS(now), Seq: seq, AgentVersion: version}
}

// TS formats a record timestamp: RFC 3339, UTC, whole seconds.
func TS(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NextSeq returns the seq of the next batch: max(unix_nanos_now, last+1).
func NextSeq(now time.Time, last int64) int64 {
	return max(now.UnixNano(), last+1)
}

// Split cuts records, in order, into groups that each fit one body together
// with a header: at most MaxElements-1 records and MaxBodyBytes in all.
// Records that cannot fit even alone are returned in tooLarge, not in groups.
func Split(records []json.RawMessage) (groups [][]json.RawMessage, tooLarge []json.RawMessage) {
	var cur []json.RawMessage
	size := 2 + headerReserve // brackets and header
	for _, r := range records {
		n := len(r) + 1 // the record and its comma
		if 2+headerReserve+n > MaxBodyBytes {
			tooLarge = append(tooLarge, r)
			continue
		}
		if len(cur) == MaxElements-1 || size+n > MaxBodyBytes {
			groups = append(groups, cur)
			cur, size = nil, 2+headerReserve
		}
		cur = append(cur, r)
		size += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups, tooLarge
}

// Encode returns the body: [header, records...]. Records must be valid JSON.
func Encode(h Header, records []json.RawMessage) ([]byte, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode batch header: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(hb) + 2 + len(records)*64)
	b.WriteByte('[')
	b.Write(hb)
	for _, r := range records {
		b.WriteByte(',')
		b.Write(r)
	}
	b.WriteByte(']')
	if b.Len() > MaxBodyBytes || len(records)+1 > MaxElements {
		return nil, fmt.Errorf("encode batch: %d bytes, %d elements: %w", b.Len(), len(records)+1, ErrRecordTooLarge)
	}
	return b.Bytes(), nil
}

// Decode splits a body into its header and the exact bytes of its records.
func Decode(body []byte) (Header, []json.RawMessage, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return Header{}, nil, fmt.Errorf("decode batch: %w: %w", ErrMalformed, err)
	}
	if len(elems) == 0 {
		return Header{}, nil, fmt.Errorf("decode batch: empty array: %w", ErrMalformed)
	}
	var h Header
	if err := json.Unmarshal(elems[0], &h); err != nil || h.Type != "batch" {
		return Header{}, nil, fmt.Errorf("decode batch: first element is not a batch header: %w", ErrMalformed)
	}
	return h, elems[1:], nil
}

// Resequence returns body with its header's seq replaced, the records' bytes
// unchanged. It is used only after the hub answered 409 replay_rejected.
func Resequence(body []byte, seq int64) ([]byte, error) {
	h, recs, err := Decode(body)
	if err != nil {
		return nil, fmt.Errorf("resequence: %w", err)
	}
	h.Seq = seq
	return Encode(h, recs)
}
