package kmsserver

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestCanonicalContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]string
		want string // hex
	}{
		{name: "ok/nil", ctx: nil, want: "00000000"},
		{name: "ok/empty", ctx: map[string]string{}, want: "00000000"},
		{name: "ok/one-pair", ctx: map[string]string{"a": "b"}, want: "00000001" + "00000001" + "61" + "00000001" + "62"},
		{name: "ok/sorted-by-key", ctx: map[string]string{"b": "", "a": "x"}, want: "00000002" + "00000001" + "61" + "00000001" + "78" + "00000001" + "62" + "00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(canonicalContext(tt.ctx)); got != tt.want {
				t.Errorf("canonicalContext = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestCanonicalContextUnambiguous: contexts that a naive concatenation
// would confuse encode differently.
func TestCanonicalContextUnambiguous(t *testing.T) {
	pairs := []struct {
		name string
		a, b map[string]string
	}{
		{name: "fail/key-value-boundary", a: map[string]string{"ab": "c"}, b: map[string]string{"a": "bc"}},
		{name: "fail/pair-boundary", a: map[string]string{"a": "b", "c": "d"}, b: map[string]string{"a": "bcd"}},
		{name: "fail/empty-vs-missing", a: map[string]string{"a": ""}, b: map[string]string{}},
		{name: "fail/separator-in-value", a: map[string]string{"a": "b\x00c\x00d"}, b: map[string]string{"a": "b", "c": "d"}},
	}
	for _, tt := range pairs {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(canonicalContext(tt.a), canonicalContext(tt.b)) {
				t.Errorf("%v and %v encode the same", tt.a, tt.b)
			}
		})
	}
}

// blobVector pins ciphertext format v1: blobs persisted by one version of
// the server must decrypt with the next.
type blobVector struct {
	AESKey    string            `json:"aes_key"`
	KeyID     string            `json:"key_id"`
	Context   map[string]string `json:"context"`
	Nonce     string            `json:"nonce"`
	Plaintext string            `json:"plaintext"`
	Blob      string            `json:"blob"`
}

func TestBlobVector(t *testing.T) {
	path := filepath.Join("testdata", "ciphertext-v1.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v blobVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	aesKey, _ := hex.DecodeString(v.AESKey)
	nonce, _ := hex.DecodeString(v.Nonce)
	blob, err := seal(aesKey, v.KeyID, v.Context, nonce, []byte(v.Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		v.Blob = hex.EncodeToString(blob)
		out, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := hex.EncodeToString(blob); got != v.Blob {
		t.Fatalf("seal = %s, want %s", got, v.Blob)
	}
	id, err := blobKeyID(blob)
	if err != nil || id != v.KeyID {
		t.Fatalf("blobKeyID = %q, %v", id, err)
	}
	pt, err := open(aesKey, v.Context, blob)
	if err != nil || string(pt) != v.Plaintext {
		t.Fatalf("open = %q, %v", pt, err)
	}
}
