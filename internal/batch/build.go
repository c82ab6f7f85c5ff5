package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// This file is the writing side of SPEC 4.2, for the agent: the header it
// puts first, the timestamps it writes and how records are cut into bodies.
// It shares the limits and rules of Parse, so that what Encode writes, Parse
// (and so the hub) accepts; TestEncodeParses holds the two together.

// headerReserve bounds the encoded size of any header Encode writes (the
// longest timestamp, seq, agent_version and prev); Split leaves this much room.
const headerReserve = 272

// ErrTooLarge means records do not fit in one body: more than MaxBytes or
// MaxRecords with their header.
var ErrTooLarge = errors.New("batch too large")

// TS formats a record timestamp as the agent writes it: RFC 3339, UTC,
// whole seconds.
func TS(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NextSeq returns the seq of the next batch: max(unix_nanos_now, last+1)
// (SPEC 4.2).
func NextSeq(now time.Time, last int64) int64 {
	return max(now.UnixNano(), last+1)
}

// appendHeader writes h as the batch header record:
// {"type":"batch","ts":...,"seq":...,"agent_version":...[,"prev":...]}.
func appendHeader(b []byte, h Header) ([]byte, error) {
	if h.Seq <= 0 {
		return nil, fmt.Errorf("batch header: seq %d must be positive", h.Seq)
	}
	if h.AgentVersion == "" || len(h.AgentVersion) > maxVersion {
		return nil, fmt.Errorf("batch header: agent_version %.70q must be 1 to %d bytes", h.AgentVersion, maxVersion)
	}
	if h.Prev != "" && !IsSHA256Hex(h.Prev) {
		return nil, fmt.Errorf("batch header: prev %.80q must be a lowercase hex SHA-256", h.Prev)
	}
	v, err := json.Marshal(h.AgentVersion)
	if err != nil {
		return nil, fmt.Errorf("batch header: %w", err)
	}
	b = append(b, `{"type":"`+HeaderType+`","ts":"`...)
	b = append(b, TS(h.TS)...)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, h.Seq, 10)
	b = append(b, `,"agent_version":`...)
	b = append(b, v...)
	if h.Prev != "" {
		b = append(b, `,"prev":"`...)
		b = append(b, h.Prev...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// Split cuts records, in order, into groups that each fit one body with a
// header: at most MaxRecords-1 records and MaxBytes in all. Records that
// cannot fit even alone are returned in tooLarge, not in groups.
func Split(records []json.RawMessage) (groups [][]json.RawMessage, tooLarge []json.RawMessage) {
	const empty = 2 + headerReserve // the brackets and the header
	var cur []json.RawMessage
	size := empty
	for _, r := range records {
		n := len(r) + 1 // the record and its comma
		if empty+n > MaxBytes {
			tooLarge = append(tooLarge, r)
			continue
		}
		if len(cur) == MaxRecords-1 || size+n > MaxBytes {
			groups = append(groups, cur)
			cur, size = nil, empty
		}
		cur = append(cur, r)
		size += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups, tooLarge
}

// Encode returns the body [header, records...]; the records' bytes are
// written as they are and must each be a JSON object.
func Encode(h Header, records []json.RawMessage) ([]byte, error) {
	if len(records)+1 > MaxRecords {
		return nil, fmt.Errorf("encode batch: %d records and the header: %w", len(records), ErrTooLarge)
	}
	n := 2 + headerReserve
	for _, r := range records {
		n += len(r) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	b, err := appendHeader(b, h)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	for _, r := range records {
		b = append(b, ',')
		b = append(b, r...)
	}
	b = append(b, ']')
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("encode batch: %d bytes: %w", len(b), ErrTooLarge)
	}
	return b, nil
}

// Resequence returns body with its header's seq replaced and the records'
// bytes unchanged. The agent uses it only after the hub answered 409
// replay_rejected, so body is a batch Parse accepts.
func Resequence(body []byte, seq int64) ([]byte, error) {
	out, err := rewrite(body, func(h *Header) { h.Seq = seq })
	if err != nil {
		return nil, fmt.Errorf("resequence: %w", err)
	}
	return out, nil
}

// Rechain returns body with its header's prev set to prev ("" removes it)
// and the records' bytes unchanged: the agent chains a spooled batch to the
// last body the hub acknowledged just before it sends it.
func Rechain(body []byte, prev string) ([]byte, error) {
	out, err := rewrite(body, func(h *Header) { h.Prev = prev })
	if err != nil {
		return nil, fmt.Errorf("rechain: %w", err)
	}
	return out, nil
}

// rewrite re-encodes the signed batch body with its header changed by fn.
func rewrite(body []byte, fn func(*Header)) ([]byte, error) {
	b, err := Parse(body, true)
	if err != nil {
		return nil, err
	}
	h := *b.Header
	fn(&h)
	raws := make([]json.RawMessage, len(b.Records))
	for i, r := range b.Records {
		raws[i] = r.Raw
	}
	return Encode(h, raws)
}
