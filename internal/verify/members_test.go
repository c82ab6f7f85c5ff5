package verify_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/canon"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/verify"
)

// jsonMembers are the JSON member names of a struct type's fields.
func jsonMembers(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestManifestMembersRead holds ParseManifest to internal/pack's
// definition of manifest.json (pack.Manifest, pack.FileEntry,
// pack.PackRef): every member the format writes is one the verifier reads,
// so that a value of the wrong type in any of them is refused. A member
// added to the format fails here until the verifiers check it.
func TestManifestMembersRead(t *testing.T) {
	good := pack.Manifest{FormatVersion: pack.FormatVersion, PackID: "pk_1", TenantID: "acme", PeriodStart: "2026-03-01T00:00:00Z",
		PeriodEnd: "2026-03-31T23:59:59Z", GeneratedAt: "2026-04-01T10:02:00Z", SigningKeyID: "sk_1",
		Files:      []pack.FileEntry{{Path: "agents.ndjson", SHA256: strings.Repeat("ab", 32), RecordCount: 2}},
		InputsHash: "sha256:" + strings.Repeat("cd", 32), KeyLineageSHA256: strings.Repeat("ef", 32),
		PreviousPack: &pack.PackRef{PackID: "pk_0", ManifestSHA256: strings.Repeat("01", 32)}}
	b, err := good.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.ParseManifest(b); err != nil {
		t.Fatalf("ok/good: %v", err)
	}
	edits := map[string]func(m map[string]any, bad any){}
	for _, k := range jsonMembers(reflect.TypeFor[pack.Manifest]()) {
		edits["fail/"+k] = func(m map[string]any, bad any) { m[k] = bad }
	}
	for _, k := range jsonMembers(reflect.TypeFor[pack.FileEntry]()) {
		edits["fail/files/"+k] = func(m map[string]any, bad any) { m["files"].([]any)[0].(map[string]any)[k] = bad }
	}
	for _, k := range jsonMembers(reflect.TypeFor[pack.PackRef]()) {
		edits["fail/previous_pack/"+k] = func(m map[string]any, bad any) { m["previous_pack"].(map[string]any)[k] = bad }
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			for _, bad := range []any{map[string]any{"x": 1}, true} {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				edit(m, bad)
				raw, err := canon.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := verify.ParseManifest(raw); err == nil {
					t.Fatalf("ParseManifest accepts %s", raw)
				}
			}
		})
	}
}
