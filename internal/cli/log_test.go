package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/witness"
)

// monsys log checkpoint against the local hub, which runs its own log and
// litewitness (SPEC 1.1): before the log published anything the hub
// answers 404 not_found (exit 1, the code on stderr); once its log has
// entries, it prints the checkpoint byte for byte, signed by hub.json's
// log_vkey and cosigned by its witness_vkeys, and --json wraps the same
// bytes. A restarted hub keeps its log key and its witness (key and
// database): the witness cosigns the grown log from what it saw before.
func TestLogCheckpoint(t *testing.T) {
	bucket := emutest.UniqueBucket(t)
	e := startHub(t, local.Config{LogBucket: bucket})
	info, err := profile.Read(e.profile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.LogVKey, local.DefaultLogOrigin+"+") || len(info.WitnessVKeys) != 1 ||
		!strings.HasPrefix(info.WitnessVKeys[0], local.WitnessName+"+") {
		t.Fatalf("hub.json log_vkey %q, witness_vkeys %q", info.LogVKey, info.WitnessVKeys)
	}

	r := e.monsys(t, "log", "checkpoint").want(t, 1)
	if !strings.Contains(r.stderr, "not_found") || r.stdout != "" {
		t.Fatalf("empty log: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	if _, err := e.hub.Log.Append(t.Context(), tlogtest.TestEntries("demo", 0, 3)...); err != nil {
		t.Fatal(err)
	}
	tiles, err := s3store.NewTiles(e.hub.S3, s3store.TilesConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := tiles.ReadCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tlogtest.VerifyLog(t, tlog.Stores{Tiles: tiles, Checkpoints: tiles}, info.LogVKey, tlogtest.TestEntries("demo", 0, 3))
	cosigned(t, cp, info)

	r = e.monsys(t, "log", "checkpoint").want(t, 0)
	if r.stdout != string(cp) || !strings.HasPrefix(r.stdout, local.DefaultLogOrigin+"\n3\n") {
		t.Fatalf("printed %q, want the stored checkpoint %q", r.stdout, cp)
	}
	var out struct {
		Checkpoint string `json:"checkpoint"`
	}
	e.monsys(t, "log", "checkpoint", "--json").want(t, 0).decode(t, &out)
	if out.Checkpoint != string(cp) {
		t.Fatalf("--json checkpoint %q, want %q", out.Checkpoint, cp)
	}

	t.Run("ok/restart-keeps-cosigning", func(t *testing.T) {
		cfg := e.cfg
		if err := e.hub.Close(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		h, err := local.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		again := h.Info()
		if again.LogVKey != info.LogVKey || !reflect.DeepEqual(again.WitnessVKeys, info.WitnessVKeys) {
			t.Fatalf("after a restart log_vkey %q, witness_vkeys %q; before %q, %q", again.LogVKey, again.WitnessVKeys, info.LogVKey, info.WitnessVKeys)
		}
		if _, err := h.Log.Append(ctx, tlogtest.TestEntries("demo", 3, 2)...); err != nil {
			t.Fatalf("the restarted hub's witness does not cosign the grown log: %v", err)
		}
		cp, _, err := tiles.ReadCheckpoint(ctx)
		if err != nil || !strings.HasPrefix(string(cp), local.DefaultLogOrigin+"\n5\n") {
			t.Fatalf("checkpoint %q, %v", cp, err)
		}
		cosigned(t, cp, again)
	})
}

// cosigned fails t unless cp carries a valid cosignature of every witness of info.
func cosigned(t *testing.T, cp []byte, info profile.Info) {
	t.Helper()
	var items []string
	for _, k := range info.WitnessVKeys {
		items = append(items, k+" http://127.0.0.1:9")
	}
	ws, q, err := witness.Parse(strings.Join(items, ","), "")
	if err != nil {
		t.Fatal(err)
	}
	set, err := witness.New(ws, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Quorum(cp); err != nil {
		t.Fatalf("checkpoint not cosigned by hub.json's witness: %v\n%s", err, cp)
	}
}
