package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/creack/pty"

	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/tlog"
)

// thisMonth is the current month, whose pack the tests ask for.
func thisMonth() string { return time.Now().UTC().Format("2006-01") }

func TestPacks(t *testing.T) {
	e := startHub(t, local.Config{})
	dir := t.TempDir()
	var first string
	t.Run("ok/create --download --verify: progress lines, the file, verify.py's verdict", func(t *testing.T) {
		r := e.monsys(t, "packs", "create", "--month", thisMonth(), "--download", dir, "--verify").want(t, 0)
		if !strings.Contains(r.stdout, "✓ Signature valid") || !strings.Contains(r.stdout, "saved to "+dir) {
			t.Fatalf("stdout:\n%s", r.stdout)
		}
		for _, want := range []string{": building\n", ": ready after ", "downloading ", ": 100% (", "downloaded "} {
			if !strings.Contains(r.stderr, want) {
				t.Fatalf("piped progress lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "\x1b[") || strings.Contains(r.stderr, "\r") {
			t.Fatalf("piped progress draws on a terminal:\n%q", r.stderr)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
		if len(files) != 1 {
			t.Fatalf("downloaded %v", files)
		}
		if _, err := os.Stat(filepath.Join(dir, "verify.py")); err != nil {
			t.Fatal(err)
		}
		first = strings.Fields(r.stdout[strings.Index(r.stdout, "pk_"):])[0]
	})
	var key client.PackKey
	t.Run("ok/keys rotate, then a pack checked against the new fingerprint, --json", func(t *testing.T) {
		e.monsys(t, "--json", "keys", "rotate").want(t, 0).decode(t, &key)
		if key.Fingerprint == "" || key.SigningKeyID == "" {
			t.Fatalf("keys rotate: %+v", key)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		r := e.monsys(t, "--json", "packs", "create", "--from", today, "--to", today, "--download", t.TempDir(), "--verify",
			"--expect-fingerprint", key.Fingerprint).want(t, 0)
		var doc struct {
			Pack   client.Pack
			File   string
			Verify struct {
				ExitCode int             `json:"exit_code"`
				Report   json.RawMessage `json:"report"`
			}
		}
		r.decode(t, &doc)
		if doc.Pack.Status != "ready" || doc.Pack.SigningKeyID != key.SigningKeyID || doc.Pack.DownloadURL != "" || doc.File == "" ||
			doc.Verify.ExitCode != 0 || len(doc.Verify.Report) == 0 {
			t.Fatalf("--json packs create: %s", r.stdout)
		}
	})
	t.Run("fail/a fingerprint that is not the key's: exit 1 and verify.py's reason", func(t *testing.T) {
		r := e.monsys(t, "packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify",
			"--expect-fingerprint", strings.Repeat("00:", 31)+"00").want(t, 1)
		if !strings.Contains(r.stdout, "✗") || !strings.Contains(r.stderr, "verify.py found pack") {
			t.Fatalf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("ok/create without --wait, then list newest first across pages", func(t *testing.T) {
		var p client.Pack
		e.monsys(t, "--json", "packs", "create", "--month", "2026-01").want(t, 0).decode(t, &p)
		if p.Status != "pending" || !strings.HasPrefix(p.PackID, "pk_") {
			t.Fatalf("create: %+v", p)
		}
		var l struct{ Packs []client.PackSummary }
		e.monsys(t, "--json", "--page-size", "1", "packs", "list").want(t, 0).decode(t, &l)
		if len(l.Packs) != 4 || l.Packs[0].PackID != p.PackID || l.Packs[3].PackID != first {
			t.Fatalf("list: %+v", l.Packs)
		}
		r := e.monsys(t, "packs", "list").want(t, 0)
		if !strings.HasPrefix(r.stdout, "PACK") || strings.Count(r.stdout, "pk_") != 4 || strings.Contains(r.stdout, "X-Amz") {
			t.Fatalf("list table:\n%s", r.stdout)
		}
	})
	t.Run("ok/show and link", func(t *testing.T) {
		r := e.monsys(t, "packs", "show", first).want(t, 0)
		if !strings.Contains(r.stdout, "status:") || !strings.Contains(r.stdout, "ready") || strings.Contains(r.stdout, "http") {
			t.Fatalf("show:\n%s", r.stdout)
		}
		r = e.monsys(t, "packs", "link", first, "--expires", "10m").want(t, 0)
		if !strings.HasPrefix(r.stdout, "http") || !strings.Contains(r.stdout, "X-Amz-Expires=600") {
			t.Fatalf("link:\n%s", r.stdout)
		}
	})
	t.Run("fail/the hub's refusals: exit 1 with code and message", func(t *testing.T) {
		r := e.monsys(t, "packs", "show", "pk_nosuchpack").want(t, 1)
		if !strings.Contains(r.stderr, "not_found") || !strings.Contains(r.stderr, "pk_nosuchpack") {
			t.Fatalf("stderr %q", r.stderr)
		}
		r = e.monsys(t, "packs", "create", "--from", "2020-01-01", "--to", "2026-01-01").want(t, 1)
		if !strings.Contains(r.stderr, "invalid_request") {
			t.Fatalf("a period over the hub's limit: %q", r.stderr)
		}
	})
	t.Run("fail/hub.json names a log: --verify passes its keys on, and verify.py checks the pack against them", func(t *testing.T) {
		info, err := profile.Read(e.profile)
		if err != nil {
			t.Fatal(err)
		}
		seed := func(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }
		logKey, err := tlog.VerifierKey("hub.example.com/monsys", seed(5).Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		ws, err := torchwood.NewCosignatureSigner("witness1.example", seed(6))
		if err != nil {
			t.Fatal(err)
		}
		info.LogVKey, info.WitnessVKeys = logKey, []string{ws.Verifier().String()}
		logged := filepath.Join(filepath.Dir(e.profile), "hub-logged.json")
		if err := profile.Write(logged, info); err != nil {
			t.Fatal(err)
		}
		// This hub's packs are not in that log: the pack fails SPEC 10's checks.
		for _, quorum := range []string{"", "1"} {
			args := []string{"packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify"}
			cmdLine := " --log-key " + logKey + " --witness-key " + info.WitnessVKeys[0] + "\n"
			if quorum != "" {
				args = append(args, "--witness-quorum", quorum)
				cmdLine = strings.TrimSuffix(cmdLine, "\n") + " --witness-quorum " + quorum + "\n"
			}
			r := runMonsys(t, logged, args...).want(t, 1)
			if !strings.Contains(r.stdout, cmdLine) || !strings.Contains(r.stdout, "✓ Tenant: ") || !strings.Contains(r.stdout, "\n✗ ") {
				t.Fatalf("stdout lacks %q and a ✗ line:\n%s", cmdLine, r.stdout)
			}
		}
		for _, args := range [][]string{{"--witness-quorum", "2"}, {"--witness-quorum", "-1"}} {
			args = append([]string{"packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify"}, args...)
			if r := runMonsys(t, logged, args...); r.code != 2 {
				t.Errorf("%v: exit %d", args, r.code)
			}
		}
		// Without a log in hub.json, --witness-quorum is a usage error (the
		// local hub's own hub.json names its log: a copy without it).
		info.LogVKey, info.WitnessVKeys = "", nil
		unlogged := filepath.Join(filepath.Dir(e.profile), "hub-unlogged.json")
		if err := profile.Write(unlogged, info); err != nil {
			t.Fatal(err)
		}
		if r := runMonsys(t, unlogged, "packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify", "--witness-quorum", "1"); r.code != 2 {
			t.Errorf("--witness-quorum without log_vkey: exit %d", r.code)
		}
	})
	t.Run("fail/usage: exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"packs", "create"}, {"packs", "create", "--month", "2026-04", "--from", "2026-04-01"},
			{"packs", "create", "--month", "April"}, {"packs", "create", "--month", "2026-04", "--verify"},
			{"packs", "create", "--month", "2026-04", "--witness-quorum", "1"},
			{"packs", "create", "--from", "2026-04-02", "--to", "2026-04-01"}, {"packs", "link", first, "--expires", "0s"}, {"packs", "show"}} {
			if r := e.monsys(t, args...); r.code != 2 {
				t.Errorf("%v: exit %d", args, r.code)
			}
		}
	})
}

// faultS3 fails every part upload: the build marks the pack failed.
type faultS3 struct{ s3store.API }

func (faultS3) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errors.New("injected S3 fault")
}

// corruptS3 flips one bit of the gzip trailer's CRC-32 of what is stored
// (a pack this small is one part): the pack is ready, its members read
// back, and its own verify.py must refuse it.
type corruptS3 struct{ s3store.API }

func (c corruptS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	b[len(b)-8] ^= 0x10
	cp := *in
	cp.Body = bytes.NewReader(b)
	return c.API.UploadPart(ctx, &cp, o...)
}

func TestPackFails(t *testing.T) {
	t.Run("fail/the hub fails the build: exit 1 and its reason", func(t *testing.T) {
		e := startHub(t, local.Config{WrapS3: func(a s3store.API) s3store.API { return faultS3{a} }})
		r := e.monsys(t, "packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify").want(t, 1)
		if !strings.Contains(r.stderr, "failed: s3: storing the pack failed; request the pack again") {
			t.Fatalf("stderr:\n%s", r.stderr)
		}
	})
	t.Run("fail/a pack corrupted in storage: verify.py says why, exit 1", func(t *testing.T) {
		e := startHub(t, local.Config{WrapS3: func(a s3store.API) s3store.API { return corruptS3{a} }})
		r := e.monsys(t, "packs", "create", "--month", thisMonth(), "--download", t.TempDir(), "--verify").want(t, 1)
		if !strings.Contains(r.stdout, "✗") || !strings.Contains(r.stderr, "verify.py found pack") {
			t.Fatalf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
}

// TestTerminal runs monsys on a pseudo-terminal, as a person sees it: a
// live progress line and bar, tables cut to the terminal's width.
func TestTerminal(t *testing.T) {
	e := startHub(t, local.Config{})
	onTTY := func(t *testing.T, cols uint16, args ...string) (int, string) {
		t.Helper()
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		defer ptmx.Close()
		if err := pty.Setsize(tty, &pty.Winsize{Rows: 40, Cols: cols}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.Copy(&out, ptmx) }()
		getenv := func(k string) string {
			return map[string]string{"MONSYS_HUB": e.profile, "MONSYS_POLL_INTERVAL": "200ms"}[k]
		}
		code := Main(t.Context(), args, tty, tty, getenv)
		tty.Close()
		wg.Wait() // the reader ends when the terminal's last writer closes
		return code, out.String()
	}
	t.Run("ok/a progress line and a bar while waiting and downloading", func(t *testing.T) {
		code, out := onTTY(t, 100, "packs", "create", "--month", thisMonth(), "--download", t.TempDir())
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{"\r\x1b[K", " building ", "█", "100%", "downloaded "} {
			if !strings.Contains(out, want) {
				t.Fatalf("the terminal shows no %q:\n%q", want, out)
			}
		}
	})
	t.Run("ok/a table cut to a narrow terminal", func(t *testing.T) {
		for range 3 {
			e.monsys(t, "agents", "create", "--hostname", strings.Repeat("very-long-host-name-", 4)).want(t, 0)
		}
		code, out := onTTY(t, 60, "agents", "list")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out, "\r\n", "\n")), "\n")
		if len(lines) != 4 || !strings.Contains(out, "…") {
			t.Fatalf("table:\n%s", out)
		}
		for _, l := range lines {
			if n := len([]rune(l)); n > 60 {
				t.Fatalf("a line of %d columns on a 60-column terminal: %q", n, l)
			}
		}
	})
}
