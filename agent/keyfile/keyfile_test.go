package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fixedRand is a deterministic randomness source for reproducible keys.
type fixedRand byte

func (r fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r) + byte(i)
	}
	return len(p), nil
}

func TestLoadOrCreate(t *testing.T) {
	t.Run("ok/creates then loads the same key", func(t *testing.T) {
		p := Path(t.TempDir())
		k1, created, err := LoadOrCreate(p, fixedRand(1))
		if err != nil || !created {
			t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
		}
		k2, created, err := LoadOrCreate(p, fixedRand(2))
		if err != nil || created {
			t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
		}
		if !k1.Equal(k2) {
			t.Error("second start loaded a different key")
		}
		raw, _ := os.ReadFile(p)
		if !bytes.Equal(raw, k1.Seed()) {
			t.Errorf("file holds %d bytes that are not the raw seed", len(raw))
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 {
			t.Errorf("state dir has %d entries, want only the key", len(entries))
		}
	})
	t.Run("fail/create over an existing key", func(t *testing.T) {
		p := Path(t.TempDir())
		k, _ := Generate(fixedRand(3))
		if err := Create(p, k); err != nil {
			t.Fatal(err)
		}
		k2, _ := Generate(fixedRand(4))
		if err := Create(p, k2); !errors.Is(err, ErrExist) {
			t.Fatalf("Create over existing: err = %v, want ErrExist", err)
		}
		got, err := Load(p)
		if err != nil || !got.Equal(k) {
			t.Fatalf("existing key was changed (err %v)", err)
		}
	})
	t.Run("ok/replace", func(t *testing.T) {
		p := Path(t.TempDir())
		k, _ := Generate(fixedRand(5))
		k2, _ := Generate(fixedRand(6))
		if err := Create(p, k); err != nil {
			t.Fatal(err)
		}
		if err := Replace(p, k2); err != nil {
			t.Fatal(err)
		}
		got, err := Load(p)
		if err != nil || !got.Equal(k2) {
			t.Fatalf("Replace did not take: err %v", err)
		}
	})
}

func TestLoadRefusals(t *testing.T) {
	seed := ed25519.NewKeyFromSeed(make([]byte, 32)).Seed()
	tests := []struct {
		name    string
		content []byte
		missing bool
		want    error
	}{
		{name: "ok/32 bytes", content: seed},
		{name: "fail/missing", missing: true, want: ErrNotExist},
		{name: "fail/empty", content: []byte{}, want: ErrSize},
		{name: "fail/31 bytes", content: seed[:31], want: ErrSize},
		{name: "fail/33 bytes", content: append(append([]byte{}, seed...), '\n'), want: ErrSize},
		{name: "fail/64-byte expanded key", content: ed25519.NewKeyFromSeed(seed), want: ErrSize},
		{name: "fail/pem", content: []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"), want: ErrSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Path(t.TempDir())
			if !tt.missing {
				if err := os.WriteFile(p, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load: err = %v, want %v", err, tt.want)
			}
			if tt.want != nil && !bytes.Contains([]byte(err.Error()), []byte(p)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
