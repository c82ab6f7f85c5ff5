package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/hub"
)

// Env names of the evidence-pack settings (docs/configuration.md).
const (
	EnvTablePacks       = "MONSYS_TABLE_PACKS"
	EnvTableSigningKeys = "MONSYS_TABLE_SIGNING_KEYS"
	EnvPackBucket       = "MONSYS_PACK_BUCKET"
	EnvRetentionDays    = "MONSYS_PACK_RETENTION_DAYS"
	EnvSigningMode      = "MONSYS_SIGNING_MODE"
	EnvWrapKeyID        = "MONSYS_SIGNING_WRAP_KEY_ID"
	EnvLinkTTL          = "MONSYS_PACK_LINK_TTL"
	EnvS3PathStyle      = "MONSYS_S3_PATH_STYLE"
	EnvBuildFunction    = "MONSYS_PACK_BUILD_FUNCTION"
	// EnvHotDays is the hot window (docs/dynamodb.md, "Hot window").
	EnvHotDays = "MONSYS_HOT_DAYS"
	// EnvSigningKeyUser is the role that alone may sign with the tenants'
	// pack-signing keys (kms mode): the key policy each key gets at CreateKey
	// names it (kmssign.PackKeyPolicy). Empty: KMS's default key policy (the
	// local KMS, which enforces none).
	EnvSigningKeyUser = "MONSYS_SIGNING_KEY_USER"
	// EnvLinkRole is the role presigned links are signed with (STS
	// AssumeRole, a session of LinkSession): a link dies with the
	// credentials it is signed with, and the function's own session ends at
	// a time it is not told. Empty: the function's own credentials (the local
	// hub's static ones).
	EnvLinkRole = "MONSYS_PACK_LINK_ROLE_ARN"
	// EnvLambdaFunction is set by Lambda: the build invokes its own function.
	EnvLambdaFunction = "AWS_LAMBDA_FUNCTION_NAME"
)

// DefaultRetentionDays is the Object Lock retention of a pack when
// MONSYS_PACK_RETENTION_DAYS is unset.
const DefaultRetentionDays = 365

// DefaultHotDays is the hot window when MONSYS_HOT_DAYS is unset: batches
// stay in DynamoDB at least this many days after their month's pack, and a
// pack period may start at most this many days ago. MinHotDays keeps the
// month just ended inside the window while its monthly pack is built
// (docs/dynamodb.md, "Hot window").
const (
	DefaultHotDays = 45
	MinHotDays     = 35
	MaxHotDays     = 3650
)

// ParseHotDays reads a MONSYS_HOT_DAYS value: whole days from MinHotDays
// to MaxHotDays.
func ParseHotDays(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < MinHotDays || n > MaxHotDays {
		return 0, fmt.Errorf("%s=%q: want whole days from %d to %d", EnvHotDays, v, MinHotDays, MaxHotDays)
	}
	return n, nil
}

// Presigned links signed with the link role (docs/packs.md): its sessions
// last LinkSession, the most STS grants a role assumed from a Lambda
// function's own role session (role chaining); a link lives at most
// LinkCap, so that a fresh session outlives it with minutes to spare.
const (
	LinkSession = time.Hour
	LinkCap     = 55 * time.Minute
)

// PackSettings are the evidence-pack settings.
type PackSettings struct {
	Bucket        string
	RetentionDays int
	SigningMode   string
	WrapKeyID     string
	LinkTTL       time.Duration
	PathStyle     bool
	BuildFunction string
	KeyUser       string
	LinkRole      string
	HotDays       int
}

// PacksFromEnv reads PackSettings; the bucket, both tables and the signing
// mode are required, and kms-envelope needs the wrapping key. Nothing is
// guessed: an unknown mode is an error.
func PacksFromEnv(getenv func(string) string, s *Settings) (PackSettings, error) {
	s.Tables.Packs, s.Tables.SigningKeys = getenv(EnvTablePacks), getenv(EnvTableSigningKeys)
	p := PackSettings{Bucket: getenv(EnvPackBucket), SigningMode: getenv(EnvSigningMode), WrapKeyID: getenv(EnvWrapKeyID),
		RetentionDays: DefaultRetentionDays, HotDays: DefaultHotDays, BuildFunction: getenv(EnvBuildFunction), KeyUser: getenv(EnvSigningKeyUser),
		LinkRole: getenv(EnvLinkRole)}
	if p.BuildFunction == "" {
		p.BuildFunction = getenv(EnvLambdaFunction)
	}
	if err := required([][2]string{{EnvTablePacks, s.Tables.Packs}, {EnvTableSigningKeys, s.Tables.SigningKeys},
		{EnvPackBucket, p.Bucket}, {EnvSigningMode, p.SigningMode}}); err != nil {
		return PackSettings{}, err
	}
	switch p.SigningMode {
	case kmssign.ModeKMS:
		if p.WrapKeyID != "" {
			return PackSettings{}, fmt.Errorf("settings: %s is only for %s=%s", EnvWrapKeyID, EnvSigningMode, kmssign.ModeKMSEnvelope)
		}
	case kmssign.ModeKMSEnvelope:
		if p.WrapKeyID == "" {
			return PackSettings{}, fmt.Errorf("settings: %s=%s needs %s (a symmetric KMS key)", EnvSigningMode, p.SigningMode, EnvWrapKeyID)
		}
	default:
		return PackSettings{}, fmt.Errorf("settings: %s=%q: want %s or %s", EnvSigningMode, p.SigningMode, kmssign.ModeKMS, kmssign.ModeKMSEnvelope)
	}
	if v := getenv(EnvRetentionDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return PackSettings{}, fmt.Errorf("settings: %s=%q: want whole days from 0 (bucket default) to 36500", EnvRetentionDays, v)
		}
		p.RetentionDays = n
	}
	if v := getenv(EnvHotDays); v != "" {
		n, err := ParseHotDays(v)
		if err != nil {
			return PackSettings{}, fmt.Errorf("settings: %w", err)
		}
		p.HotDays = n
	}
	if v := getenv(EnvLinkTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return PackSettings{}, fmt.Errorf("settings: %s=%q: want a Go duration from 1m to 168h", EnvLinkTTL, v)
		}
		p.LinkTTL = d
	}
	if p.LinkRole != "" && !strings.HasPrefix(p.LinkRole, "arn:") {
		return PackSettings{}, fmt.Errorf("settings: %s=%q: want a role ARN", EnvLinkRole, p.LinkRole)
	}
	if p.KeyUser != "" {
		if _, err := kmssign.PackKeyPolicy(p.KeyUser); err != nil {
			return PackSettings{}, fmt.Errorf("settings: %s: %w", EnvSigningKeyUser, err)
		}
	}
	var err error
	if p.PathStyle, err = flag(getenv, EnvS3PathStyle); err != nil {
		return PackSettings{}, err
	}
	return p, nil
}

// PackParts are the clients the evidence packs need besides DynamoDB.
type PackParts struct {
	KMS     kmssign.VaultAPI
	S3      *s3.Client
	TempDir string
	// LinkCredentials sign the presigned links (LinkRoleCredentials); nil:
	// the S3 client's own, and links as long as asked (up to 7 days).
	LinkCredentials s3store.LinkCredentials
	Starter         hub.AsyncStarter
}

// LinkRoleCredentials are sessions of the link role, LinkSession long,
// cached until a link would outlive the cached one.
func LinkRoleCredentials(cfg aws.Config, role string) *aws.CredentialsCache {
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
		o.Duration, o.RoleSessionName = LinkSession, "monsys-pack-links"
	}))
}

// AddPacks adds the evidence packs to c over the given clients.
func AddPacks(c *Core, ps PackSettings, parts PackParts) error {
	var opts []kmssign.VaultOption
	if ps.KeyUser != "" && ps.SigningMode == kmssign.ModeKMS {
		opts = append(opts, kmssign.WithSigner(ps.KeyUser))
	}
	vault, err := kmssign.NewVault(ps.SigningMode, parts.KMS, ps.WrapKeyID, opts...)
	if err != nil {
		return err
	}
	objects, err := s3store.New(parts.S3, s3store.Config{Bucket: ps.Bucket, Retention: time.Duration(ps.RetentionDays) * 24 * time.Hour,
		LinkCredentials: parts.LinkCredentials})
	if err != nil {
		return err
	}
	cfg := hub.PackConfig{LinkTTL: ps.LinkTTL, TempDir: parts.TempDir, HotDays: ps.HotDays}
	if parts.LinkCredentials != nil {
		cfg.LinkCap = LinkCap
	}
	return c.AddPacks(PackPorts{Vault: vault, Objects: objects, Starter: parts.Starter}, cfg)
}

// BuildEvent is the payload the pack function sends itself to build a pack.
type BuildEvent struct {
	Build *struct {
		TenantID string `json:"tenant_id"`
		PackID   string `json:"pack_id"`
	} `json:"monsys_pack_build"`
}

// InvokeAPI is the part of the Lambda client the starter calls.
type InvokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaStarter starts a build by invoking a function (the pack function
// itself) with InvocationType Event: the request answers at once, and the
// build runs in its own invocation with the function's full timeout.
type LambdaStarter struct {
	API      InvokeAPI
	Function string
}

var _ hub.AsyncStarter = (*LambdaStarter)(nil)

// StartBuild implements hub.BuildStarter.
func (l *LambdaStarter) StartBuild(ctx context.Context, tenantID, packID string) error {
	return l.invoke(ctx, map[string]any{"monsys_pack_build": map[string]string{"tenant_id": tenantID, "pack_id": packID}})
}

// StartExpiry implements hub.ExpiryStarter: the event {"monsys_pack_expire": ExpiryEvent}.
func (l *LambdaStarter) StartExpiry(ctx context.Context, t hub.ExpiryTask) error {
	return l.invoke(ctx, map[string]any{ExpireEvent: expiryEvent(t)})
}

func (l *LambdaStarter) invoke(ctx context.Context, event any) error {
	payload, err := json.Marshal(event)
	if err != nil {
		return err
	}
	_, err = l.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(l.Function),
		InvocationType: lambdatypes.InvocationTypeEvent, Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", l.Function, err)
	}
	return nil
}

// ExpireEvent names the event of one part of a monthly pack's expiry pass
// (hub.Archive.Expire), which the pack function sends itself:
// {"monsys_pack_expire":{"tenant_id":…,"pack_id":…,"day":"2026-03-12","shard":3,"cursor":…,"marked":…}}.
const ExpireEvent = "monsys_pack_expire"

// ExpiryEvent is the member of an expire event.
type ExpiryEvent struct {
	TenantID string `json:"tenant_id"`
	PackID   string `json:"pack_id"`
	Day      string `json:"day"`
	Shard    int    `json:"shard"`
	Cursor   string `json:"cursor,omitempty"`
	Marked   int    `json:"marked,omitempty"`
}

func expiryEvent(t hub.ExpiryTask) ExpiryEvent {
	return ExpiryEvent{TenantID: t.TenantID, PackID: t.PackID, Day: t.Part.Day.UTC().Format(time.DateOnly), Shard: t.Part.Shard,
		Cursor: t.Cursor, Marked: t.Marked}
}

// task reads the event back; a member that does not name a tenant, a pack
// and a day is refused.
func (e ExpiryEvent) task() (hub.ExpiryTask, error) {
	day, err := time.Parse(time.DateOnly, e.Day)
	if err != nil || e.TenantID == "" || e.PackID == "" || e.Shard < 0 || e.Marked < 0 {
		return hub.ExpiryTask{}, errors.New("pack: an expire event needs monsys_pack_expire.tenant_id, pack_id, day (YYYY-MM-DD) and a shard")
	}
	return hub.ExpiryTask{TenantID: e.TenantID, PackID: e.PackID, Part: hub.ExpiryPart{Day: day, Shard: e.Shard}, Cursor: e.Cursor, Marked: e.Marked}, nil
}

// PackBuilder builds a requested pack (hub.Packs).
type PackBuilder interface {
	BuildPack(ctx context.Context, tenantID, packID string) error
}

// BuildMetrics counts what a build event came to (EMFMetrics).
type BuildMetrics interface {
	PackBuildFailed(ctx context.Context)
}

// Archiver runs the monthly archive (hub.Archive): the daily run, and
// each part of an expiry pass.
type Archiver interface {
	Run(ctx context.Context) error
	Expire(ctx context.Context, t hub.ExpiryTask) error
}

// ArchiveEvent is the constant input of the archive schedule (template.yaml,
// PackFunction's Archive event): {"monsys_pack_archive":{}}.
const ArchiveEvent = "monsys_pack_archive"

// PackFunction is the pack Lambda function: API Gateway events for the
// Packs routes, its own build events, and the archive schedule's events.
type PackFunction struct {
	API     APIFunc
	Packs   PackBuilder
	Archive Archiver
	Metrics BuildMetrics
	Log     *slog.Logger
}

// Handle serves one invocation. A failed build is logged and counted
// (PackBuildFailures, alarmed in template.yaml), not returned: the pack is
// marked failed already and a Lambda retry would do nothing. The event is a build event when it has the
// monsys_pack_build member (which must name the tenant and the pack), an API
// Gateway proxy event when it has httpMethod and path; anything else is an
// invocation error, so that a stray event (a misrouted rule, a malformed
// invoke) shows in the function's Errors metric instead of getting a 404
// nobody reads. json.Unmarshal alone cannot tell: any JSON object decodes
// into an APIGatewayProxyRequest.
func (f *PackFunction) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var kind struct {
		Build   json.RawMessage `json:"monsys_pack_build"`
		Archive json.RawMessage `json:"monsys_pack_archive"`
		Expire  json.RawMessage `json:"monsys_pack_expire"`
		Method  string          `json:"httpMethod"`
		Path    string          `json:"path"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return nil, errors.New("pack: the event is neither an API Gateway proxy event nor a build event: not a JSON object")
	}
	switch {
	case kind.Build != nil:
		var be BuildEvent
		if err := json.Unmarshal(raw, &be); err != nil || be.Build == nil || be.Build.TenantID == "" || be.Build.PackID == "" {
			return nil, errors.New("pack: a build event needs monsys_pack_build.tenant_id and pack_id")
		}
		if err := f.Packs.BuildPack(ctx, be.Build.TenantID, be.Build.PackID); err != nil {
			f.Log.ErrorContext(ctx, "build pack", "tenant_id", be.Build.TenantID, "pack_id", be.Build.PackID, "err", err)
			if f.Metrics != nil {
				f.Metrics.PackBuildFailed(ctx)
			}
			return map[string]string{"status": "failed"}, nil
		}
		return map[string]string{"status": "done"}, nil
	case kind.Archive != nil && string(kind.Archive) != "null" && f.Archive != nil:
		// A failed run is an invocation error (the Errors alarm); the next
		// scheduled run retries what it left.
		if err := f.Archive.Run(ctx); err != nil {
			return nil, fmt.Errorf("pack: monthly archive: %w", err)
		}
		return map[string]string{"status": "done"}, nil
	case kind.Expire != nil && f.Archive != nil:
		// A failed part is an invocation error: Lambda retries the event
		// (twice), then the next daily run starts the part again.
		var ev ExpiryEvent
		if err := json.Unmarshal(kind.Expire, &ev); err != nil {
			return nil, fmt.Errorf("pack: decode the expire event: %w", err)
		}
		t, err := ev.task()
		if err != nil {
			return nil, err
		}
		if err := f.Archive.Expire(ctx, t); err != nil {
			return nil, fmt.Errorf("pack: expire part %s of %s %s: %w", t.Part.Name(), t.TenantID, t.PackID, err)
		}
		return map[string]string{"status": "done"}, nil
	case kind.Method != "" && kind.Path != "":
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("pack: decode the API Gateway proxy event: %w", err)
		}
		return f.API(ctx, ev)
	}
	return nil, errors.New("pack: the event is neither an API Gateway proxy event (httpMethod, path), a build event (monsys_pack_build) an archive event (monsys_pack_archive) nor an expire event (monsys_pack_expire)")
}

// packParts are what the pack function builds from the hub's stored state.
type packParts struct {
	api     *api.Handler
	packs   *hub.Packs
	archive *hub.Archive
}

// lazyPacks is a PackBuilder over parts that may not be built yet.
type lazyPacks struct {
	r   *retrying[packParts]
	log *slog.Logger
}

func (l lazyPacks) BuildPack(ctx context.Context, tenantID, packID string) error {
	p, err := l.r.get(ctx)
	if err != nil {
		return err
	}
	return p.packs.BuildPack(ctx, tenantID, packID)
}

// Run implements Archiver over parts that may not be built yet. Before the
// bootstrap there is nothing to archive: the run is logged, not an error.
func (l lazyPacks) Run(ctx context.Context) error {
	p, err := l.r.get(ctx)
	if errors.Is(err, ErrNotBootstrapped) {
		logNotBootstrapped(ctx, l.log, "pack")
		return nil
	}
	if err != nil {
		return err
	}
	return p.archive.Run(ctx)
}

// Expire implements Archiver. Before the bootstrap there is no pack, so no
// expire event: an error.
func (l lazyPacks) Expire(ctx context.Context, t hub.ExpiryTask) error {
	p, err := l.r.get(ctx)
	if err != nil {
		return err
	}
	return p.archive.Expire(ctx, t)
}

// PackFunctionFromEnv is the whole wiring of functions/pack. Before the
// bootstrap its API answers 503 unavailable ("not bootstrapped yet").
func PackFunctionFromEnv(ctx context.Context, getenv func(string) string) (*PackFunction, error) {
	log := Logger(output)
	s, err := FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	ps, err := PacksFromEnv(getenv, &s)
	if err != nil {
		return nil, err
	}
	if ps.BuildFunction == "" {
		return nil, fmt.Errorf("settings: %s (set by Lambda) or %s is required", EnvLambdaFunction, EnvBuildFunction)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	c, err := clientsOf(cfg)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = ps.PathStyle })
	withLog, err := packsLog(getenv, c, s3c, log)
	if err != nil {
		return nil, err
	}
	metrics := NewEMFMetrics(output)
	r, err := startRetrying(ctx, log, "pack", func(ctx context.Context) (packParts, error) {
		sub, pub, err := withLog(ctx)
		if err != nil {
			return packParts{}, err
		}
		core, err := NewCoreWithLog(ctx, s, c, hub.Env{Log: log, Metrics: metrics}, sub, pub)
		if err != nil {
			return packParts{}, err
		}
		parts := PackParts{KMS: c.KMS, S3: s3c, Starter: &LambdaStarter{API: lambda.NewFromConfig(cfg), Function: ps.BuildFunction}}
		if ps.LinkRole != "" {
			parts.LinkCredentials = LinkRoleCredentials(cfg, ps.LinkRole)
		}
		if err := AddPacks(core, ps, parts); err != nil {
			return packParts{}, err
		}
		h, err := api.New(core.Services(), log, api.Packs)
		if err != nil {
			return packParts{}, err
		}
		return packParts{api: h, packs: core.Packs, archive: core.Archive}, nil
	})
	if err != nil {
		return nil, err
	}
	serve := func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		p, err := r.get(ctx)
		if err != nil {
			return notReady(ctx, log, "pack", ev, err), nil
		}
		return p.api.Handle(ctx, ev)
	}
	return &PackFunction{API: serve, Packs: lazyPacks{r, log}, Archive: lazyPacks{r, log}, Metrics: metrics, Log: log}, nil
}

// packsLog is the log the pack function's core is built with. With
// witnesses set (MONSYS_WITNESSES) it is the whole log: every pack is
// logged, cosigned and carries its proofs before it is ready. Without, its
// entries are only pooled (the integrity function's mode, said at start),
// and packs are ready without transparency/ (docs/transparency-log.md).
func packsLog(getenv func(string) string, c Clients, s3c s3store.TilesAPI, log *slog.Logger) (func(context.Context) (hub.LogSubmitter, hub.LogPublisher, error), error) {
	if getenv(EnvWitnesses) == "" {
		sub, err := LogSubmitterFromEnv(getenv, c.DynamoDB)
		if err != nil {
			return nil, err
		}
		log.Warn("transparency log: no witnesses set (MONSYS_WITNESSES): packs are pooled in the log, ready without transparency/ proofs")
		return func(context.Context) (hub.LogSubmitter, hub.LogPublisher, error) { return sub, nil, nil }, nil
	}
	ls, err := LogFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (hub.LogSubmitter, hub.LogPublisher, error) {
		tl, _, err := NewLog(ctx, ls, LogParts{DynamoDB: c.DynamoDB, S3: s3c, KMS: c.KMS})
		if err != nil {
			return nil, nil, err
		}
		return tl, tl, nil
	}, nil
}
