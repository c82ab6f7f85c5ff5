package pack

import (
	"context"
	"io"
)

// BuildFormat1 is Build without what format 2 added: no batch.ndjson, and
// format_version 1 in the manifest. The agents' lines keep their key
// history (a few hundred bytes a pack). It exists only to measure what
// provenance costs against format 1 on the same data.
func BuildFormat1(ctx context.Context, meta Meta, signer Signer, opts Options, src Source, w io.Writer) (*Result, error) {
	b, err := NewBuilder(meta, signer, opts)
	if err != nil {
		return nil, err
	}
	b.format1 = true
	defer b.Close()
	if err := b.addPeriod(ctx, src); err != nil {
		return nil, err
	}
	return b.Finish(ctx, w)
}
