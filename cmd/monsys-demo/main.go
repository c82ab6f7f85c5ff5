// Command monsys-demo tells the whole story on the local hub, in one command
// (make demo): start the hub, enroll an agent, send signed telemetry, show a
// forged batch refused and its anomaly, rotate the agent's signing key, build
// an evidence pack, download it through its presigned link, verify it with
// its own verify.py, show a tampered copy fail, and clean up. It speaks the
// SPEC wire format over real mutual TLS through internal/client, the client
// the agent and the operators' tools use, and exits non-zero as soon as any
// step does not behave as shown.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/batch"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/cli"
	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/pack/packtest"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/sig"
	"github.com/monsys/hub/internal/tlog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stdout, "\n%s %v\n", red("✗ demo failed:"), err)
		os.Exit(1)
	}
}

const totalSteps = 12

// demo is the state the steps share.
type demo struct {
	dir     string
	hub     *local.Hub
	info    profile.Info
	roots   *x509.CertPool
	hubJSON string          // the operator's hub profile, which monsys reads
	hubc    *client.Agent   // the agent's calls, with its token
	enroll  tls.Certificate // the tenant's enrollment certificate
	agent   tls.Certificate // the agent's own, issued at registration
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
		{"Check it against the witnessed log; a rewound log is refused", false, d.witnessed},
		{"Tamper with a copy: verification fails", false, d.tamper},
		{"An insider edits a stored record: only --deep catches it", false, d.insider},
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
	d.hub = h
	d.hubJSON = filepath.Join(d.dir, "hub", "hub.json")
	if err := d.connect(h.Info()); err != nil {
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

// connect reads what hub.json says: the hub's CA, the operator's client
// and the tenant's enrollment certificate.
func (d *demo) connect(info profile.Info) error {
	d.info = info
	pemCA, err := os.ReadFile(info.CACert)
	if err != nil {
		return err
	}
	d.roots = x509.NewCertPool()
	if !d.roots.AppendCertsFromPEM(pemCA) {
		return errors.New("hub.json ca_cert holds no certificate")
	}
	if d.enroll, err = tls.LoadX509KeyPair(info.EnrollCert, info.EnrollKey); err != nil {
		return err
	}
	return nil
}

func (d *demo) enrollAgent(ctx context.Context, l *stepLog) error {
	var created client.AgentToken
	if err := d.monsys(ctx, l, &created, "agents", "create", "--hostname", "web-edge-01"); err != nil {
		return err
	}
	d.agentID = created.AgentID
	var err error
	if d.hubc, err = client.NewAgent(client.AgentConfig{URL: d.info.URL, Token: created.Token, Roots: d.roots, UserAgent: "monsys-demo"}); err != nil {
		return err
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
	reg, err := d.register(ctx, d.enroll, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})))
	if err != nil {
		return err
	}
	if !reg.SigningPubkeyPinned || reg.ClientCert == "" {
		return fmt.Errorf("registration answered pinned=%v and %d bytes of certificate", reg.SigningPubkeyPinned, len(reg.ClientCert))
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
	l.note("hub-issued client certificate pinned: SHA-256 %s…", ca.Fingerprint(d.agent.Certificate[0])[:16])
	return nil
}

// register registers the agent's current signing key over cert, with csr
// when not empty.
func (d *demo) register(ctx context.Context, cert tls.Certificate, csr string) (client.RegisterResponse, error) {
	req := client.RegisterRequest{Hostname: "web-edge-01", AgentVersion: agentVersion, OS: runtime.GOOS, Arch: runtime.GOARCH,
		SigningPubkey: sig.EncodePublicKey(d.signing.Public().(ed25519.PublicKey)), CSR: csr}
	var res client.RegisterResponse
	err := client.Retry(ctx, attempts, nil, func() error {
		var err error
		res, err = d.hubc.Register(ctx, cert, req)
		return err
	})
	return res, err
}

// batch builds a signed batch body: the header and n metric records.
func (d *demo) batch(n int) ([]byte, error) {
	now := time.Now().UTC()
	d.seq = batch.NextSeq(now, d.seq)
	recs := make([]json.RawMessage, n)
	for i := range recs {
		r, err := json.Marshal(map[string]any{"type": "metric", "ts": batch.TS(now), "name": "cpu.load1", "value": 0.25 + float64(i)/100})
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	return batch.Encode(batch.Header{TS: now, Seq: d.seq, AgentVersion: agentVersion}, recs)
}

// ingest sends body signed with key over the agent's certificate.
func (d *demo) ingest(ctx context.Context, body []byte, key ed25519.PrivateKey) (client.IngestResponse, error) {
	var res client.IngestResponse
	err := client.Retry(ctx, attempts, nil, func() error {
		var err error
		res, err = d.hubc.Ingest(ctx, d.agent, body, sig.Sign(key, body))
		return err
	})
	return res, err
}

// accepted sends a batch of n records signed with key and expects 202.
func (d *demo) accepted(ctx context.Context, n int, key ed25519.PrivateKey) ([]byte, error) {
	body, err := d.batch(n)
	if err != nil {
		return nil, err
	}
	res, err := d.ingest(ctx, body, key)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusAccepted || res.Accepted != n {
		return nil, fmt.Errorf("batch seq=%d: %d, accepted %d records, want 202 and %d", d.seq, res.Status, res.Accepted, n)
	}
	return body, nil
}

// refused sends a batch of one record signed with key and expects 403.
func (d *demo) refused(ctx context.Context, key ed25519.PrivateKey) (*client.Error, error) {
	body, err := d.batch(1)
	if err != nil {
		return nil, err
	}
	_, err = d.ingest(ctx, body, key)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		return nil, fmt.Errorf("batch signed with another key: %v, want 403", err)
	}
	return e, nil
}

func (d *demo) telemetry(ctx context.Context, l *stepLog) error {
	for range 3 {
		body, err := d.accepted(ctx, 4, d.signing)
		if err != nil {
			return err
		}
		l.note("batch seq=%d, %d bytes, X-Monsys-Signature %s… → 202 accepted %d", d.seq, len(body), sig.Sign(d.signing, body)[:12], 4)
	}
	return nil
}

func (d *demo) forged(ctx context.Context, l *stepLog) error {
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	e, err := d.refused(ctx, attacker)
	if err != nil {
		return err
	}
	if e.Code != client.CodeSignatureInvalid {
		return fmt.Errorf("forged batch: code %q, want signature_invalid", e.Code)
	}
	l.note("batch signed with another key, sent with the agent's token and certificate → 403 %s", e.Code)
	var page client.AnomalyPage
	if err := d.monsys(ctx, l, &page, "anomalies", "--open", "--kind", string(anomaly.SignatureInvalid), "--agent", d.agentID); err != nil {
		return err
	}
	for _, a := range page.Anomalies {
		if a.Kind == anomaly.SignatureInvalid && a.Severity == anomaly.Critical && a.AgentID == d.agentID {
			l.note("open anomaly %s: kind %s, severity %s, count %d", a.ID, a.Kind, a.Severity, a.Count)
			return nil
		}
	}
	return fmt.Errorf("no open critical signature_invalid anomaly for %s in %v", d.agentID, page.Anomalies)
}

func (d *demo) rotate(ctx context.Context, l *stepLog) error {
	var v client.AgentView
	if err := d.monsys(ctx, l, &v, "agents", "rotate-signing-key", d.agentID); err != nil {
		return err
	}
	l.note("operator unpinned the agent's signing key")
	old := d.signing
	_, next, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	d.signing = next
	// Re-registration with the agent's own (pinned) certificate, no CSR.
	reg, err := d.register(ctx, d.agent, "")
	if err != nil {
		return err
	}
	if !reg.SigningPubkeyPinned {
		return errors.New("re-registration did not pin the new key")
	}
	l.note("agent re-registered: new signing key %s pinned", short(next.Public().(ed25519.PublicKey)))
	if _, err := d.accepted(ctx, 2, next); err != nil {
		return err
	}
	l.note("batch signed with the new key → 202 accepted %d", 2)
	e, err := d.refused(ctx, old)
	if err != nil {
		return err
	}
	l.note("batch signed with the old key → 403 %s", e.Code)
	return nil
}

func (d *demo) buildPack(ctx context.Context, l *stepLog) error {
	var key client.PackKey
	if err := d.monsys(ctx, l, &key, "keys", "rotate"); err != nil {
		return err
	}
	d.packFP = key.Fingerprint
	l.note("pack-signing key rotated: %s, fingerprint %s (the outgoing key endorses it)", key.SigningKeyID, key.Fingerprint)

	// Yesterday and today (UTC), so that a run around midnight still covers its batches.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var made struct{ Pack client.Pack }
	if err := d.monsys(ctx, l, &made, "packs", "create", "--from", day.Add(-24*time.Hour).Format(time.DateOnly),
		"--to", day.Format(time.DateOnly), "--wait"); err != nil {
		return err
	}
	v := made.Pack
	l.note("ready: %s %s, %d records, manifest SHA-256 %s", v.PackID, v.FileName, v.Records, v.ManifestSHA256)
	d.packRel = v.FileName
	if d.packRel == "" {
		d.packRel = v.PackID + ".tar.gz"
	}
	var link struct {
		DownloadURL string     `json:"download_url"`
		ExpiresAt   *time.Time `json:"expires_at"`
	}
	if err := d.monsys(ctx, l, &link, "packs", "link", v.PackID, "--expires", "15m"); err != nil {
		return err
	}
	d.link = link.DownloadURL
	if link.ExpiresAt != nil {
		d.expires = link.ExpiresAt.Format(time.RFC3339)
	}
	l.note("a presigned link for the auditor, valid 15 minutes")
	return nil
}

// monsys runs one command of the operator's tool, as typed, with --json,
// shows the command line and decodes its document into out.
func (d *demo) monsys(ctx context.Context, l *stepLog, out any, args ...string) error {
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"MONSYS_HUB": d.hubJSON, "MONSYS_POLL_INTERVAL": "300ms"}[k]
	}
	l.note("%s", dim("$ monsys "+strings.Join(args, " ")))
	if code := cli.Main(ctx, append([]string{"--json"}, args...), &stdout, &stderr, getenv); code != 0 {
		return fmt.Errorf("monsys %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("monsys %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (d *demo) download(ctx context.Context, l *stepLog) error {
	var buf bytes.Buffer
	if _, err := client.Download(ctx, d.link, &buf); err != nil {
		return err
	}
	b := buf.Bytes()
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
	script, err := member(d.pack, "verify.py")
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
	out, code, err = runVerify(ctx, py, d.verify, filepath.Join(d.dir, filepath.Base(d.packRel)), d.packFP, "--deep")
	if err != nil {
		return err
	}
	l.block("$ python3 verify.py "+filepath.Base(d.packRel)+" --expect-fingerprint "+d.packFP+" --deep", deepLines(out))
	if code != 0 {
		return fmt.Errorf("verify.py --deep exited %d, want 0:\n%s", code, out)
	}
	return nil
}

// witnessed checks the pack's transparency/ proofs with the log key and the
// witness key of hub.json (SPEC 10), then rewinds the log as a restored
// backup would and shows the local witness refusing the other history.
func (d *demo) witnessed(ctx context.Context, l *stepLog) error {
	if d.info.LogVKey == "" || len(d.info.WitnessVKeys) == 0 {
		return errors.New("hub.json has no log_vkey or witness_vkeys")
	}
	py, _ := exec.LookPath("python3")
	args := []string{"--log-key", d.info.LogVKey}
	for _, k := range d.info.WitnessVKeys {
		args = append(args, "--witness-key", k)
	}
	path := filepath.Join(d.dir, filepath.Base(d.packRel))
	out, code, err := runVerify(ctx, py, d.verify, path, d.packFP, args...)
	if err != nil {
		return err
	}
	l.block("$ python3 verify.py "+filepath.Base(d.packRel)+" --expect-fingerprint "+d.packFP+" "+strings.Join(args, " "), logLines(out))
	if code != 0 {
		return fmt.Errorf("verify.py with the log and witness keys exited %d, want 0:\n%s", code, out)
	}
	if !strings.Contains(out, "✓ Cosigned by 1 of 1 witnesses") || !strings.Contains(out, "✓ Key history in the log") {
		return fmt.Errorf("verify.py did not check the log:\n%s", out)
	}
	rewound, err := d.hub.RewoundLog(ctx, "monsys-demo-rewound")
	if err != nil {
		return err
	}
	l.note("restored the log's table and bucket from a \"backup\" taken before anything was logged, then logged another pack there")
	_, err = rewound.Append(ctx, tlog.Pack(d.info.TenantID, "pk_backdated", strings.Repeat("0", 64), "2026-01-01T00:00:00Z"))
	if !errors.Is(err, tlog.ErrNotCosigned) {
		return fmt.Errorf("the witness cosigned a rewound log (%v)", err)
	}
	l.note("the hub reports: %v", err)
	return nil
}

// logLines are the lines the log checks add, after the plain check's.
func logLines(out string) string {
	return someLines(out, "Logged in", "Cosigned", "Key history", "Transparency")
}

// deepLines are the lines --deep adds, after the seven of the plain check.
func deepLines(out string) string {
	return someLines(out, "Provenance", "chain", "Batch", "Record")
}

// someLines keeps the lines of a verifier's output that hold one of words,
// and its verdict, after a "…" line; all of out if none does.
func someLines(out string, words ...string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "VERIFICATION") || strings.HasPrefix(line, "Result") ||
			slices.ContainsFunc(words, func(w string) bool { return strings.Contains(line, w) }) {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return out
	}
	return "…\n" + strings.Join(keep, "\n") + "\n"
}

// insider plays someone with write access to the hub's database: one
// record of the agent's last signed batch is changed in the stored body and
// its SHA-256 recomputed, through the store itself; the next pack, built
// through the API and signed by the hub, passes the plain check, and --deep
// (each batch against the agent's own signature) names the batch.
func (d *demo) insider(ctx context.Context, l *stepLog) error {
	st := d.hub.Stores.Batches
	var last hub.StoredBatch
	if err := st.SignedBatches(ctx, d.agentID, 0, math.MaxInt64, func(b hub.StoredBatch) error {
		if b.Records > 1 {
			last = b
		}
		return nil
	}); err != nil {
		return err
	}
	if last.Key == "" {
		return errors.New("no signed batch with records to edit")
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(last.Body, &recs); err != nil {
		return err
	}
	var r map[string]any
	if err := json.Unmarshal(recs[len(recs)-1], &r); err != nil {
		return err
	}
	r["edited_by"] = "insider"
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	recs[len(recs)-1] = b
	edited, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if err := st.DeleteBatch(ctx, last); err != nil {
		return err
	}
	sum := sha256.Sum256(edited)
	last.Body, last.SHA = edited, hex.EncodeToString(sum[:])
	if err := st.PutBatch(ctx, last); err != nil {
		return err
	}
	l.note("rewrote batch %s of %s in the database: one record changed, its SHA-256 recomputed", last.Key, d.agentID)
	if err := d.buildPack(ctx, l); err != nil {
		return err
	}
	if err := d.download(ctx, l); err != nil {
		return err
	}
	py, _ := exec.LookPath("python3")
	path := filepath.Join(d.dir, filepath.Base(d.packRel))
	out, code, err := runVerify(ctx, py, d.verify, path, d.packFP)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("verify.py exited %d on the insider's pack, want 0 (the hub signed it):\n%s", code, out)
	}
	l.note("$ python3 verify.py %s --expect-fingerprint %s → exit 0: the hub signed what it holds", filepath.Base(path), d.packFP)
	out, code, err = runVerify(ctx, py, d.verify, path, d.packFP, "--deep")
	if err != nil {
		return err
	}
	l.block("$ python3 verify.py "+filepath.Base(path)+" --expect-fingerprint "+d.packFP+" --deep", deepLines(out))
	if code != 1 {
		return fmt.Errorf("verify.py --deep exited %d on the insider's pack, want 1", code)
	}
	if !strings.Contains(out, "✗ Batch signature invalid: agent "+d.agentID+", batch "+last.Key) {
		return fmt.Errorf("verify.py --deep did not name batch %s of %s", last.Key, d.agentID)
	}
	return nil
}

func (d *demo) tamper(ctx context.Context, l *stepLog) error {
	bad, victim, err := packtest.FlipByte(d.pack)
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
	if d.hubc != nil {
		d.hubc.CloseIdle()
	}
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

// ---- answers and archives

// attempts is how many times a call is sent while the hub answers that it
// did nothing (client.Retry).
const attempts = 5

// agentVersion is the version the demo's agent reports.
const agentVersion = "1.4.2"

func listTar(tgz []byte) ([]string, error) {
	ms, err := packtest.Unpack(tgz)
	if err != nil {
		return nil, err
	}
	var names []string
	n := 0
	for _, m := range ms {
		switch {
		case !strings.HasPrefix(m.Hdr.Name, "data/"):
			names = append(names, m.Hdr.Name)
		case m.Hdr.Typeflag == tar.TypeReg:
			n++
		}
	}
	return append(names, fmt.Sprintf("data/ (%d files)", n)), nil
}

// member returns the content of the pack's member name.
func member(tgz []byte, name string) ([]byte, error) {
	ms, err := packtest.Unpack(tgz)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Hdr.Name == name || m.Hdr.Name == "./"+name {
			return m.Body, nil
		}
	}
	return nil, fmt.Errorf("the pack has no %s", name)
}

func runVerify(ctx context.Context, py, script, tgz, fp string, extra ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, py, append([]string{script, tgz, "--expect-fingerprint", fp}, extra...)...)
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

// short names an Ed25519 public key by the start of its SPEC 7 fingerprint.
func short(pub ed25519.PublicKey) string {
	return pack.Fingerprint(pub)[:17] + ":…"
}
