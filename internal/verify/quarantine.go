package verify

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/monsys/hub/internal/pack"
)

// Quarantine is one batch.ndjson line that says its batch was quarantined
// (SPEC 9, "Records that cannot be packed"): stored, but none of its
// records could be packed. Unreadable is a line that names a quarantine
// but is not I-JSON with string members batch_key and quarantined, or that
// is longer than a batch line can be.
type Quarantine struct {
	Path       string // the batch file, relative to data/
	Line       int64  // from 1
	AgentID    string
	BatchKey   string
	Reason     string
	Unreadable bool
}

// maxBatchLine bounds a batch.ndjson line the verifiers read: a line of
// SPEC 9 (a 256 KiB body in base64 and its fields) is well under it.
const maxBatchLine = 1 << 20

// quarantineMark starts the member every quarantine line has. In canonical
// JSON a quote inside a string is escaped, so the mark is never part of a
// string value.
var quarantineMark = []byte(`"` + pack.QuarantinedMember + `":`)

// lineSplit cuts a file into lines as it streams by, keeping at most one
// line of maxBatchLine bytes, and hands each to fn: its number (from 1),
// its bytes, and whether it was longer than maxBatchLine (then not kept).
// The bytes are only valid during the call.
type lineSplit struct {
	line []byte
	long bool
	n    int64
	fn   func(n int64, line []byte, long bool)
}

func (q *lineSplit) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			q.add(p)
			return
		}
		if len(q.line) == 0 && !q.long && i <= maxBatchLine {
			// The whole line is in p: handed over without a copy.
			q.n++
			q.fn(q.n, p[:i], false)
		} else {
			q.add(p[:i])
			q.end()
		}
		p = p[i+1:]
	}
}

func (q *lineSplit) add(b []byte) {
	switch {
	case q.long:
	case len(q.line)+len(b) > maxBatchLine:
		q.long, q.line = true, q.line[:0]
	default:
		q.line = append(q.line, b...)
	}
}

// end takes the line read so far.
func (q *lineSplit) end() {
	q.n++
	q.fn(q.n, q.line, q.long)
	q.line, q.long = q.line[:0], false
}

// close takes a last line without its newline.
func (q *lineSplit) close() {
	if len(q.line) > 0 || q.long {
		q.end()
	}
}

// quarantineScan collects the quarantine lines of one batch.ndjson.
type quarantineScan struct {
	path, agent string
	found       []Quarantine
}

func (q *quarantineScan) line(n int64, line []byte, long bool) {
	switch {
	case long:
		q.found = append(q.found, Quarantine{Path: q.path, Line: n, AgentID: q.agent, Unreadable: true})
	case bytes.Contains(line, quarantineMark):
		e := Quarantine{Path: q.path, Line: n, AgentID: q.agent, Unreadable: true}
		if o, _, bad := parseObject(line); bad == "" {
			key, okk := o.str(pack.BatchKeyMember)
			reason, okr := o.str(pack.QuarantinedMember)
			if okk && okr {
				e.BatchKey, e.Reason, e.Unreadable = key, reason, false
			}
		}
		q.found = append(q.found, e)
	}
}

// CheckQuarantine warns of every quarantined batch the pack lists, and of
// every batch line that could not be read, in path and line order. It
// never fails: quarantined data is reported, not hidden, and the rest of
// the pack holds (SPEC 9).
func CheckQuarantine(c *Contents) Check {
	ch := newCheck("quarantine")
	qs := slices.Clone(c.Quarantined)
	slices.SortFunc(qs, func(a, b Quarantine) int {
		if d := strings.Compare(a.Path, b.Path); d != 0 {
			return d
		}
		return int(a.Line - b.Line)
	})
	for _, q := range qs {
		if q.Unreadable {
			ch.warn(fmt.Sprintf("Batch line not readable: data/%s line %d", show(q.Path), q.Line))
			continue
		}
		ch.warn(fmt.Sprintf("Quarantined batch (records not packed): agent %s, batch %s: %s", show(q.AgentID), show(q.BatchKey), show(q.Reason)))
	}
	return ch
}
