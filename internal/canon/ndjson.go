package canon

import (
	"fmt"
	"io"
)

// Line returns the canonical form of the JSON value raw followed by '\n'.
// Canonical JSON never holds a raw newline, so the result is one NDJSON line.
func Line(raw []byte) ([]byte, error) {
	b, err := Transform(raw)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// MarshalLine is Line for a Go value encoded with encoding/json.
func MarshalLine(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Writer writes canonical NDJSON lines in the order it is given them and
// counts them. It does not sort: pack.Builder does that for evidence files.
type Writer struct {
	w io.Writer
	n int64
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Encode writes v as one canonical line.
func (w *Writer) Encode(v any) error {
	line, err := MarshalLine(v)
	if err != nil {
		return err
	}
	return w.writeLine(line)
}

// WriteRaw writes the JSON value raw as one canonical line.
func (w *Writer) WriteRaw(raw []byte) error {
	line, err := Line(raw)
	if err != nil {
		return err
	}
	return w.writeLine(line)
}

func (w *Writer) writeLine(line []byte) error {
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("canon: write line %d: %w", w.n+1, err)
	}
	w.n++
	return nil
}

// Count reports how many lines have been written.
func (w *Writer) Count() int64 { return w.n }
