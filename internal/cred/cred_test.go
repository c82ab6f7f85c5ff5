package cred_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/monsys/hub/internal/cred"
)

// fixed is 32 bytes 0x00..0x1f: a reproducible secret.
func fixed() io.Reader {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i)
	}
	return bytes.NewReader(b)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		kind   cred.Kind
		r      io.Reader
		want   string
		prefix string
		err    bool
	}{
		{name: "ok/agent-fixed", kind: cred.KindAgent, r: fixed(), want: "ms_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
		{name: "ok/admin-fixed", kind: cred.KindAdmin, r: fixed(), want: "msa_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
		{name: "ok/agent-random", kind: cred.KindAgent, r: nil, prefix: "ms_"},
		{name: "ok/admin-random", kind: cred.KindAdmin, r: nil, prefix: "msa_"},
		{name: "fail/short-reader", kind: cred.KindAgent, r: bytes.NewReader(make([]byte, 31)), err: true},
		{name: "fail/empty-reader", kind: cred.KindAdmin, r: bytes.NewReader(nil), err: true},
		{name: "fail/reader-error", kind: cred.KindAgent, r: iotest.ErrReader(errors.New("entropy gone")), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r == nil {
				r = rand.Reader
			}
			got, err := cred.New(tt.kind, r)
			if tt.err {
				if err == nil || got != "" {
					t.Fatalf("New = %q, %v; want an error and no credential", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("New = %q, want %q", got, tt.want)
			}
			if tt.prefix != "" && !strings.HasPrefix(got, tt.prefix) {
				t.Fatalf("New = %q, want prefix %q", got, tt.prefix)
			}
			// SPEC 2: the prefix then at least 32 random bytes in base64url (43 characters unpadded).
			p := "ms_"
			if tt.kind == cred.KindAdmin {
				p = "msa_"
			}
			if len(got) != len(p)+43 {
				t.Fatalf("New = %q: %d characters, want %d", got, len(got), len(p)+43)
			}
			if k, err := cred.Classify(got); err != nil || k != tt.kind {
				t.Fatalf("Classify(New) = %v, %v; want %v", k, err, tt.kind)
			}
		})
	}
}

func TestNewIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c, err := cred.New(cred.KindAgent, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c] {
			t.Fatalf("credential %s repeated", c)
		}
		seen[c] = true
	}
}

func TestClassify(t *testing.T) {
	body := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // 43 characters
	tests := []struct {
		name string
		in   string
		want cred.Kind
		err  string
	}{
		{name: "ok/agent", in: "ms_" + body, want: cred.KindAgent},
		{name: "ok/admin", in: "msa_" + body, want: cred.KindAdmin},
		{name: "ok/agent-base32-upper", in: "ms_" + strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 2), want: cred.KindAgent},
		{name: "ok/agent-padded-base64url", in: "ms_" + body + "=", want: cred.KindAgent},
		{name: "ok/agent-longer-secret", in: "ms_" + body + body, want: cred.KindAgent},
		{name: "ok/256-characters", in: "ms_" + strings.Repeat("a", 253), want: cred.KindAgent},
		{name: "fail/empty", in: "", err: "unknown prefix"},
		{name: "fail/no-prefix", in: body, err: "unknown prefix"},
		{name: "fail/uppercase-prefix", in: "MS_" + body, err: "unknown prefix"},
		{name: "fail/other-prefix", in: "sk_" + body, err: "unknown prefix"},
		{name: "fail/prefix-only-agent", in: "ms_", err: "too short"},
		{name: "fail/prefix-only-admin", in: "msa_", err: "too short"},
		{name: "fail/42-characters", in: "ms_" + body[:42], err: "too short"},
		{name: "fail/admin-42-characters", in: "msa_" + body[:42], err: "too short"},
		{name: "fail/257-characters", in: "ms_" + strings.Repeat("a", 254), err: "257 characters"},
		{name: "fail/standard-base64-plus", in: "ms_" + body[:42] + "+", err: "bad character"},
		{name: "fail/standard-base64-slash", in: "msa_" + body[:42] + "/", err: "bad character"},
		{name: "fail/space", in: "ms_" + body[:20] + " " + body[20:], err: "bad character"},
		{name: "fail/newline", in: "ms_" + body + "\n", err: "bad character"},
		{name: "fail/non-ascii", in: "ms_" + body + "\u00e9", err: "bad character"},
		{name: "fail/bearer-kept", in: "Bearer ms_" + body, err: "unknown prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := cred.Classify(tt.in)
			if tt.err == "" {
				if err != nil || k != tt.want {
					t.Fatalf("Classify = %v, %v; want %v", k, err, tt.want)
				}
				return
			}
			if !errors.Is(err, cred.ErrMalformed) || k != "" {
				t.Fatalf("Classify = %q, %v; want ErrMalformed", k, err)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %q does not say %q", err, tt.err)
			}
			// The error never quotes the credential, not even a part of its secret.
			if len(tt.in) > 8 {
				for i := 0; i+8 <= len(tt.in); i++ {
					if strings.Contains(err.Error(), tt.in[i:i+8]) {
						t.Fatalf("error %q quotes %q of the credential", err, tt.in[i:i+8])
					}
				}
			}
		})
	}
}

func TestHash(t *testing.T) {
	tok := "ms_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	sum := sha256.Sum256([]byte(tok))
	tests := []struct {
		name, in, want string
	}{
		{"ok/token", tok, hex.EncodeToString(sum[:])},
		{"ok/empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cred.Hash(tt.in)
			if got != tt.want {
				t.Fatalf("Hash = %s, want %s", got, tt.want)
			}
			if len(got) != 64 || strings.ToLower(got) != got {
				t.Fatalf("Hash %q is not 64 lowercase hex characters", got)
			}
		})
	}
	if cred.Hash(tok) == cred.Hash("msa_"+tok[3:]) {
		t.Fatal("an agent token and an admin key with the same secret hash alike")
	}
}

func TestBearer(t *testing.T) {
	tok := "ms_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	tests := []struct {
		name, header, want string
		ok                 bool
	}{
		{"ok/canonical", "Bearer " + tok, tok, true},
		{"ok/lowercase-scheme", "bearer " + tok, tok, true},
		{"ok/uppercase-scheme", "BEARER " + tok, tok, true},
		{"ok/mixed-case-scheme", "bEaReR " + tok, tok, true},
		{"ok/extra-spaces", "Bearer    " + tok + "  ", tok, true},
		{"ok/token-case-kept", "Bearer " + strings.ToUpper(tok), strings.ToUpper(tok), true},
		{"fail/empty", "", "", false},
		{"fail/scheme-only", "Bearer", "", false},
		{"fail/scheme-and-space", "Bearer ", "", false},
		{"fail/scheme-and-spaces", "Bearer    ", "", false},
		{"fail/no-space", "Bearer" + tok, "", false},
		{"fail/basic", "Basic " + tok, "", false},
		{"fail/token-alone", tok, "", false},
		{"fail/leading-space", " Bearer " + tok, "", false},
		{"fail/short", "Bear", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cred.Bearer(tt.header)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Bearer(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}
