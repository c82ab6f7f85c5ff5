// Command monsys-demo tells the whole story on the local hub, in one command
// (make demo): start the hub, enroll an agent, send signed telemetry, show a
// forged batch refused and its anomaly, rotate the agent's signing key, build
// an evidence pack, download it through its presigned link, verify it with
// its own verify.py, show a tampered copy fail, and clean up. It speaks the
// SPEC wire format over real mutual TLS and exits non-zero as soon as any
// step does not behave as shown.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/profile"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stdout, "\n%s %v\n", red("✗ demo failed:"), err)
		os.Exit(1)
	}
}

const totalSteps = 10

// demo is the state the steps share.
type demo struct {
	dir     string
	hub     *local.Hub
	info    profile.Info
	roots   *x509.CertPool
	op      tls.Certificate // operator certificate
	enroll  tls.Certificate
	agent   tls.Certificate // the agent's own, issued at registration
	token   string
	agentID string
	signing ed25519.PrivateKey
	seq     int64
	packFP  string // expected fingerprint of the pack-signing key
	pack    []byte // the downloaded archive
	packRel string // its file name
	verify  string // path of verify.py taken from the pack
	link    string // the presigned download link
	expires string // when it expires
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println(bold("monsys demo") + ": the whole story on the local hub, over real mutual TLS\n")

	dir, err := os.MkdirTemp("", "monsys-demo-")
	if err != nil {
		return err
	}
	d := &demo{dir: dir}
	defer func() { // step 10 also runs on failure, after showing the end of the hub's log
		if d.dir != "" {
			d.showLog()
		}
		_ = d.cleanup()
	}()

	steps := []struct {
		title string
		slow  bool
		fn    func(context.Context, *stepLog) error
	}{
		{"Start the local hub (DynamoDB, KMS and S3 emulators, mTLS gateway)", true, d.start},
		{"Enroll an agent: token, Ed25519 signing key, client certificate", false, d.enrollAgent},
		{"Send real signed telemetry", false, d.telemetry},
		{"A forged batch is refused and raises an anomaly", false, d.forged},
		{"Rotate the agent's signing key and re-register", false, d.rotate},
		{"Build an evidence pack", true, d.buildPack},
		{"Download it through its presigned link", false, d.download},
		{"Verify it with the pack's own verify.py", false, d.verifyPack},
		{"Tamper with a copy: verification fails", false, d.tamper},
	}
	for i, s := range steps {
		if err := runStep(ctx, i+1, s.title, s.slow, s.fn); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
	}
	return runStep(ctx, totalSteps, "Clean up", false, func(_ context.Context, l *stepLog) error {
		dir := d.dir
		if err := d.cleanup(); err != nil {
			return err
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s is still there", dir)
		}
		l.note("stopped the hub and its emulators, removed %s", dir)
		return nil
	})
}

// ---- steps

func (d *demo) start(ctx context.Context, l *stepLog) error {
	logf, err := os.Create(filepath.Join(d.dir, "hub.log"))
	if err != nil {
		return err
	}
	h, err := local.Start(ctx, local.Config{Addr: "127.0.0.1:0", Dir: filepath.Join(d.dir, "hub"), IntegrityEvery: time.Hour,
		Log: slog.New(slog.NewJSONHandler(logf, nil))})
	if err != nil {
		return fmt.Errorf("%w (hub log: %s)", err, logf.Name())
	}
	d.hub, d.info = h, h.Info()
	pemCA, err := os.ReadFile(d.info.CACert)
	if err != nil {
		return err
	}
	d.roots = x509.NewCertPool()
	if !d.roots.AppendCertsFromPEM(pemCA) {
		return errors.New("hub.json ca_cert holds no certificate")
	}
	if d.op, err = tls.LoadX509KeyPair(d.info.OperatorCert, d.info.OperatorKey); err != nil {
		return err
	}
	if d.enroll, err = tls.LoadX509KeyPair(d.info.EnrollCert, d.info.EnrollKey); err != nil {
		return err
	}
	l.note("%s, tenant %q; state and logs in %s", d.info.URL, d.info.TenantID, d.dir)
	// Without a client certificate the TLS handshake itself fails.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.roots}}}
	if resp, err := c.Get(d.info.URL + "/api/v1/anomalies"); err == nil {
		resp.Body.Close()
		return fmt.Errorf("a request without a client certificate got HTTP %d, want a refused handshake", resp.StatusCode)
	}
	l.note("a connection without a client certificate is refused in the TLS handshake")
	return nil
}

func (d *demo) enrollAgent(ctx context.Context, l *stepLog) error {
	var created struct {
		AgentID string `json:"agent_id"`
		Token   string `json:"token"`
	}
	if err := d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "POST", "/api/v1/agents", map[string]string{"hostname": "web-edge-01"},
		nil, 201, &created); err != nil {
		return err
	}
	d.agentID, d.token = created.AgentID, created.Token
	if d.agentID == "" || !strings.HasPrefix(d.token, "ms_") {
		return errors.New("POST /agents did not return an agent id and an ms_ token")
	}
	l.note("operator (operator certificate + admin key) created agent %s; its ms_ token is shown once", d.agentID)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	d.signing = priv
	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "web-edge-01"}}, tlsKey)
	if err != nil {
		return err
	}
	var reg struct {
		AgentID      string `json:"agent_id"`
		Pinned       bool   `json:"signing_pubkey_pinned"`
		SigningSetAt string `json:"signing_set_at"`
		ClientCert   string `json:"client_cert"`
	}
	if err := d.call(ctx, d.enroll, "Bearer "+d.token, "POST", "/api/v1/agents/register", d.registration(string(pem.EncodeToMemory(
		&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))), nil, 200, &reg); err != nil {
		return err
	}
	if !reg.Pinned || reg.ClientCert == "" {
		return fmt.Errorf("registration answered pinned=%v and %d bytes of certificate", reg.Pinned, len(reg.ClientCert))
	}
	keyDER, err := x509.MarshalECPrivateKey(tlsKey)
	if err != nil {
		return err
	}
	if d.agent, err = tls.X509KeyPair([]byte(reg.ClientCert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return fmt.Errorf("issued client certificate: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	l.note("registered with the tenant's enrollment certificate: signing key %s pinned at %s", short(pub), reg.SigningSetAt)
	l.note("hub-issued client certificate pinned: SHA-256 %s", fingerprint(d.agent.Certificate[0]))
	return nil
}

func (d *demo) registration(csr string) map[string]string {
	r := map[string]string{"hostname": "web-edge-01", "agent_version": "1.4.2", "os": runtime.GOOS, "arch": runtime.GOARCH,
		"signing_pubkey": base64.StdEncoding.EncodeToString(d.signing.Public().(ed25519.PublicKey))}
	if csr != "" {
		r["csr"] = csr
	}
	return r
}

// batch builds a signed batch body: the header and n metric records.
func (d *demo) batch(n int) []byte {
	now := time.Now().UTC()
	d.seq = max(now.UnixNano(), d.seq+1)
	recs := []map[string]any{{"type": "batch", "ts": now.Format(time.RFC3339), "seq": d.seq, "agent_version": "1.4.2"}}
	for i := range n {
		recs = append(recs, map[string]any{"type": "metric", "ts": now.Format(time.RFC3339), "name": "cpu.load1", "value": 0.25 + float64(i)/100})
	}
	b, _ := json.Marshal(recs)
	return b
}

// sign is SPEC 3: base64(Ed25519(SHA-256(body))).
func sign(key ed25519.PrivateKey, body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, sum[:]))
}

func (d *demo) ingest(ctx context.Context, body []byte, sig string, status int, out any) error {
	return d.call(ctx, d.agent, "Bearer "+d.token, "POST", "/api/v1/ingest", json.RawMessage(body),
		map[string]string{"X-Monsys-Signature": sig}, status, out)
}

func (d *demo) telemetry(ctx context.Context, l *stepLog) error {
	for i := range 3 {
		body := d.batch(4)
		var res struct{ Accepted int }
		if err := d.ingest(ctx, body, sign(d.signing, body), 202, &res); err != nil {
			return err
		}
		if res.Accepted != 4 {
			return fmt.Errorf("batch %d: accepted %d records, want 4", i+1, res.Accepted)
		}
		l.note("batch seq=%d, %d bytes, X-Monsys-Signature %s… → 202 accepted %d", d.seq, len(body), sign(d.signing, body)[:12], res.Accepted)
	}
	return nil
}

func (d *demo) forged(ctx context.Context, l *stepLog) error {
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	body := d.batch(1)
	var e apiError
	if err := d.ingest(ctx, body, sign(attacker, body), 403, &e); err != nil {
		return err
	}
	if e.Error.Code != "signature_invalid" {
		return fmt.Errorf("forged batch: code %q, want signature_invalid", e.Error.Code)
	}
	l.note("batch signed with another key, sent with the agent's token and certificate → 403 %s", e.Error.Code)
	var page struct {
		Anomalies []map[string]any `json:"anomalies"`
	}
	if err := d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "GET", "/api/v1/anomalies?status=open&kind=signature_invalid&agent_id="+d.agentID,
		nil, nil, 200, &page); err != nil {
		return err
	}
	for _, a := range page.Anomalies {
		if a["kind"] == "signature_invalid" && a["severity"] == "critical" && a["agent_id"] == d.agentID {
			l.note("open anomaly %v: kind %v, severity %v, count %v", a["anomaly_id"], a["kind"], a["severity"], a["count"])
			return nil
		}
	}
	return fmt.Errorf("no open critical signature_invalid anomaly for %s in %v", d.agentID, page.Anomalies)
}

func (d *demo) rotate(ctx context.Context, l *stepLog) error {
	if err := d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "POST", "/api/v1/agents/"+d.agentID+"/rotate-signing-key", nil, nil, 200, nil); err != nil {
		return err
	}
	l.note("operator unpinned the agent's signing key")
	old := d.signing
	_, next, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	d.signing = next
	var reg struct {
		Pinned bool `json:"signing_pubkey_pinned"`
	}
	// Re-registration with the agent's own (pinned) certificate, no CSR.
	if err := d.call(ctx, d.agent, "Bearer "+d.token, "POST", "/api/v1/agents/register", d.registration(""), nil, 200, &reg); err != nil {
		return err
	}
	if !reg.Pinned {
		return errors.New("re-registration did not pin the new key")
	}
	l.note("agent re-registered: new signing key %s pinned", short(next.Public().(ed25519.PublicKey)))
	body := d.batch(2)
	var res struct{ Accepted int }
	if err := d.ingest(ctx, body, sign(next, body), 202, &res); err != nil {
		return err
	}
	l.note("batch signed with the new key → 202 accepted %d", res.Accepted)
	body = d.batch(1)
	var e apiError
	if err := d.ingest(ctx, body, sign(old, body), 403, &e); err != nil {
		return err
	}
	l.note("batch signed with the old key → 403 %s", e.Error.Code)
	return nil
}

func (d *demo) buildPack(ctx context.Context, l *stepLog) error {
	var key struct {
		KeyID       string `json:"signing_key_id"`
		Fingerprint string `json:"fingerprint"`
	}
	err := d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "POST", "/api/v1/signing-keys/rotate", nil, nil, 200, &key)
	if notAvailable(err) {
		return errors.New("evidence packs are not available yet: POST /api/v1/signing-keys/rotate answered 404 not_found")
	}
	if err != nil {
		return err
	}
	d.packFP = key.Fingerprint
	l.note("pack-signing key rotated: %s, fingerprint %s (the outgoing key endorses it)", key.KeyID, key.Fingerprint)

	// Yesterday and today (UTC), so that a run around midnight still covers its batches.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	period := map[string]string{"period_start": day.Add(-24 * time.Hour).Format(time.RFC3339),
		"period_end": day.Add(24*time.Hour - time.Second).Format(time.RFC3339)}
	var p struct {
		PackID string `json:"pack_id"`
		Status string `json:"status"`
	}
	err = d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "POST", "/api/v1/evidence-packs", period, nil, 202, &p)
	if notAvailable(err) {
		return errors.New("evidence packs are not available yet: POST /api/v1/evidence-packs answered 404 not_found")
	}
	if err != nil {
		return err
	}
	l.note("POST /evidence-packs %s → %s: 202 %s, %s", period["period_start"][:10], period["period_end"][:10], p.PackID, p.Status)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v map[string]any
		if err := d.call(ctx, d.op, "Bearer "+d.info.AdminKey, "GET", "/api/v1/evidence-packs/"+p.PackID, nil, nil, 200, &v); err != nil {
			return err
		}
		switch v["status"] {
		case "ready":
			l.note("ready: %v, %v records, manifest SHA-256 %v", v["file_name"], v["records"], v["manifest_sha256"])
			url, _ := v["download_url"].(string)
			if url == "" {
				return errors.New("a ready pack without download_url")
			}
			d.packRel, _ = v["file_name"].(string)
			if d.packRel == "" {
				d.packRel = p.PackID + ".tar.gz"
			}
			d.link, d.expires = url, fmt.Sprint(v["expires_at"])
			return nil
		case "failed":
			return fmt.Errorf("the pack failed: %v", v["reason"])
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pack is still %v after 2 minutes", v["status"])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (d *demo) download(ctx context.Context, l *stepLog) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.link, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("download: HTTP %d: %.200s", resp.StatusCode, b)
	}
	d.pack = b
	path := filepath.Join(d.dir, filepath.Base(d.packRel))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	host := d.link
	if i := strings.Index(host, "?"); i > 0 {
		host = host[:i]
	}
	l.note("GET %s?X-Amz-… (presigned, expires %s)", host, d.expires)
	l.note("%s: %d bytes, SHA-256 %s", path, len(b), hex.EncodeToString(sum[:]))
	files, err := listTar(b)
	if err != nil {
		return err
	}
	l.note("%d entries: %s", len(files), strings.Join(files, " "))
	return nil
}

func (d *demo) verifyPack(ctx context.Context, l *stepLog) error {
	py, err := exec.LookPath("python3")
	if err != nil {
		return errors.New("python3 is not installed; verify.py needs Python 3.8+")
	}
	script, err := tarFile(d.pack, "verify.py")
	if err != nil {
		return err
	}
	d.verify = filepath.Join(d.dir, "verify.py")
	if err := os.WriteFile(d.verify, script, 0o644); err != nil {
		return err
	}
	out, code, err := runVerify(ctx, py, d.verify, filepath.Join(d.dir, filepath.Base(d.packRel)), d.packFP)
	if err != nil {
		return err
	}
	l.block("$ python3 verify.py "+filepath.Base(d.packRel)+" --expect-fingerprint "+d.packFP, out)
	if code != 0 {
		return fmt.Errorf("verify.py exited %d, want 0", code)
	}
	if !strings.Contains(out, "Signature valid") || !strings.Contains(out, "matches expected fingerprint") {
		return errors.New("verify.py passed without saying the signature and fingerprint hold")
	}
	return nil
}

func (d *demo) tamper(ctx context.Context, l *stepLog) error {
	bad, victim, err := tamperTar(d.pack)
	if err != nil {
		return err
	}
	path := filepath.Join(d.dir, "tampered-"+filepath.Base(d.packRel))
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		return err
	}
	l.note("changed one byte of %s in a copy", victim)
	py, _ := exec.LookPath("python3")
	out, code, err := runVerify(ctx, py, d.verify, path, d.packFP)
	if err != nil {
		return err
	}
	l.block("$ python3 verify.py "+filepath.Base(path)+" --expect-fingerprint "+d.packFP, out)
	if code != 1 {
		return fmt.Errorf("verify.py exited %d on a tampered pack, want 1", code)
	}
	if !strings.Contains(out, "File tampered: "+victim) {
		return fmt.Errorf("verify.py did not name %s as tampered", victim)
	}
	return nil
}

// showLog prints the last lines of the hub's log, for a failed run.
func (d *demo) showLog() {
	b, err := os.ReadFile(filepath.Join(d.dir, "hub.log"))
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	fmt.Println(dim("last lines of the hub's log:"))
	for _, l := range lines[max(0, len(lines)-15):] {
		fmt.Println("  " + l)
	}
}

func (d *demo) cleanup() error {
	var errs []error
	if d.hub != nil {
		errs = append(errs, d.hub.Close())
		d.hub = nil
	}
	if d.dir != "" {
		errs = append(errs, os.RemoveAll(d.dir))
		d.dir = ""
	}
	return errors.Join(errs...)
}

// ---- HTTP over mutual TLS

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// statusError is an answer other than the expected one.
type statusError struct {
	status     int
	code       string
	body       string
	retryAfter int // seconds
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %.300s", e.status, e.code, e.body)
}

func notAvailable(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == 404 && se.code == "not_found"
}

// clients holds one HTTP client per identity, by the SHA-256 of its
// certificate: the certificate is passed by value, so its address would
// differ on every call.
var (
	clientsMu sync.Mutex
	clients   = map[[32]byte]*http.Client{}
)

func (d *demo) client(cert tls.Certificate) *http.Client {
	key := sha256.Sum256(cert.Certificate[0])
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[key]; ok {
		return c
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: d.roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	clients[key] = c
	return c
}

// call sends one request with a client certificate and checks the status.
// A 429 or 503 (nothing was stored) or a 409 conflict (a concurrent change
// of the same thing won) is retried after Retry-After (SPEC 4).
func (d *demo) call(ctx context.Context, cert tls.Certificate, auth, method, path string, body any, hdr map[string]string, want int, out any) error {
	for try := 1; ; try++ {
		err := d.callOnce(ctx, cert, auth, method, path, body, hdr, want, out)
		var se *statusError
		retry := errors.As(err, &se) && (se.status == 429 || se.status == 503 || se.status == 409 && se.code == "conflict")
		if try == 5 || !retry || want == se.status {
			return err
		}
		wait := time.Duration(max(se.retryAfter, 1)) * time.Second
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (d *demo) callOnce(ctx context.Context, cert tls.Certificate, auth, method, path string, body any, hdr map[string]string, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.info.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := d.client(cert).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		var e apiError
		_ = json.Unmarshal(b, &e)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return fmt.Errorf("%s %s: %w (want %d)", method, path,
			&statusError{status: resp.StatusCode, code: e.Error.Code, body: string(b), retryAfter: ra}, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: answer is not JSON: %w", method, path, err)
		}
	}
	return nil
}

// ---- archives

func readTar(pack []byte, fn func(h *tar.Header, r io.Reader) error) error {
	zr, err := gzip.NewReader(bytes.NewReader(pack))
	if err != nil {
		return fmt.Errorf("pack is not gzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pack is not a tar archive: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

func listTar(pack []byte) ([]string, error) {
	var names []string
	err := readTar(pack, func(h *tar.Header, _ io.Reader) error {
		if !strings.HasPrefix(h.Name, "data/") {
			names = append(names, h.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := 0
	_ = readTar(pack, func(h *tar.Header, _ io.Reader) error {
		if strings.HasPrefix(h.Name, "data/") && h.Typeflag == tar.TypeReg {
			n++
		}
		return nil
	})
	return append(names, fmt.Sprintf("data/ (%d files)", n)), nil
}

func tarFile(pack []byte, name string) ([]byte, error) {
	var out []byte
	err := readTar(pack, func(h *tar.Header, r io.Reader) error {
		if h.Name == name || h.Name == "./"+name {
			b, err := io.ReadAll(r)
			out = b
			return err
		}
		return nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("the pack has no %s", name)
	}
	return out, err
}

// tamperTar rewrites the archive with one byte of the first non-empty data
// file changed (the anomalies file when it has content).
func tamperTar(pack []byte) ([]byte, string, error) {
	victim := ""
	_ = readTar(pack, func(h *tar.Header, _ io.Reader) error {
		if h.Typeflag == tar.TypeReg && strings.HasPrefix(h.Name, "data/") && h.Size > 0 &&
			(victim == "" || h.Name == "data/alerts/anomalies.ndjson") {
			victim = h.Name
		}
		return nil
	})
	if victim == "" {
		return nil, "", errors.New("the pack has no data file to tamper with")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := readTar(pack, func(h *tar.Header, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if h.Name == victim {
			i := bytes.IndexByte(b, ':') + 2 // inside the first value
			if i < 2 || i >= len(b) {
				i = 0
			}
			b[i] ^= 0x01
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), victim, nil
}

func runVerify(ctx context.Context, py, script, pack, fp string) (string, int, error) {
	cmd := exec.CommandContext(ctx, py, script, pack, "--expect-fingerprint", fp)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, fmt.Errorf("run verify.py: %w", err)
	}
	return string(out), 0, nil
}

// ---- small helpers

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])[:16] + "…"
}

// short names an Ed25519 public key by the start of its SPEC 7 fingerprint.
func short(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	var parts []string
	for _, b := range sum[:6] {
		parts = append(parts, hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":") + ":…"
}
