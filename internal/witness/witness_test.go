package witness_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"filippo.io/torchwood"

	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
	"github.com/monsys/hub/internal/witness"
)

func cosignVKey(t testing.TB, name string, seed byte) string {
	s, err := torchwood.NewCosignatureSigner(name, tlogtest.NewKey(seed).Priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier().String()
}

func TestParse(t *testing.T) {
	a, b := cosignVKey(t, "a.example", 3), cosignVKey(t, "b.example", 4)
	ok := []struct {
		name, list, quorum string
		n, q               int
	}{
		{"ok/one", a + " https://a.example/w", "", 1, 1},
		{"ok/two-default-all", a + " https://a.example, " + b + "   http://127.0.0.1:7380/", "", 2, 2},
		{"ok/all", a + " https://a.example," + b + " https://b.example", "all", 2, 2},
		{"ok/quorum-1", a + " https://a.example," + b + " https://b.example", "1", 2, 1},
		{"ok/trailing-comma", a + " https://a.example,", "", 1, 1},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			ws, q, err := witness.Parse(tc.list, tc.quorum)
			if err != nil || len(ws) != tc.n || q != tc.q {
				t.Fatalf("Parse = %d witnesses, quorum %d, %v; want %d, %d", len(ws), q, err, tc.n, tc.q)
			}
			if strings.HasSuffix(ws[len(ws)-1].URL, "/") {
				t.Errorf("URL %q keeps its trailing slash", ws[len(ws)-1].URL)
			}
		})
	}
	logVKey, _ := tlog.VerifierKey("a.example", tlogtest.NewKey(3).Priv.Public().(ed25519.PublicKey))
	for _, tc := range []struct{ name, list, quorum string }{
		{"fail/empty", "", ""},
		{"fail/blank", " , ", ""},
		{"fail/no-url", a, ""},
		{"fail/three-fields", a + " https://a.example extra", ""},
		{"fail/bad-url", a + " ftp://a.example", ""},
		{"fail/url-query", a + " https://a.example/?x=1", ""},
		{"fail/ed25519-key-not-cosignature", logVKey + " https://a.example", ""},
		{"fail/garbage-key", "a.example+00000000+AAAA https://a.example", ""},
		{"fail/duplicate", a + " https://a.example," + a + " https://b.example", ""},
		{"fail/quorum-0", a + " https://a.example", "0"},
		{"fail/quorum-too-big", a + " https://a.example", "2"},
		{"fail/quorum-word", a + " https://a.example", "most"},
		{"fail/quorum-leading-zero", a + " https://a.example", "01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ws, q, err := witness.Parse(tc.list, tc.quorum); err == nil {
				t.Fatalf("Parse = %d witnesses, quorum %d; want an error", len(ws), q)
			}
		})
	}
}

// TestAnswers: what a witness answers, beyond litewitness's normal
// answers, maps to a clear error and never to a cosignature.
func TestAnswers(t *testing.T) {
	seedLog := func(t *testing.T, url string) error {
		vk := cosignVKey(t, "w.example", 9)
		ws, q, err := witness.Parse(vk+" "+url, "")
		if err != nil {
			t.Fatal(err)
		}
		s, err := witness.New(ws, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = newLog(t, tlogtest.NewMemory().Stores(), s).Append(t.Context(), tlogtest.TestEntries("acme", 0, 1)...)
		return err
	}
	other, _ := torchwood.NewCosignatureSigner("w.example", tlogtest.NewKey(10).Priv)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"fail/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, witness.ErrUnavailable},
		{"fail/200-garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello\n") }, witness.ErrUnavailable},
		{"fail/200-other-key", func(w http.ResponseWriter, r *http.Request) {
			body := readAll(r)
			_, cp, _ := strings.Cut(body, "\n\n")
			text, _, _ := strings.Cut(cp, "\n\n")
			line, _ := signLine(other, text+"\n")
			fmt.Fprint(w, line)
		}, witness.ErrUnavailable},
		{"fail/409-garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(409)
			fmt.Fprint(w, "lots\n")
		}, witness.ErrUnavailable},
		{"fail/409-same-size", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(409)
			fmt.Fprint(w, "0\n")
		}, witness.ErrFork},
		{"fail/409-ahead", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(409)
			fmt.Fprint(w, "7\n")
		}, witness.ErrAhead},
		{"fail/422", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad consistency proof", 422) }, witness.ErrFork},
		{"fail/400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "invalid input", 400) }, witness.ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			err := seedLog(t, srv.URL)
			if !errors.Is(err, tc.want) || !errors.Is(err, tlog.ErrNotCosigned) || !strings.Contains(err.Error(), "w.example") {
				t.Fatalf("Append = %v, want %v naming the witness", err, tc.want)
			}
		})
	}
}

func readAll(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// signLine cosigns text with s and returns the signature line.
func signLine(s *torchwood.CosignatureSigner, text string) (string, error) {
	sig, err := s.Sign([]byte(text))
	if err != nil {
		return "", err
	}
	var kh [4]byte
	h := s.KeyHash()
	kh[0], kh[1], kh[2], kh[3] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
	return "— " + s.Name() + " " + b64(append(kh[:], sig...)) + "\n", nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
