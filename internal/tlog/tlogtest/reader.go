package tlogtest

import (
	"context"
	"errors"

	"filippo.io/torchwood"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/monsys/hub/internal/tlog"
)

// storeReader reads tiles straight from a store, as a monitor reading the
// bucket would.
type storeReader struct{ st tlog.Tiles }

func (s storeReader) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := s.st.ReadTile(ctx, torchwood.TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (storeReader) SaveTiles([]sumtlog.Tile, [][]byte) {}

func (storeReader) ReadEndpoint(context.Context, string) ([]byte, error) {
	return nil, errors.ErrUnsupported
}
