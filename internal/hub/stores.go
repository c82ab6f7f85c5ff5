package hub

// Stores are one implementation of each family of store ports (store.go),
// for the assembly (internal/app), which hands each use case the ports it
// calls: the DynamoDB adapter (dynamo.New), or the test kit's in-memory
// store (storetest.Memory.Stores).
type Stores struct {
	Credentials CredentialStore
	Tenants     TenantStore
	Agents      AgentStore
	Commits     CommitStore
	Attention   AttentionStore
	Batches     BatchStore
	Anomalies   AnomalyStore
	Audit       AuditStore
	Packs       PackStore
	Keys        KeyStore
}
