package dynamo

// Permission is one DynamoDB action that a function's code path calls on one of
// the hub's tables. Table is the table's short name (as in TablesWithPrefix:
// "agents", "batch-index", ...); Index, when set, names the secondary index the
// action runs on. template.yaml must allow each of them to that function; a
// test in internal/samtemplate checks it.
type Permission struct {
	Action string
	Table  string
	Index  string
}

// Short table names, as TablesWithPrefix builds them.
const (
	TableCredentials = "credentials"
	TableTenants     = "tenants"
	TableAgents      = "agents"
	TableBatches     = "batches"
	TableBatchIndex  = "batch-index"
	TableAnomalies   = "anomalies"
	TableAudit       = "audit"
	TablePacks       = "packs"
	TableSigningKeys = "signing-keys"
)

// IAM action names of the operations the stores call.
const (
	ActGetItem    = "dynamodb:GetItem"
	ActPutItem    = "dynamodb:PutItem"
	ActUpdateItem = "dynamodb:UpdateItem"
	ActDeleteItem = "dynamodb:DeleteItem"
	ActQuery      = "dynamodb:Query"
	ActScan       = "dynamodb:Scan" // the tenants table only: the operator's tool, the monthly archive
)

// handlerBase is what every API function does before its route runs: read the
// CA certificate (app.NewCore) and resolve a credential to its agent.
var handlerBase = []Permission{
	{ActGetItem, TableTenants, ""},
	{ActGetItem, TableCredentials, ""},
	{ActGetItem, TableAgents, ""},
}

// raising is what hub.Alarms writes: the anomaly item, and the agent's
// generation when the open anomaly turned out closed.
var raising = []Permission{
	{ActUpdateItem, TableAnomalies, ""},
	{ActUpdateItem, TableAgents, ""},
}

func join(lists ...[]Permission) []Permission {
	var out []Permission
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// FunctionPermissions lists, per function (functions/<name>), the DynamoDB
// actions its code path calls: read from internal/hub (which store ports each
// route and the integrity cycle reach) and this package (which operation each
// method sends). Functions not listed here call DynamoDB through code that
// declares its own list.
var FunctionPermissions = map[string][]Permission{
	"register": join(handlerBase, raising, []Permission{
		{ActUpdateItem, TableAgents, ""}, // pins, registration record
		{ActPutItem, TableAudit, ""},
		{ActPutItem, TableLog, ""}, // the pin's log entry (LogStore.Submit)
	}),
	"ingest": join(handlerBase, raising, []Permission{
		{ActUpdateItem, TableAgents, ""}, // seq commit, pending marker, last_unsigned_at
		{ActGetItem, TableBatches, ""},
		{ActPutItem, TableBatches, ""},
		{ActDeleteItem, TableBatches, ""}, // undo of a half-stored batch
		{ActPutItem, TableBatchIndex, ""},
		{ActDeleteItem, TableBatchIndex, ""},
	}),
	"rotate": join(handlerBase, []Permission{
		{ActUpdateItem, TableAgents, ""}, // unpin, token switch
		{ActPutItem, TableCredentials, ""},
		{ActDeleteItem, TableCredentials, ""},
		{ActPutItem, TableAudit, ""},
		{ActPutItem, TableLog, ""}, // the unpin's log entry (LogStore.Submit)
	}),
	"logview": handlerBase, // the admin key only: GET /log/... reads S3
	"admin": join(handlerBase, []Permission{
		{ActPutItem, TableCredentials, ""}, // new agent token
		{ActPutItem, TableAgents, ""},
		{ActQuery, TableAnomalies, ""},          // GET /anomalies; GET /agents?status=attention
		{ActQuery, TableAgents, AgentsByTenant}, // GET /agents
		{ActPutItem, TableAudit, ""},
	}),
	"integrity": join(raising, []Permission{
		{ActGetItem, TableTenants, ""}, // CA certificate, read at start
		{ActGetItem, TableAgents, ""},
		{ActQuery, TableAgents, AgentsAttention},
		{ActQuery, TableAgents, AgentsLive},
		{ActQuery, TableAgents, AgentsLogPending}, // pins and unpins cut from the log
		{ActUpdateItem, TableAgents, ""},          // stale mark, leaving the attention and log-pending indexes
		{ActUpdateItem, TableAnomalies, ""},
	}, LogPermissions), // publishes the transparency log
	// pack serves the evidence-pack routes (admin key) and builds packs:
	// pack items and the build lease, the signing-key lineage, and the
	// period's batches, anomalies and audit events.
	"pack": join(handlerBase, []Permission{
		{ActGetItem, TablePacks, ""},
		{ActPutItem, TablePacks, ""},
		{ActUpdateItem, TablePacks, ""},
		{ActQuery, TablePacks, PacksListed}, // GET /evidence-packs
		{ActGetItem, TableSigningKeys, ""},
		{ActPutItem, TableSigningKeys, ""},
		{ActQuery, TableBatchIndex, ""},
		{ActGetItem, TableBatches, ""},
		{ActQuery, TableAnomalies, ""},
		{ActQuery, TableAudit, AuditByTime},
		{ActPutItem, TableAudit, ""},
		// the monthly archive (hub.Archive, the archive schedule's event):
		// the tenants, and the expiry of the batches a ready pack holds
		{ActScan, TableTenants, ""},
		{ActUpdateItem, TableBatches, ""},
		{ActUpdateItem, TableBatchIndex, ""},
	}, LogPermissions), // logs, integrates and proves each pack (SPEC 10)
}

// BootstrapPermissions are the DynamoDB actions of the operator's tool
// (cmd/monsys-admin): the CA certificate item, tenants and their admin keys
// (bootstrap, tenant create, tenant list, admin-key rotate).
var BootstrapPermissions = []Permission{
	{ActGetItem, TableTenants, ""},
	{ActPutItem, TableTenants, ""},
	{ActScan, TableTenants, ""}, // tenant list: one item per tenant
	{ActGetItem, TableCredentials, ""},
	{ActPutItem, TableCredentials, ""},
	{ActDeleteItem, TableCredentials, ""}, // admin-key rotate retires the old key
	{ActPutItem, TableAudit, ""},
}
