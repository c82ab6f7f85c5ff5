// Package app builds the hub from its settings: SDK clients, adapters and the
// core's use cases. Lambda mains and the local hub share it, so they run the same
// code. It reads settings from the environment (see docs/configuration.md).
package app

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/aws/ddb"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/tlog"
)

// Settings are the hub's deployment settings.
type Settings struct {
	Tables               dynamo.Tables
	CAKeyID              string
	AgentCertValidity    time.Duration
	InsecureNoClientCert bool
	StaleAfter           time.Duration
}

// Env names, one per setting. template.yaml sets each of them.
const (
	EnvTableCredentials = "MONSYS_TABLE_CREDENTIALS"
	EnvTableTenants     = "MONSYS_TABLE_TENANTS"
	EnvTableAgents      = "MONSYS_TABLE_AGENTS"
	EnvTableBatches     = "MONSYS_TABLE_BATCHES"
	EnvTableBatchIndex  = "MONSYS_TABLE_BATCH_INDEX"
	EnvTableAnomalies   = "MONSYS_TABLE_ANOMALIES"
	EnvTableAudit       = "MONSYS_TABLE_AUDIT"
	EnvCAKeyID          = "MONSYS_CA_KEY_ID"
	EnvAgentCertDays    = "MONSYS_AGENT_CERT_DAYS"
	EnvInsecureNoMTLS   = "MONSYS_INSECURE_NO_CLIENT_CERT"
	EnvStaleAfter       = "MONSYS_STALE_AFTER"
)

// FromEnv reads Settings; every table name and the CA key id are required.
func FromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Tables: dynamo.Tables{
		Credentials: getenv(EnvTableCredentials), Tenants: getenv(EnvTableTenants), Agents: getenv(EnvTableAgents),
		Batches: getenv(EnvTableBatches), BatchIndex: getenv(EnvTableBatchIndex), Anomalies: getenv(EnvTableAnomalies),
		Audit: getenv(EnvTableAudit)}, CAKeyID: getenv(EnvCAKeyID)}
	if err := required([][2]string{{EnvTableCredentials, s.Tables.Credentials}, {EnvTableTenants, s.Tables.Tenants},
		{EnvTableAgents, s.Tables.Agents}, {EnvTableBatches, s.Tables.Batches}, {EnvTableBatchIndex, s.Tables.BatchIndex},
		{EnvTableAnomalies, s.Tables.Anomalies}, {EnvTableAudit, s.Tables.Audit}, {EnvCAKeyID, s.CAKeyID}}); err != nil {
		return Settings{}, err
	}
	if d := getenv(EnvAgentCertDays); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 825 {
			return Settings{}, fmt.Errorf("settings: %s=%q: want whole days from 1 to 825", EnvAgentCertDays, d)
		}
		s.AgentCertValidity = time.Duration(n) * 24 * time.Hour
	}
	if v := getenv(EnvStaleAfter); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return Settings{}, fmt.Errorf("settings: %s=%q: want a Go duration of at least 1m, such as 30m", EnvStaleAfter, v)
		}
		s.StaleAfter = d
	}
	var err error
	if s.InsecureNoClientCert, err = flag(getenv, EnvInsecureNoMTLS); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// required names every variable of pairs (name, value) whose value is empty.
func required(pairs [][2]string) error {
	var missing []string
	for _, kv := range pairs {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("settings: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// flag reads a boolean variable: unset, false or 0; true or 1; anything else is an error.
func flag(getenv func(string) string, name string) (bool, error) {
	switch v := getenv(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fmt.Errorf("settings: %s=%q: want true or false", name, v)
	}
}

// Clients are the AWS clients the hub's functions use: DynamoDB's data
// plane through the hub's own client (internal/aws/ddb), KMS through the SDK's.
type Clients struct {
	DynamoDB *ddb.Client
	KMS      *kms.Client
}

// LoadClients builds the clients from the default AWS configuration chain
// (AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_KMS point them at local
// endpoints); opts are added to the chain's (the benchmarks give their
// in-process transport as config.WithHTTPClient).
func LoadClients(ctx context.Context, opts ...func(*config.LoadOptions) error) (Clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Clients{}, fmt.Errorf("load AWS config: %w", err)
	}
	return clientsOf(cfg)
}

// clientsOf builds the clients of cfg. The DynamoDB client takes the
// region, endpoint, credentials, signer, retryer and HTTP client the SDK's
// would have.
func clientsOf(cfg aws.Config) (Clients, error) {
	db, err := ddb.FromSDK(dynamodb.NewFromConfig(cfg))
	if err != nil {
		return Clients{}, fmt.Errorf("dynamodb client: %w", err)
	}
	return Clients{DynamoDB: db, KMS: kms.NewFromConfig(cfg)}, nil
}

// Logger is the JSON logger every function uses.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// NewCore builds the stores and the core's use cases. The CA certificate is
// read now (the handlers verify client certificates against it); the KMS
// signer is built on first use, so functions that never issue never call KMS.
func NewCore(ctx context.Context, s Settings, c Clients, env hub.Env) (*Core, error) {
	return NewCoreWithLog(ctx, s, c, env, nil, nil)
}

// NewCoreWithLog is NewCore whose pins and unpins are submitted to log and
// whose integrity cycle publishes pub (either may be nil). A pub that also
// proves (a *tlog.Log) makes every pack wait for its cosigned proofs.
func NewCoreWithLog(ctx context.Context, s Settings, c Clients, env hub.Env, log hub.LogSubmitter, pub hub.LogPublisher) (*Core, error) {
	st, err := dynamo.New(c.DynamoDB, s.Tables)
	if err != nil {
		return nil, err
	}
	caStore, err := dynamo.NewCA(c.DynamoDB, s.Tables)
	if err != nil {
		return nil, err
	}
	pem, err := caStore.CACert(ctx)
	if errors.Is(err, hub.ErrNotFound) {
		return nil, ErrNotBootstrapped
	}
	if err != nil {
		return nil, fmt.Errorf("read hub CA certificate: %w", err)
	}
	cert, err := ca.ParseCertPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("hub CA certificate: %w", err)
	}
	auth := &ca.Authority{Cert: cert, Signer: &LazySigner{KeyID: s.CAKeyID, API: c.KMS, Pub: cert.PublicKey}}
	return Assemble(st, auth, CoreConfig{AgentCertValidity: s.AgentCertValidity, InsecureNoClientCert: s.InsecureNoClientCert,
		StaleAfter: s.StaleAfter, Log: log, Publish: pub, Prove: prover(pub)}, env)
}

// prover is pub as the packs' LogProver, if it is one.
func prover(pub hub.LogPublisher) hub.LogProver {
	if lp, ok := pub.(hub.LogProver); ok {
		return lp
	}
	return nil
}

// LazySigner is a crypto.Signer over a KMS key that is looked up on first use.
type LazySigner struct {
	KeyID string
	API   kmssign.API
	Pub   crypto.PublicKey // known from the CA certificate

	mu sync.Mutex
	s  *kmssign.Signer
}

var _ crypto.Signer = (*LazySigner)(nil)

// Public implements crypto.Signer.
func (l *LazySigner) Public() crypto.PublicKey { return l.Pub }

// Sign implements crypto.Signer.
func (l *LazySigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s, err := l.signer()
	if err != nil {
		return nil, err
	}
	return s.Sign(r, digest, opts)
}

// signer builds the KMS signer once it succeeds; a failure is not cached, so a
// passing KMS outage does not outlive itself. A KMS key whose public key is not
// the CA certificate's is refused.
func (l *LazySigner) signer() (*kmssign.Signer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kmssign.New(ctx, l.API, l.KeyID)
	if err != nil {
		return nil, err
	}
	if eq, ok := l.Pub.(interface{ Equal(crypto.PublicKey) bool }); ok && !eq.Equal(s.Public()) {
		return nil, fmt.Errorf("kms key %s does not hold the hub CA certificate's key", l.KeyID)
	}
	l.s = s
	return s, nil
}

// StaticCredentials are dummy credentials for local endpoints.
func StaticCredentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "monsys-local"}, nil
	})
}

// Getenv is os.Getenv, named for wiring.
var Getenv = os.Getenv

// output is where the functions' log and EMF lines go (CloudWatch Logs).
var output io.Writer = os.Stdout

// ErrNotBootstrapped is the state of a deployed hub before `monsys-admin
// bootstrap` has stored the hub CA: the functions start, answer 503 and log
// it, and serve as soon as the bootstrap has run (no new cold start needed).
var ErrNotBootstrapped = errors.New("the hub is not bootstrapped yet: its operator must run `monsys-admin bootstrap` (README, Deploying to AWS)")

// APIFunc is a Lambda handler of API Gateway proxy events.
type APIFunc func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Invoke serves one invocation from the event's bytes to the response's:
// lambda.Start calls it (APIFunc is a lambda.Handler) instead of decoding
// the event with reflection. The event is decoded by api.DecodeEvent (what
// encoding/json decodes, in one walk without reflection) and the response
// encoded as the runtime encodes a handler's result.
func (f APIFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev, err := api.DecodeEvent(payload)
	if err != nil {
		return nil, err
	}
	res, err := f(ctx, ev)
	if err != nil {
		return nil, err
	}
	return api.EncodeResponse(res)
}

// retrying holds what a function builds from the hub's stored state. While
// the hub is not bootstrapped, each use tries again; once built it is kept.
type retrying[T any] struct {
	build func(context.Context) (T, error)
	mu    sync.Mutex
	v     T
	done  bool
}

func (r *retrying[T]) get(ctx context.Context) (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return r.v, nil
	}
	v, err := r.build(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	r.v, r.done = v, true
	return v, nil
}

// startRetrying builds once at start: an error other than ErrNotBootstrapped
// fails the start, as before; not bootstrapped is logged and tried again at
// each use.
func startRetrying[T any](ctx context.Context, log *slog.Logger, function string, build func(context.Context) (T, error)) (*retrying[T], error) {
	r := &retrying[T]{build: build}
	_, err := r.get(ctx)
	if errors.Is(err, ErrNotBootstrapped) {
		logNotBootstrapped(ctx, log, function)
		err = nil
	}
	return r, err
}

func logNotBootstrapped(ctx context.Context, log *slog.Logger, function string) {
	log.WarnContext(ctx, "hub not bootstrapped", "function", function, "state", "not_bootstrapped",
		"hint", "run monsys-admin bootstrap with the stack's outputs (README, Deploying to AWS)")
}

// notReady answers a request a function cannot serve yet: 503 unavailable,
// saying why, in the SPEC 4 envelope.
func notReady(ctx context.Context, log *slog.Logger, function string, ev events.APIGatewayProxyRequest, err error) events.APIGatewayProxyResponse {
	he := &hub.Error{Code: hub.CodeUnavailable, Message: "the hub is unavailable; retry later", RetryAfter: 5 * time.Second, Cause: err}
	if errors.Is(err, ErrNotBootstrapped) {
		logNotBootstrapped(ctx, log, function)
		he.Message, he.RetryAfter = "the hub is not bootstrapped yet: its operator must run monsys-admin bootstrap", time.Minute
	}
	return api.ErrorResponse(ctx, log, ev, he)
}

// settingsAndClients is the part of the wiring that needs no stored state.
func settingsAndClients(ctx context.Context, getenv func(string) string) (Settings, Clients, *slog.Logger, error) {
	TuneGC(getenv)
	log := Logger(output)
	s, err := FromEnv(getenv)
	if err != nil {
		return s, Clients{}, log, err
	}
	c, err := LoadClients(ctx)
	return s, c, log, err
}

// Handler builds a Lambda function's handler for its route groups from the
// environment: the whole of a function main's wiring. Before the bootstrap
// it answers 503 unavailable ("not bootstrapped yet") and logs it.
func Handler(ctx context.Context, getenv func(string) string, groups api.Group) (APIFunc, error) {
	s, c, log, err := settingsAndClients(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return handler(ctx, getenv, groups, s, c, log, nil, nil)
}

// SubmittingHandler is Handler for the functions whose routes pin or unpin
// signing keys (register, rotate): they submit each pin and unpin to the
// transparency log's pool (MONSYS_TABLE_LOG); the integrity cycle
// integrates them.
func SubmittingHandler(ctx context.Context, getenv func(string) string, groups api.Group) (APIFunc, error) {
	s, c, log, err := settingsAndClients(ctx, getenv)
	if err != nil {
		return nil, err
	}
	sub, err := LogSubmitterFromEnv(getenv, c.DynamoDB)
	if err != nil {
		return nil, err
	}
	return handler(ctx, getenv, groups, s, c, log, sub, nil)
}

// LogViewHandler builds the logview function: the transparency log's read
// routes for monitors (api.Log, GET /log/...), served from the log's
// bucket (MONSYS_LOG_BUCKET) with read access only: no log key, no head,
// no witnesses.
func LogViewHandler(ctx context.Context, getenv func(string) string) (APIFunc, error) {
	s, c, log, err := settingsAndClients(ctx, getenv)
	if err != nil {
		return nil, err
	}
	bucket := getenv(EnvLogBucket)
	if err := required([][2]string{{EnvLogBucket, bucket}}); err != nil {
		return nil, err
	}
	pathStyle, err := flag(getenv, EnvS3PathStyle)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	tiles, err := s3store.NewTiles(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), s3store.TilesConfig{Bucket: bucket})
	if err != nil {
		return nil, err
	}
	return handler(ctx, getenv, api.Log, s, c, log, nil, func(core *Core) error {
		return core.AddLogView(tlog.Reader{Tiles: tiles, Checkpoints: tiles})
	})
}

// handler serves groups over a core built at the first request (after the
// bootstrap); extend, when set, adds use cases to the core first.
func handler(ctx context.Context, getenv func(string) string, groups api.Group, s Settings, c Clients, log *slog.Logger, sub hub.LogSubmitter, extend func(*Core) error) (APIFunc, error) {
	function := fmt.Sprintf("api group %d", groups)
	if n := getenv(EnvLambdaFunction); n != "" {
		function = n
	}
	r, err := startRetrying(ctx, log, function, func(ctx context.Context) (*api.Handler, error) {
		core, err := NewCoreWithLog(ctx, s, c, hub.Env{Log: log, Metrics: NewEMFMetrics(output)}, sub, nil)
		if err != nil {
			return nil, err
		}
		if extend != nil {
			if err := extend(core); err != nil {
				return nil, err
			}
		}
		return api.New(core.Services(), log, groups)
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		h, err := r.get(ctx)
		if err != nil {
			return notReady(ctx, log, function, ev, err), nil
		}
		return h.Handle(ctx, ev)
	}, nil
}

// integrityCore returns how the integrity function builds its use case.
// With witnesses (MONSYS_WITNESSES) it publishes the transparency log at
// the end of every cycle. Without any, it still pools the cycle's entries
// (heads, pins to repair), as register and rotate pool theirs, and says
// at start that nothing is published until witnesses are set: the
// integrity cycle itself never waits on the log (docs/transparency-log.md).
func integrityCore(ctx context.Context, getenv func(string) string, s Settings, c Clients, env hub.Env) (func(context.Context) (*hub.Integrity, error), error) {
	if getenv(EnvWitnesses) == "" {
		sub, err := LogSubmitterFromEnv(getenv, c.DynamoDB)
		if err != nil {
			return nil, err
		}
		env.Log.Warn("transparency log: no witnesses set (MONSYS_WITNESSES): entries are pooled, not published")
		return func(ctx context.Context) (*hub.Integrity, error) {
			core, err := NewCoreWithLog(ctx, s, c, env, sub, nil)
			if err != nil {
				return nil, err
			}
			return core.Integrity, nil
		}, nil
	}
	ls, err := LogFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = ls.PathStyle })
	return func(ctx context.Context) (*hub.Integrity, error) {
		tl, _, err := NewLog(ctx, ls, LogParts{DynamoDB: c.DynamoDB, S3: s3c, KMS: c.KMS})
		if err != nil {
			return nil, err
		}
		core, err := NewCoreWithLog(ctx, s, c, env, tl, tl)
		if err != nil {
			return nil, err
		}
		return core.Integrity, nil
	}, nil
}

// Integrity builds the scheduled integrity cycle from the environment.
// Before the bootstrap there is nothing to check: a run logs that and
// succeeds, so no error alarm fires every 10 minutes.
func Integrity(ctx context.Context, getenv func(string) string) (func(context.Context, json.RawMessage) (hub.Summary, error), error) {
	s, c, log, err := settingsAndClients(ctx, getenv)
	if err != nil {
		return nil, err
	}
	build, err := integrityCore(ctx, getenv, s, c, hub.Env{Log: log, Metrics: NewEMFMetrics(output)})
	if err != nil {
		return nil, err
	}
	r, err := startRetrying(ctx, log, "integrity", build)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, _ json.RawMessage) (hub.Summary, error) {
		in, err := r.get(ctx)
		if errors.Is(err, ErrNotBootstrapped) {
			logNotBootstrapped(ctx, log, "integrity")
			return hub.Summary{}, nil
		}
		if err != nil {
			return hub.Summary{}, err
		}
		return in.Run(ctx)
	}, nil
}
