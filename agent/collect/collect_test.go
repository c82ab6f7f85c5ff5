package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

// fixtureProc copies testdata/proc into a temporary directory so the test
// can swap /proc/stat between samples.
func fixtureProc(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/proc", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/proc", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMetrics(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fixtures are Linux /proc files")
	}
	proc := fixtureProc(t)
	m := &Metrics{HostProc: proc, DiskPaths: []string{t.TempDir()}, Uptime: func(context.Context) (uint64, error) { return 3600, nil }}

	recs, err := m.Collect(context.Background(), t0)
	if err != nil {
		t.Fatalf("ok/first sample: %v", err)
	}
	first := recs[0].(Metric)
	if first.CPUPercent != nil {
		t.Errorf("first sample has cpu_percent %v; it needs two samples", *first.CPUPercent)
	}
	if first.Load1 != 0.52 || first.Load15 != 0.21 {
		t.Errorf("load = %v/%v, want 0.52/0.21 from fixture", first.Load1, first.Load15)
	}
	if first.MemTotal != 8000000*1024 || first.MemAvailable != 6000000*1024 || first.SwapFree != 900000*1024 {
		t.Errorf("memory = %+v", first)
	}
	if first.UptimeSeconds != 3600 || len(first.Disks) != 1 || first.Disks[0].Total == 0 {
		t.Errorf("uptime/disks = %d / %+v", first.UptimeSeconds, first.Disks)
	}

	later, _ := os.ReadFile(filepath.Join(proc, "stat.later"))
	if err := os.WriteFile(filepath.Join(proc, "stat"), later, 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err = m.Collect(context.Background(), t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("ok/second sample: %v", err)
	}
	second := recs[0].(Metric)
	// Between the fixtures: busy +400 (user 300, system 100), idle+iowait +600.
	if second.CPUPercent == nil || *second.CPUPercent != 40 {
		t.Fatalf("cpu_percent = %v, want 40", second.CPUPercent)
	}
	raw, _ := json.Marshal(second)
	for _, k := range []string{`"type":"metric"`, `"ts":"2026-04-01T10:01:00Z"`, `"cpu_percent":40`, `"uptime_seconds":3600`} {
		if !bytes.Contains(raw, []byte(k)) {
			t.Errorf("record %s lacks %s", raw, k)
		}
	}
	t.Run("fail/missing proc", func(t *testing.T) {
		m := &Metrics{HostProc: t.TempDir(), Uptime: func(context.Context) (uint64, error) { return 1, nil }}
		recs, err := m.Collect(context.Background(), t0)
		if err == nil || len(recs) != 1 {
			t.Fatalf("err = %v, %d records; want an error and a partial record", err, len(recs))
		}
	})
}

func TestInventory(t *testing.T) {
	in := &Inventory{
		Root:     "testdata/root",
		HostProc: "testdata/proc",
		Hostname: func() (string, error) { return "web-edge-01", nil },
	}
	recs, err := in.Collect(context.Background(), t0)
	if runtime.GOOS != "linux" {
		t.Skip("listening ports fixtures are Linux /proc files")
	}
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(recs, "", " ")
	golden := filepath.Join("testdata", "inventory.golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		_ = os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("inventory =\n%s\nwant\n%s", got, want)
	}
}

func TestInventoryRPMAndParts(t *testing.T) {
	rpmOut, _ := os.ReadFile("testdata/rpm-qa.txt")
	tests := []struct {
		name      string
		rpm       func(context.Context) ([]byte, error)
		wantPkgs  int
		wantParts int
		wantErr   bool
	}{
		{name: "ok/rpm", rpm: func(context.Context) ([]byte, error) { return rpmOut, nil }, wantPkgs: 2, wantParts: 1},
		{name: "ok/many packages in parts", rpm: func(context.Context) ([]byte, error) {
			var b strings.Builder
			for i := range 2500 {
				b.WriteString("pkg" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "\t1.0\tnoarch\n")
			}
			return []byte(b.String()), nil
		}, wantPkgs: 2500, wantParts: 3},
		{name: "fail/rpm fails", rpm: func(context.Context) ([]byte, error) { return nil, errors.New("boom") }, wantErr: true, wantParts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir() // no dpkg status: rpm is asked
			_ = os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			_ = os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=rhel\n"), 0o644)
			in := &Inventory{Root: root, HostProc: "testdata/proc", RPM: tt.rpm, Hostname: func() (string, error) { return "h", nil }}
			recs, err := in.Collect(context.Background(), t0)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(recs) != tt.wantParts {
				t.Fatalf("%d parts, want %d", len(recs), tt.wantParts)
			}
			n := 0
			for i, r := range recs {
				s := r.(InventorySnapshot)
				n += len(s.Packages)
				if s.Part != i+1 || s.Parts != tt.wantParts || s.SnapshotID != recs[0].(InventorySnapshot).SnapshotID {
					t.Errorf("part header %d/%d id %s", s.Part, s.Parts, s.SnapshotID)
				}
				if raw, _ := json.Marshal(r); len(raw) > 128<<10 {
					t.Errorf("part %d is %d bytes", i, len(raw))
				}
			}
			if n != tt.wantPkgs {
				t.Errorf("%d packages, want %d", n, tt.wantPkgs)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	kv := ParseOSRelease([]byte("ID=ubuntu\nVERSION_ID=\"24.04\"\nPRETTY_NAME='Ubuntu 24.04 LTS'\nBROKEN\n"))
	if kv["ID"] != "ubuntu" || kv["VERSION_ID"] != "24.04" || kv["PRETTY_NAME"] != "Ubuntu 24.04 LTS" || len(kv) != 3 {
		t.Fatalf("ParseOSRelease = %v", kv)
	}
}
