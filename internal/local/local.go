// Package local runs the hub on one machine (SPEC 1.1): dynalite for
// DynamoDB, the project's local KMS, and an HTTPS listener that does real
// mutual TLS and hands the same handlers the proxy events API Gateway would.
package local

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/clock"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/local/emu"
	"github.com/monsys/hub/internal/local/gateway"
	"github.com/monsys/hub/internal/local/kmsserver"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/tlog"
)

// Config configures a local hub. Zero values take the SPEC 1.1 defaults.
type Config struct {
	Addr           string        // MONSYS_LOCAL_ADDR, default 127.0.0.1:8443; port 0 picks a free one
	Dir            string        // MONSYS_LOCAL_DIR, default .local
	TenantID       string        // default "demo"
	DynamoEndpoint string        // reuse this DynamoDB endpoint instead of starting dynalite
	TablePrefix    string        // default "monsys-"
	IntegrityEvery time.Duration // MONSYS_INTEGRITY_EVERY, default 10m
	// HotDays is MONSYS_HOT_DAYS. Unset (0): no hot window, since dynalite
	// never expires items and the local hub keeps every batch; set, packs
	// of older periods come from the monthly archive as in AWS.
	HotDays int
	// ArchiveEvery is how often the monthly archive runs (hub.Archive), as
	// the archive schedule does in AWS; default 24h.
	ArchiveEvery time.Duration
	StaleAfter   time.Duration // default 30m
	Log          *slog.Logger
	Clock        clock.Clock // default the system clock

	// S3Endpoint reuses this S3 endpoint (with S3User, S3Password) instead
	// of starting MinIO.
	S3Endpoint, S3User, S3Password string
	Bucket                         string // packs bucket, default "monsys-packs"; created with Object Lock
	// LogBucket holds the transparency log's tiles and checkpoint (SPEC
	// 10), served by GET /log/...; default Bucket without "-packs" and with
	// "-log" ("monsys-log"); created with Object Lock.
	LogBucket string
	// LogOrigin names the local hub's transparency log (default
	// DefaultLogOrigin, "monsys.local/log").
	LogOrigin string
	// NoWitness runs the hub without its litewitness: log entries are
	// pooled, nothing is published, packs have no transparency/ and
	// hub.json no log keys (the mode of a deployment without witnesses).
	NoWitness bool
	// WitnessLog receives litewitness's output; nil discards it.
	WitnessLog    io.Writer
	SigningMode   string // MONSYS_SIGNING_MODE: kms (default; the local KMS makes Ed25519 keys) or kms-envelope
	RetentionDays int    // COMPLIANCE retention of each pack, default 1 day; -1: none
	// WrapS3 and WrapVault let tests put faults between the pack builder and
	// S3 or KMS.
	WrapS3    func(s3store.API) s3store.API
	WrapVault func(hub.KeyVault) hub.KeyVault
}

// Hub is a running local hub.
type Hub struct {
	info     profile.Info
	cfg      Config
	dynalite *emu.Dynalite
	minio    *emu.MinIO
	witness  *emu.Litewitness
	// logSettings are the log's (startLog).
	logSettings app.LogSettings
	kmsSrv      *http.Server
	https       *http.Server
	stopTimer   chan struct{}
	builds      *builds

	// Core is the hub's use cases, Stores what they are built over: the
	// very ones the functions run.
	Core   *app.Core
	Stores hub.Stores
	// Log is the hub's transparency log (nil with Config.NoWitness).
	Log      *tlog.Log
	DynamoDB *dynamodb.Client // the control plane (the tables); and a way in for tests that play an insider
	Data     *ddb.Client      // the data plane, as the functions send it
	KMS      *kms.Client
	S3       *s3.Client

	auth *ca.Authority

	closeOnce sync.Once
	done      chan struct{}
	serveErr  error
	// failErr is why an emulator's exit stopped the hub (watchEmulators).
	failMu   sync.Mutex
	failErr  error
	watching func() // waits for the emulator watchers
}

// Info returns what hub.json says.
func (h *Hub) Info() profile.Info { return h.info }

// AddTenant creates another tenant with a new admin key and its enrollment and
// operator certificates in the state folder, for multi-tenant trials and tests.
func (h *Hub) AddTenant(ctx context.Context, tenant string) (profile.Info, error) {
	key, err := h.Core.Tenants.Bootstrap(ctx, tenant)
	if err != nil {
		return profile.Info{}, err
	}
	tf, err := profile.EnsureTenantFiles(h.cfg.Dir, tenant, h.auth, h.cfg.Clock.Now())
	if err != nil {
		return profile.Info{}, err
	}
	if _, err := h.Core.Keys.Ensure(ctx, tenant); err != nil {
		return profile.Info{}, err
	}
	return profile.Info{URL: h.info.URL, TenantID: tenant, AdminKey: key, CACert: h.info.CACert,
		EnrollCert: tf.EnrollCert, EnrollKey: tf.EnrollKey, OperatorCert: tf.OperatorCert, OperatorKey: tf.OperatorKey,
		LogVKey: h.info.LogVKey, WitnessVKeys: h.info.WitnessVKeys}, nil
}

// Dynalite is the emulator this hub started, or nil when it reuses an endpoint.
func (h *Hub) Dynalite() *emu.Dynalite { return h.dynalite }

func (c *Config) defaults() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8443"
	}
	if c.Dir == "" {
		c.Dir = ".local"
	}
	if c.TenantID == "" {
		c.TenantID = "demo"
	}
	if c.TablePrefix == "" {
		c.TablePrefix = "monsys-"
	}
	if c.Bucket == "" {
		c.Bucket = "monsys-packs"
	}
	if c.LogBucket == "" {
		c.LogBucket = strings.TrimSuffix(c.Bucket, "-packs") + "-log"
	}
	if c.LogOrigin == "" {
		c.LogOrigin = DefaultLogOrigin
	}
	if c.SigningMode == "" {
		c.SigningMode = kmssign.ModeKMS
	}
	if c.RetentionDays == 0 {
		c.RetentionDays = 1
	}
	if c.IntegrityEvery == 0 {
		c.IntegrityEvery = 10 * time.Minute
	}
	if c.ArchiveEvery == 0 {
		c.ArchiveEvery = 24 * time.Hour
	}
	if c.Log == nil {
		c.Log = app.Logger(os.Stderr)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("state folder %q: %w", c.Dir, err)
	}
	c.Dir = dir
	return os.MkdirAll(dir, 0o700)
}

// Start brings the local hub up and returns once it accepts connections and
// hub.json is written. Close stops it and everything it started.
func Start(ctx context.Context, cfg Config) (_ *Hub, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, done: make(chan struct{})}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	prev, _ := profile.Read(filepath.Join(cfg.Dir, "hub.json")) // a new state folder has none
	_ = os.Remove(filepath.Join(cfg.Dir, "hub.json"))

	endpoint := cfg.DynamoEndpoint
	if endpoint == "" {
		if endpoint, err = h.startDynalite(ctx); err != nil {
			return nil, err
		}
	}
	if h.DynamoDB, err = emu.DynamoClient(ctx, endpoint); err != nil {
		return nil, err
	}
	if h.Data, err = ddb.FromSDK(h.DynamoDB); err != nil {
		return nil, err
	}
	kmsURL, err := h.startKMS(cfg)
	if err != nil {
		return nil, err
	}
	h.KMS = kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(kmsURL), Credentials: app.StaticCredentials()})

	tables := dynamo.TablesWithPrefix(cfg.TablePrefix)
	if err := dynamo.CreateTables(ctx, h.DynamoDB, tables); err != nil {
		return nil, fmt.Errorf("local hub: %w", err)
	}
	keyID, err := ensureCAKey(ctx, h.KMS)
	if err != nil {
		return nil, err
	}
	if err := profile.WriteBackend(filepath.Join(cfg.Dir, profile.BackendFile), profile.Backend{DynamoDBEndpoint: endpoint,
		KMSEndpoint: kmsURL, Region: "us-east-1", TablePrefix: cfg.TablePrefix, CAKeyID: keyID}); err != nil {
		return nil, err
	}
	caStore, err := dynamo.NewCA(h.Data, tables)
	if err != nil {
		return nil, err
	}
	if err := ensureCACert(ctx, caStore, h.KMS, keyID, cfg.Clock.Now()); err != nil {
		return nil, err
	}
	if err := h.startS3(ctx); err != nil {
		return nil, err
	}
	// The log: pins, unpins, packs and heads are logged; with the witness,
	// the integrity cycle publishes it and packs carry their proofs.
	var sub hub.LogSubmitter
	var pub hub.LogPublisher
	if cfg.NoWitness {
		if sub, err = app.LogSubmitterFromEnv(func(string) string { return tables.Log }, h.Data); err != nil {
			return nil, err
		}
	} else {
		tl, err := h.startLog(ctx, tables)
		if err != nil {
			return nil, err
		}
		sub, pub, h.Log = tl, tl, tl
	}
	settings := app.Settings{Tables: tables, CAKeyID: keyID, StaleAfter: cfg.StaleAfter}
	if h.Core, err = app.NewCoreWithLog(ctx, settings, app.Clients{DynamoDB: h.Data, KMS: h.KMS}, hub.Env{Clock: cfg.Clock, Log: cfg.Log}, sub, pub); err != nil {
		return nil, err
	}
	if h.Stores, err = dynamo.New(h.Data, tables); err != nil {
		return nil, err
	}
	auth, caPEM, err := authority(ctx, caStore, h.KMS, keyID, cfg.Clock.Now)
	if err != nil {
		return nil, err
	}
	h.auth = auth
	files, err := ensureServerFiles(cfg.Dir, auth, caPEM, cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	tf, err := profile.EnsureTenantFiles(cfg.Dir, cfg.TenantID, auth, cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	adminKey, err := ensureAdminKey(ctx, h.Core.Tenants, cfg.TenantID, prev.AdminKey)
	if err != nil {
		return nil, err
	}
	if err := h.startPacks(ctx); err != nil {
		return nil, err
	}
	if err := h.startLogView(ctx); err != nil {
		return nil, err
	}
	handler, err := api.New(h.Core.Services(), cfg.Log, api.All)
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Addr, files)
	if err != nil {
		return nil, err
	}
	h.https = &http.Server{Handler: gateway.Handler(h.function(handler), cfg.Clock.Now), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn)}
	go func() {
		defer close(h.done)
		if err := h.https.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.serveErr = err
		}
	}()
	h.info = profile.Info{URL: "https://" + ln.Addr().String(), TenantID: cfg.TenantID, AdminKey: adminKey,
		CACert: files.caCert, EnrollCert: tf.EnrollCert, EnrollKey: tf.EnrollKey,
		OperatorCert: tf.OperatorCert, OperatorKey: tf.OperatorKey, LogVKey: h.info.LogVKey, WitnessVKeys: h.info.WitnessVKeys}
	if err := profile.Write(filepath.Join(cfg.Dir, "hub.json"), h.info); err != nil {
		return nil, err
	}
	h.stopTimer = make(chan struct{})
	h.watching = watchEmulators(h.stopTimer, h.emulators(), h.fail)
	go h.every(cfg.IntegrityEvery, cfg.IntegrityEvery, "integrity cycle", func(ctx context.Context) error {
		_, err := h.Core.Integrity.Run(ctx)
		return err
	})
	go h.every(cfg.ArchiveEvery, time.Hour, "monthly archive", h.Core.Archive.Run)
	cfg.Log.Info("local hub ready", "url", h.info.URL, "tenant_id", cfg.TenantID, "hub_json", filepath.Join(cfg.Dir, "hub.json"))
	return h, nil
}

func (h *Hub) startDynalite(ctx context.Context) (string, error) {
	root, err := emu.RepoRoot()
	if err != nil {
		return "", err
	}
	if err := emu.EnsureNodeModules(ctx, root); err != nil {
		return "", err
	}
	d, err := emu.StartDynalite(ctx, emu.DynaliteOptions{Dir: filepath.Join(h.cfg.Dir, "dynamodb")})
	if err != nil {
		return "", err
	}
	h.dynalite = d
	return d.Endpoint(), nil
}

func (h *Hub) startKMS(cfg Config) (string, error) {
	srv, err := kmsserver.Open(filepath.Join(cfg.Dir, "kms"))
	if err != nil {
		return "", fmt.Errorf("local kms: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("local kms: %w", err)
	}
	h.kmsSrv = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.kmsSrv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func listen(addr string, f stateFiles) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(f.serverCert, f.serverKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	pool, err := loadPool(f.caCert)
	if err != nil {
		return nil, err
	}
	return gateway.Listen(addr, cert, pool, nil)
}

// function is what the local gateway runs: the API handler, and the
// on-demand integrity run at IntegrityPath.
func (h *Hub) function(handler *api.Handler) gateway.Func {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
		if ev.Path == IntegrityPath {
			return handler.HandleAdmin(ctx, ev, http.MethodPost, h.runIntegrity)
		}
		resp, _ := handler.Handle(ctx, ev)
		return resp
	}
}

// IntegrityPath runs the integrity cycle on demand (SPEC 1.1): POST, with
// the admin key and an operator certificate of any tenant. Only the local hub
// serves it; in AWS the cycle runs on EventBridge's schedule alone.
const IntegrityPath = "/local/run/integrity"

// runIntegrity runs the integrity cycle now and answers its summary.
func (h *Hub) runIntegrity(ctx context.Context, _ hub.Admin) (int, any, error) {
	sum, err := h.Core.Integrity.Run(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("integrity run: %w", err)
	}
	return http.StatusOK, sum, nil
}

// every runs fn once per period until the hub stops, as an EventBridge
// schedule runs a function in AWS: each run gets at most timeout, and its
// error is logged as what.
func (h *Hub) every(period, timeout time.Duration, what string, fn func(context.Context) error) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-h.stopTimer:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			if err := fn(ctx); err != nil {
				h.cfg.Log.Error(what, "err", err)
			}
			cancel()
		}
	}
}

// Wait blocks until the hub stops serving, returning why: the listener's
// error, or the exit of an emulator the hub started.
func (h *Hub) Wait() error {
	<-h.done
	h.failMu.Lock()
	defer h.failMu.Unlock()
	if h.failErr != nil {
		return h.failErr
	}
	return h.serveErr
}

// Close stops the listener, the local KMS and dynalite (if this hub started it).
func (h *Hub) Close() error {
	var errs []error
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if h.stopTimer != nil {
			close(h.stopTimer)
		}
		if h.watching != nil {
			h.watching()
		}
		if h.https != nil {
			errs = append(errs, h.https.Shutdown(ctx))
		} else {
			close(h.done)
		}
		if h.builds != nil {
			h.builds.wait()
		}
		if h.kmsSrv != nil {
			errs = append(errs, h.kmsSrv.Shutdown(ctx))
		}
		if h.witness != nil {
			errs = append(errs, h.witness.Stop())
		}
		if h.minio != nil {
			errs = append(errs, h.minio.Stop())
		}
		if h.dynalite != nil {
			errs = append(errs, h.dynalite.Stop())
		}
	})
	return errors.Join(errs...)
}
