package packtest

import (
	"archive/tar"
	"testing"
)

func archive(t *testing.T, files map[string]string, order []string) []byte {
	t.Helper()
	ms := make([]Member, len(order))
	for i, name := range order {
		ms[i] = Member{Hdr: tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}, Body: []byte(files[name])}
	}
	b, err := Repack(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFlipByte (cmd/monsys-demo's TestTamperTar before it moved here with
// the code): one data file changes, the anomalies file first, and nothing
// else does.
func TestFlipByte(t *testing.T) {
	files := map[string]string{
		"manifest.json":                   `{"format_version":1}`,
		"verify.py":                       "print('ok')\n",
		"data/agents.ndjson":              `{"agent_id":"ag_1"}` + "\n",
		"data/alerts/anomalies.ndjson":    `{"kind":"signature_invalid"}` + "\n",
		"data/audit_log/audit_log.ndjson": "",
	}
	order := []string{"manifest.json", "verify.py", "data/agents.ndjson", "data/alerts/anomalies.ndjson", "data/audit_log/audit_log.ndjson"}
	tests := []struct {
		name   string
		order  []string
		victim string
		fail   bool
	}{
		{name: "ok/prefers-anomalies", order: order, victim: "data/alerts/anomalies.ndjson"},
		{name: "ok/first-data-file", order: order[:3], victim: "data/agents.ndjson"},
		{name: "fail/no-data", order: order[:2], fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pack := archive(t, files, tc.order)
			bad, victim, err := FlipByte(pack)
			if tc.fail {
				if err == nil {
					t.Fatal("tampered an archive without data files")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if victim != tc.victim {
				t.Fatalf("victim %s, want %s", victim, tc.victim)
			}
			ms, err := Unpack(bad)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tc.order) {
				t.Fatalf("%d members, want %d", len(ms), len(tc.order))
			}
			for i, m := range ms {
				name := tc.order[i]
				if m.Hdr.Name != name {
					t.Fatalf("member %d is %s, want %s", i, m.Hdr.Name, name)
				}
				if changed := string(m.Body) != files[name]; changed != (name == victim) {
					t.Errorf("%s: changed=%v", name, changed)
				}
			}
		})
	}
}
