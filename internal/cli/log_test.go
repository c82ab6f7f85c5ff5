package cli

import (
	"strings"
	"testing"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// monsys log checkpoint against the local hub: before the log published
// anything the hub answers 404 not_found (exit 1, the code on stderr);
// once a checkpoint is in the log bucket, it prints it byte for byte, and
// --json wraps the same bytes.
func TestLogCheckpoint(t *testing.T) {
	bucket := emutest.UniqueBucket(t)
	e := startHub(t, local.Config{LogBucket: bucket})

	r := e.monsys(t, "log", "checkpoint").want(t, 1)
	if !strings.Contains(r.stderr, "not_found") || r.stdout != "" {
		t.Fatalf("empty log: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	// The log's writer (the integrity function in AWS) publishes into the
	// bucket the hub serves: sequencing state in memory, tiles and
	// checkpoint in MinIO.
	tiles, err := s3store.NewTiles(e.hub.S3, s3store.TilesConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	mem := tlogtest.NewMemory()
	l, err := tlog.New(tlog.Config{Origin: tlogtest.Origin},
		tlog.Stores{Heads: mem, Pool: mem, Lookup: mem, Tiles: tiles, Checkpoints: tiles}, tlogtest.NewKey(1), tlogtest.Unwitnessed{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), tlogtest.TestEntries("demo", 0, 3)...); err != nil {
		t.Fatal(err)
	}
	cp, _, err := tiles.ReadCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tlogtest.VerifyLog(t, tlog.Stores{Tiles: tiles, Checkpoints: tiles}, l.VerifierKey(), tlogtest.TestEntries("demo", 0, 3))

	r = e.monsys(t, "log", "checkpoint").want(t, 0)
	if r.stdout != string(cp) || !strings.HasPrefix(r.stdout, tlogtest.Origin+"\n3\n") {
		t.Fatalf("printed %q, want the stored checkpoint %q", r.stdout, cp)
	}
	var out struct {
		Checkpoint string `json:"checkpoint"`
	}
	e.monsys(t, "log", "checkpoint", "--json").want(t, 0).decode(t, &out)
	if out.Checkpoint != string(cp) {
		t.Fatalf("--json checkpoint %q, want %q", out.Checkpoint, cp)
	}
}
