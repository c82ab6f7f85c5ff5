package app

import (
	"errors"
	"time"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/hub"
)

// CA is the hub CA as the core uses it: it identifies presented client
// certificates and issues the agents' own (ca.Authority).
type CA interface {
	hub.Identifier
	hub.Issuer
}

// CoreConfig tunes the use cases. Zero values take the core's defaults.
type CoreConfig struct {
	AgentCertValidity time.Duration
	PendingLease      time.Duration
	StaleAfter        time.Duration
	// InsecureNoClientCert accepts requests without a client certificate
	// (LocalStack only; hub.CertConfig).
	InsecureNoClientCert bool
	// Log, when set, is the witnessed transparency log (SPEC 10) the pins
	// and unpins are submitted to: a *tlog.Log, or a tlog.Submitter where
	// the function only submits. Nil: no log (hubs and tests without one).
	Log hub.LogSubmitter
	// Publish, when set, publishes the log at the end of each integrity cycle.
	Publish hub.LogPublisher
	// Prove, when set, logs every pack, gets it cosigned and puts its
	// proofs into it before it is ready (SPEC 10). Nil: packs are only
	// submitted to Log (a deployment without witnesses).
	Prove hub.LogProver
}

// Core is the hub's use cases, each over the ports it calls from st: what
// every function, the local hub and monsys-admin run. Packs, Keys and
// Archive are nil until AddPacks.
type Core struct {
	AdminAuth *hub.AdminAuth
	Register  *hub.Registrar
	Ingest    *hub.Ingester
	Agents    *hub.Agents
	Anomalies *hub.Anomalies
	Tenants   *hub.Tenants
	Integrity *hub.Integrity
	Packs     *hub.Packs
	Keys      *hub.Keys
	Archive   *hub.Archive // the monthly packs and the hot window
	LogView   *hub.LogView

	stores hub.Stores
	env    hub.Env
	log    hub.LogSubmitter
	prove  hub.LogProver
}

// Assemble builds the use cases over the stores (dynamo.New in AWS and the
// local hub, storetest.Memory in tests) and the hub CA.
func Assemble(st hub.Stores, ca CA, cfg CoreConfig, env hub.Env) (*Core, error) {
	if ca == nil {
		return nil, errors.New("app: the core needs the hub CA")
	}
	c := &Core{stores: st, env: env, log: cfg.Log, prove: cfg.Prove}
	certs, err := hub.NewCerts(ca, hub.CertConfig{InsecureNoClientCert: cfg.InsecureNoClientCert}, env)
	if err != nil {
		return nil, err
	}
	alarms, err := hub.NewAlarms(st.Anomalies, st.Agents, st.Agents, env)
	if err != nil {
		return nil, err
	}
	agentAuth, err := hub.NewAgentAuth(st.Credentials, st.Agents)
	if err != nil {
		return nil, err
	}
	if c.AdminAuth, err = hub.NewAdminAuth(st.Credentials, certs); err != nil {
		return nil, err
	}
	c.Register, err = hub.NewRegistrar(hub.RegisterDeps{Auth: agentAuth, Certs: certs, Alarms: alarms, Agents: st.Agents,
		Pins: st.Agents, Issuer: ca, Audit: st.Audit, Log: cfg.Log}, hub.RegisterConfig{AgentCertValidity: cfg.AgentCertValidity}, env)
	if err != nil {
		return nil, err
	}
	c.Ingest, err = hub.NewIngester(hub.IngestDeps{Auth: agentAuth, Certs: certs, Alarms: alarms, Agents: st.Agents,
		Seq: st.Commits, Claims: st.Commits, Unsigned: st.Commits, Batches: st.Batches, Stored: st.Batches},
		hub.IngestConfig{PendingLease: cfg.PendingLease}, env)
	if err != nil {
		return nil, err
	}
	c.Agents, err = hub.NewAgents(hub.AgentsDeps{Agents: st.Agents, List: st.Agents, Make: st.Agents, Unpin: st.Agents, Creds: st.Credentials,
		Audit: st.Audit, Log: cfg.Log}, env)
	if err != nil {
		return nil, err
	}
	if c.Anomalies, err = hub.NewAnomalies(st.Anomalies); err != nil {
		return nil, err
	}
	if c.Tenants, err = hub.NewTenants(st.Tenants, st.Credentials, st.Audit, env); err != nil {
		return nil, err
	}
	d := hub.IntegrityDeps{Index: st.Attention, Marks: st.Attention, Anomalies: st.Anomalies,
		Gens: st.Agents, Agents: st.Agents, Log: cfg.Publish}
	if cfg.Publish != nil && cfg.Log != nil {
		d.Heads, d.Active = cfg.Log, st.Attention
	}
	if cfg.Log != nil { // pooled even while nothing is published
		d.Pending, d.PendingLog = st.Attention, cfg.Log
	}
	c.Integrity, err = hub.NewIntegrity(d, hub.IntegrityConfig{StaleAfter: cfg.StaleAfter}, env)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// PackPorts are what the evidence packs call besides DynamoDB: the vault of
// the tenants' signing keys (KMS), the archives (S3) and the build starter.
type PackPorts struct {
	Vault   hub.KeyVault
	Objects hub.ObjectStore
	Starter hub.AsyncStarter
}

// AddPacks adds the evidence packs and the pack-signing keys.
func (c *Core) AddPacks(p PackPorts, cfg hub.PackConfig) error {
	st := c.stores
	keys, err := hub.NewKeys(st.Keys, p.Vault, st.Audit, c.env)
	if err != nil {
		return err
	}
	packs, err := hub.NewPacks(hub.PacksDeps{Packs: st.Packs, List: st.Packs, Lease: st.Packs, Batches: st.Batches, Anomalies: st.Anomalies,
		Agents: st.Agents, AuditLog: st.Audit, Audit: st.Audit, Keys: keys, Objects: p.Objects, Starter: p.Starter, Log: c.log, Prover: c.prove}, cfg, c.env)
	if err != nil {
		return err
	}
	archive, err := hub.NewArchive(packs, hub.ArchiveDeps{Tenants: st.Tenants, Expirer: st.Batches, Archiver: st.Packs, Starter: p.Starter}, hub.ArchiveConfig{})
	if err != nil {
		return err
	}
	c.Keys, c.Packs, c.Archive = keys, packs, archive
	return nil
}

// AddLogView adds the transparency log's read routes for monitors (GET
// /log/...), over the log's published objects (tlog.Reader).
func (c *Core) AddLogView(r hub.LogReader) error {
	v, err := hub.NewLogView(r)
	if err != nil {
		return err
	}
	c.LogView = v
	return nil
}

// Services are the use cases the HTTP edge routes to.
func (c *Core) Services() api.Services {
	return api.Services{AdminAuth: c.AdminAuth, Register: c.Register, Ingest: c.Ingest, Agents: c.Agents,
		Anomalies: c.Anomalies, Packs: c.Packs, Keys: c.Keys, Log: c.LogView}
}
