package dynamo

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Batch bodies are kept zstd-compressed in the attribute bodyZ, at the
// fastest level (on metric batches it compresses as well as the default, for
// less CPU): a 10 KiB batch of metrics is about 1.3 KiB, 2 write units
// instead of 11. Items stored before that hold the body as is in bodyRaw. Compression is
// lossless (the batch's sha256 stays that of the uncompressed body) and
// every frame carries zstd's checksum of its content, which the read checks,
// so the signed bytes come back exactly or not at all (docs/dynamodb.md,
// "Batch bodies").
const (
	bodyZ   = "body_z"
	bodyRaw = "body"
)

// maxBody bounds what a stored body may decompress to: well above
// batch.MaxBytes, so that a damaged item cannot make a reader allocate
// without limit.
const maxBody = 1 << 20

var (
	zenc = mustEncoder()
	zdec = mustDecoder()
)

func mustEncoder() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(fmt.Sprintf("dynamo: zstd encoder: %v", err))
	}
	return e
}

func mustDecoder() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBody),
		zstd.WithDecoderMaxWindow(maxBody))
	if err != nil {
		panic(fmt.Sprintf("dynamo: zstd decoder: %v", err))
	}
	return d
}

// compressed is a body's stored form, in a buffer of zbufs that release
// hands back once nothing refers to it any more.
type compressed struct{ b []byte }

// zbufs are the buffers of compressed bodies, reused from one PutBatch to
// the next (a 10 KiB batch compresses to about 1.3 KiB).
var zbufs = sync.Pool{New: func() any { return new(compressed) }}

// compressBody is the stored form of a body.
func compressBody(body []byte) *compressed {
	z := zbufs.Get().(*compressed)
	z.b = zenc.EncodeAll(body, z.b[:0])
	return z
}

// maxPooledBody bounds the buffers zbufs keeps: a body that compressed
// badly does not stay in memory for every later batch.
const maxPooledBody = 64 << 10

func (z *compressed) release() {
	if cap(z.b) > maxPooledBody {
		z.b = nil
	}
	zbufs.Put(z)
}

var errBodyDamaged = errors.New("stored batch body is damaged")

// readBody returns the exact body of a batch item.
func readBody(it item) ([]byte, error) {
	z := gb(it, bodyZ)
	if z == nil {
		return gb(it, bodyRaw), nil
	}
	body, err := zdec.DecodeAll(z, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %w", errBodyDamaged, err)
	}
	return body, nil
}
