package pack_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
)

var update = flag.Bool("update", false, "rewrite testdata/period from packtest.March")

// TestBuildGolden: what goes into acme's March pack (packtest.March, one
// case of every rule of docs/packs.md, "What goes in") is byte for byte
// testdata/period, whatever order the source gives it in.
func TestBuildGolden(t *testing.T) {
	meta, signer, data := packtest.March()
	var out bytes.Buffer
	if _, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{Data: data}, &out); err != nil {
		t.Fatal(err)
	}
	packtest.CheckGolden(t, out.Bytes(), packtest.MarchDir, *update)

	slices.Reverse(data.Batches)
	slices.Reverse(data.Anomalies)
	slices.Reverse(data.Audit)
	var rev bytes.Buffer
	if _, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir(), SortMemory: 1, Workers: 3},
		&packtest.Source{Data: data}, &rev); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), rev.Bytes()) {
		t.Fatal("the pack depends on the order of the source's reads")
	}
}

// TestBuildEmptyPeriod: a period without data still has the three fixed
// files, with no records, and nothing else.
func TestBuildEmptyPeriod(t *testing.T) {
	meta, signer, _ := packtest.March()
	res, err := pack.Build(t.Context(), meta, signer, pack.Options{TempDir: t.TempDir()}, &packtest.Source{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range res.Manifest.Files {
		paths = append(paths, f.Path)
		if f.RecordCount != 0 {
			t.Errorf("%s has %d records", f.Path, f.RecordCount)
		}
	}
	if want := []string{pack.AgentsPath, pack.AnomaliesPath, pack.AuditPath}; !slices.Equal(paths, want) {
		t.Fatalf("files %q, want %q", paths, want)
	}
}

// TestBuildSourceFails: a read that fails fails the pack with the
// source's error, the read named, and nothing written; an error of the
// builder inside a read is the builder's, not the source's.
func TestBuildSourceFails(t *testing.T) {
	down := errors.New("backend down")
	tests := []struct {
		name string
		src  func(d packtest.Data) *packtest.Source
		want error
		text string
	}{
		{"fail/batches", func(d packtest.Data) *packtest.Source {
			return &packtest.Source{Data: d, Fail: map[string]error{"Batches": down}}
		}, down, "pack: read batches: "},
		{"fail/anomalies", func(d packtest.Data) *packtest.Source {
			return &packtest.Source{Data: d, Fail: map[string]error{"Anomalies": down}}
		}, down, "pack: read anomalies: "},
		{"fail/audit", func(d packtest.Data) *packtest.Source {
			return &packtest.Source{Data: d, Fail: map[string]error{"Audit": down}}
		}, down, "pack: read audit log: "},
		{"fail/agent", func(d packtest.Data) *packtest.Source {
			return &packtest.Source{Data: d, Fail: map[string]error{"Agent": down}}
		}, down, `pack: read agent "ag_signed": `}, // the key its first listed batch was signed with
		{"fail/signed-batches", func(d packtest.Data) *packtest.Source {
			return &packtest.Source{Data: d, Fail: map[string]error{"SignedBatches": down}}
		}, down, `pack: read signed batches of ag_signed: `},
		{"fail/unsafe-agent-id", func(d packtest.Data) *packtest.Source {
			d.Batches[0].AgentID = "../ag"
			return &packtest.Source{Data: d}
		}, pack.ErrInvalidPath, "pack: invalid data file path: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meta, signer, data := packtest.March()
			var out bytes.Buffer
			_, err := pack.Build(context.Background(), meta, signer, pack.Options{TempDir: t.TempDir()}, tc.src(data), &out)
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v starting %q", err, tc.want, tc.text)
			}
			if out.Len() != 0 {
				t.Fatalf("%d bytes written", out.Len())
			}
		})
	}
}

// TestRecordMembers: the members the verifiers read of a batch line are
// members of BatchLine.
func TestRecordMembers(t *testing.T) {
	tags := map[string]bool{}
	rt := reflect.TypeFor[pack.BatchLine]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		tags[name] = true
	}
	for _, m := range []string{pack.BatchKeyMember, pack.QuarantinedMember} {
		if !tags[m] {
			t.Errorf("%q is not a member of BatchLine", m)
		}
	}
}

// TestDataPaths: the paths of SPEC 8 are valid data paths, and a batch
// file says whose it is.
func TestDataPaths(t *testing.T) {
	for _, p := range []string{pack.AgentsPath, pack.AnomaliesPath, pack.AuditPath, pack.RecordsPath("ag_1", "metric"), pack.BatchPath("ag_1")} {
		if err := pack.CheckDataPath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	tests := []struct {
		name, path, agent string
	}{
		{"ok/batch", "agents/ag_1/batch.ndjson", "ag_1"},
		{"ok/made", pack.BatchPath("web-edge-01"), "web-edge-01"},
		{"fail/records", pack.RecordsPath("ag_1", "metric"), ""},
		{"fail/nested", "agents/a/b/batch.ndjson", ""},
		{"fail/no-agent", "agents//batch.ndjson", ""},
		{"fail/root", "batch.ndjson", ""},
		{"fail/other-dir", "alerts/ag_1/batch.ndjson", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agent, ok := pack.BatchPathAgent(tc.path)
			if ok != (tc.agent != "") || agent != tc.agent {
				t.Fatalf("BatchPathAgent(%q) = %q, %v; want %q", tc.path, agent, ok, tc.agent)
			}
		})
	}
}
