package samtemplate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/monsys/hub/internal/anomaly"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
	"github.com/monsys/hub/internal/samtemplate"
)

// tableEnv names, for each table, the variable that carries its name.
var tableEnv = map[string]string{
	dynamo.TableCredentials: app.EnvTableCredentials, dynamo.TableTenants: app.EnvTableTenants,
	dynamo.TableAgents: app.EnvTableAgents, dynamo.TableBatches: app.EnvTableBatches,
	dynamo.TableBatchIndex: app.EnvTableBatchIndex, dynamo.TableAnomalies: app.EnvTableAnomalies,
	dynamo.TableAudit: app.EnvTableAudit, dynamo.TablePacks: app.EnvTablePacks,
	dynamo.TableSigningKeys: app.EnvTableSigningKeys, dynamo.TableLog: app.EnvTableLog,
}

// keyEnv names, for each KMS key role, the variable that carries its id.
// Pack-signing keys (kmssign.KeyPack) are created by the code, one per
// tenant key, so no variable names them.
var keyEnv = map[string]string{
	kmssign.KeyCA:       app.EnvCAKeyID,
	kmssign.KeyEnvelope: app.EnvWrapKeyID,
	kmssign.KeyLog:      app.EnvLogKeyID,
}

// envResource resolves a variable to the logical id of the resource it names
// (!Ref X or !GetAtt X.Arn), looking at every function's environment.
func envResource(t *testing.T, tpl *samtemplate.Template, env string) string {
	t.Helper()
	for _, f := range tpl.Functions() {
		if v, ok := f.Env[env]; ok {
			if fn, ok := v.(samtemplate.Fn); ok && fn.Name == "Fn::If" && len(samtemplate.List(fn.Arg)) == 3 {
				v = samtemplate.List(fn.Arg)[1] // the value when the condition holds
			}
			id, _, _ := strings.Cut(samtemplate.Token(v), ".")
			if _, ok := tpl.Resources[id]; ok {
				return id
			}
		}
	}
	t.Fatalf("no function sets %s to a resource of the template", env)
	return ""
}

func tableResources(t *testing.T, tpl *samtemplate.Template) (byShort, byLogical map[string]string) {
	byShort, byLogical = map[string]string{}, map[string]string{}
	for short, env := range tableEnv {
		id := envResource(t, tpl, env)
		if tpl.Resources[id].Type != "AWS::DynamoDB::Table" {
			t.Fatalf("%s names %s, not a table", env, id)
		}
		byShort[short], byLogical[id] = id, short
	}
	return byShort, byLogical
}

func TestTablesMatchSchema(t *testing.T) {
	tpl := load(t)
	byShort, _ := tableResources(t, tpl)
	names := dynamo.TablesWithPrefix("")
	short := map[string]string{
		names.Credentials: dynamo.TableCredentials, names.Tenants: dynamo.TableTenants, names.Agents: dynamo.TableAgents,
		names.Batches: dynamo.TableBatches, names.BatchIndex: dynamo.TableBatchIndex, names.Anomalies: dynamo.TableAnomalies,
		names.Audit: dynamo.TableAudit, names.Packs: dynamo.TablePacks, names.SigningKeys: dynamo.TableSigningKeys,
		names.Log: dynamo.TableLog,
	}
	schema := dynamo.Schema(names)
	if got := len(tpl.ResourcesOfType("AWS::DynamoDB::Table")); got != len(schema) {
		t.Errorf("template has %d tables, dynamo.Schema %d", got, len(schema))
	}
	for _, in := range schema {
		name := aws.ToString(in.TableName)
		t.Run("ok/"+name, func(t *testing.T) {
			id := byShort[short[name]]
			p := tpl.Resources[id].Properties
			if p["BillingMode"] != string(in.BillingMode) {
				t.Errorf("BillingMode %v, want %s", p["BillingMode"], in.BillingMode)
			}
			var want, got []string
			for _, a := range in.AttributeDefinitions {
				want = append(want, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
			}
			for _, a := range samtemplate.List(p["AttributeDefinitions"]) {
				got = append(got, fmt.Sprint(samtemplate.Path(a, "AttributeName"), ":", samtemplate.Path(a, "AttributeType")))
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("AttributeDefinitions %v, want %v", got, want)
			}
			wantKey := keyString(in.KeySchema)
			if got := tplKey(p["KeySchema"]); got != wantKey {
				t.Errorf("KeySchema %s, want %s", got, wantKey)
			}
			wantIdx := map[string]string{}
			for _, g := range in.GlobalSecondaryIndexes {
				wantIdx["gsi:"+aws.ToString(g.IndexName)] = keyString(g.KeySchema) + " " + string(g.Projection.ProjectionType) +
					fmt.Sprint(g.Projection.NonKeyAttributes)
			}
			for _, l := range in.LocalSecondaryIndexes {
				wantIdx["lsi:"+aws.ToString(l.IndexName)] = keyString(l.KeySchema) + " " + string(l.Projection.ProjectionType) +
					fmt.Sprint(l.Projection.NonKeyAttributes)
			}
			gotIdx := map[string]string{}
			for kind, prop := range map[string]string{"gsi": "GlobalSecondaryIndexes", "lsi": "LocalSecondaryIndexes"} {
				for _, ix := range samtemplate.List(p[prop]) {
					var nonKey []string
					for _, a := range samtemplate.List(samtemplate.Path(ix, "Projection", "NonKeyAttributes")) {
						nonKey = append(nonKey, fmt.Sprint(a))
					}
					gotIdx[fmt.Sprint(kind, ":", samtemplate.Path(ix, "IndexName"))] = tplKey(samtemplate.Path(ix, "KeySchema")) + " " +
						fmt.Sprint(samtemplate.Path(ix, "Projection", "ProjectionType")) + fmt.Sprint(nonKey)
				}
			}
			if fmt.Sprint(gotIdx) != fmt.Sprint(wantIdx) {
				t.Errorf("indexes %v, want %v", gotIdx, wantIdx)
			}
			wantTTL := ""
			if slices.Contains(dynamo.TTLTables(names), name) {
				wantTTL = dynamo.TTLAttribute + " true"
			}
			gotTTL := ""
			if spec := p["TimeToLiveSpecification"]; spec != nil {
				gotTTL = fmt.Sprint(samtemplate.Path(spec, "AttributeName"), " ", samtemplate.Path(spec, "Enabled"))
			}
			if gotTTL != wantTTL {
				t.Errorf("TimeToLiveSpecification %q, want %q (dynamo.TTLTables)", gotTTL, wantTTL)
			}
		})
	}
}

func keyString(ks []types.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return strings.Join(parts, ",")
}

func tplKey(v any) string {
	var parts []string
	for _, k := range samtemplate.List(v) {
		parts = append(parts, fmt.Sprint(samtemplate.Path(k, "AttributeName"), ":", samtemplate.Path(k, "KeyType")))
	}
	return strings.Join(parts, ",")
}

// roleOf returns the logical id of a function's role.
func roleOf(f samtemplate.Function) string {
	id, _, _ := strings.Cut(samtemplate.Token(f.Properties["Role"]), ".")
	return id
}

func allows(sts []samtemplate.Statement, action string, resources ...string) bool {
	for _, st := range sts {
		if st.Effect != "Allow" || !slices.Contains(st.Actions, action) {
			continue
		}
		for _, r := range resources {
			if slices.Contains(st.Resources, r) {
				return true
			}
		}
	}
	return false
}

// Every DynamoDB action the adapter declares for a function is allowed by its
// role, on that table (or index); and the role allows nothing else on tables.
func TestDynamoPermissions(t *testing.T) {
	tpl := load(t)
	fns := byName(t, tpl)
	byShort, byLogical := tableResources(t, tpl)
	for name, perms := range dynamo.FunctionPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/aws/dynamo declares permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		sts := tpl.RoleStatements(roleOf(f))
		declared := map[string]bool{}
		for _, p := range perms {
			arn := byShort[p.Table] + ".Arn"
			res := []string{arn}
			if p.Index != "" {
				res = []string{arn + "/index/" + p.Index, arn + "/index/*"}
			}
			declared[p.Action+" "+res[0]] = true
			if !allows(sts, p.Action, res...) {
				t.Errorf("%s: role %s does not allow %s on %s", name, roleOf(f), p.Action, res[0])
			}
		}
		for _, st := range sts {
			for _, a := range st.Actions {
				if !strings.HasPrefix(a, "dynamodb:") {
					continue
				}
				for _, r := range st.Resources {
					id, _, _ := strings.Cut(r, ".")
					if _, ok := byLogical[id]; ok && !declared[a+" "+r] {
						t.Errorf("%s: role %s allows %s on %s, which internal/aws/dynamo does not declare", name, roleOf(f), a, r)
					}
				}
			}
		}
	}
	for name, f := range fns {
		if _, ok := dynamo.FunctionPermissions[name]; !ok {
			for _, st := range tpl.RoleStatements(roleOf(f)) {
				for _, a := range st.Actions {
					if strings.HasPrefix(a, "dynamodb:") {
						t.Errorf("%s: allows %s but internal/aws/dynamo declares nothing for it", name, a)
					}
				}
			}
		}
	}
}

// Every KMS action an adapter declares for a function is allowed on that key,
// by the key's policy naming the function's role (or by the role's policy);
// key policies grant function roles nothing more, and give the account no
// cryptographic use of the keys through IAM.
func TestKMSPermissions(t *testing.T) {
	tpl := load(t)
	fns := byName(t, tpl)
	keyOf := map[string]string{}
	for role, env := range keyEnv {
		keyOf[role] = envResource(t, tpl, env)
	}
	ca := tpl.Resources[keyOf[kmssign.KeyCA]].Properties
	if ca["KeySpec"] != "ECC_NIST_P256" || ca["KeyUsage"] != "SIGN_VERIFY" {
		t.Errorf("hub CA key: %v %v, want ECC_NIST_P256 SIGN_VERIFY", ca["KeySpec"], ca["KeyUsage"])
	}
	declared := map[string]bool{} // role.Arn action key
	for name, perms := range kmssign.FunctionPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/aws/kmssign declares permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		role := roleOf(f) + ".Arn"
		for _, p := range perms {
			if p.Key == kmssign.KeyPack {
				packKeyPermission(t, tpl, f, p.Action)
				continue
			}
			key, ok := keyOf[p.Key]
			if !ok {
				t.Errorf("%s: no variable names the %s key", name, p.Key)
				continue
			}
			declared[role+" "+p.Action+" "+key] = true
			inKey := false
			for _, st := range samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"]) {
				if st.Effect == "Allow" && slices.Contains(st.Principals, role) && slices.Contains(st.Actions, p.Action) {
					inKey = true
				}
			}
			if !inKey && !allows(tpl.RoleStatements(roleOf(f)), p.Action, key+".Arn") {
				t.Errorf("%s: %s on %s is allowed neither by the key policy nor by role %s", name, p.Action, key, roleOf(f))
			}
		}
	}
	roles := map[string]string{}
	for name, f := range fns {
		roles[roleOf(f)+".Arn"] = name
	}
	// S3 uses the packs bucket's SSE-KMS key with the caller's credentials.
	for name, acts := range s3store.FunctionPermissions {
		f, ok := fns[name]
		if !ok || len(acts) == 0 {
			continue
		}
		key := bucketKey(t, tpl, packsBucket(t, tpl))
		for _, a := range s3store.KMSViaS3 {
			declared[roleOf(f)+".Arn "+a+" "+key] = true
			ok := false
			for _, st := range samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"]) {
				ok = ok || st.Effect == "Allow" && slices.Contains(st.Principals, roleOf(f)+".Arn") && slices.Contains(st.Actions, a)
			}
			if !ok {
				t.Errorf("%s: %s's policy does not let role %s %s (S3 needs it for SSE-KMS)", name, key, roleOf(f), a)
			}
		}
	}
	// Roles allow by IAM no KMS action their code does not call.
	for name, f := range fns {
		for _, st := range tpl.RoleStatements(roleOf(f)) {
			for _, a := range st.Actions {
				if strings.HasPrefix(a, "kms:") && !slices.ContainsFunc(kmssign.FunctionPermissions[name], func(p kmssign.Permission) bool { return p.Action == a }) {
					t.Errorf("%s: role %s allows %s, which internal/aws/kmssign does not declare for it", name, roleOf(f), a)
				}
			}
		}
	}
	crypto := []string{"kms:Sign", "kms:Verify", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
	for _, key := range tpl.ResourcesOfType("AWS::KMS::Key") {
		for _, st := range samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"]) {
			for _, pr := range st.Principals {
				if strings.HasSuffix(pr, ":root") || pr == "*" {
					for _, a := range st.Actions {
						if slices.Contains(crypto, a) || strings.Contains(a, "*") {
							t.Errorf("%s %s: the account (and so any IAM policy) may %s", key, st.Sid, a)
						}
					}
				}
				name, isFn := roles[pr]
				if !isFn {
					continue
				}
				for _, a := range st.Actions {
					if !declared[pr+" "+a+" "+key] {
						t.Errorf("%s %s: grants %s to %s, which no adapter declares for functions/%s", key, st.Sid, a, pr, name)
					}
				}
			}
		}
	}
}

// packKeyPermission checks one action on the tenants' pack-signing keys,
// which the code creates at run time: CreateKey (no resource) is allowed by
// the role on "*"; every other action by the key policy the code sets at
// CreateKey (kmssign.PackKeyPolicy of MONSYS_SIGNING_KEY_USER, which must be
// the function's own role) and by no IAM policy, so the role can use no
// other key of the account.
func packKeyPermission(t *testing.T, tpl *samtemplate.Template, f samtemplate.Function, action string) {
	t.Helper()
	role := roleOf(f)
	sts := tpl.RoleStatements(role)
	if action == kmssign.ActCreateKey {
		if !allows(sts, action, "*") {
			t.Errorf("%s: role %s does not allow %s", f.LogicalID, role, action)
		}
		return
	}
	for _, st := range sts {
		if st.Effect == "Allow" && slices.Contains(st.Actions, action) {
			t.Errorf("%s: role %s allows %s on %v by IAM: any key whose policy leaves use to IAM would do", f.LogicalID, role, action, st.Resources)
		}
	}
	if got := samtemplate.Token(f.Env[app.EnvSigningKeyUser]); got != role+".Arn" {
		t.Errorf("%s: %s is %q, want its own role (%s.Arn)", f.LogicalID, app.EnvSigningKeyUser, got, role)
		return
	}
	policy, err := kmssign.PackKeyPolicy("arn:aws:iam::123456789012:role/" + role)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatal(err)
	}
	granted := false
	for _, st := range samtemplate.Statements(doc) {
		granted = granted || st.Effect == "Allow" && slices.Contains(st.Principals, "arn:aws:iam::123456789012:role/"+role) &&
			slices.Contains(st.Actions, action)
	}
	if !granted {
		t.Errorf("%s: the pack-signing key policy does not let role %s %s", f.LogicalID, role, action)
	}
}

// Every key of the template and every key the code creates gives the
// account the same administration, kmssign.KeyAdminActions, and only that.
func TestKeyAdministrationIsOneList(t *testing.T) {
	tpl := load(t)
	want := slices.Sorted(slices.Values(kmssign.KeyAdminActions))
	for _, key := range tpl.ResourcesOfType("AWS::KMS::Key") {
		for _, st := range samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"]) {
			if slices.ContainsFunc(st.Principals, func(p string) bool { return strings.HasSuffix(p, ":root") }) {
				if got := slices.Sorted(slices.Values(st.Actions)); !slices.Equal(got, want) {
					t.Errorf("%s %s: the account may %v, want kmssign.KeyAdminActions %v", key, st.Sid, got, want)
				}
			}
		}
	}
}

func packsBucket(t *testing.T, tpl *samtemplate.Template) string {
	t.Helper()
	return envResource(t, tpl, app.EnvPackBucket)
}

// bucketKey is the logical id of the KMS key a bucket encrypts with by default.
func bucketKey(t *testing.T, tpl *samtemplate.Template, bucket string) string {
	t.Helper()
	enc := samtemplate.List(samtemplate.Path(tpl.Resources[bucket].Properties, "BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(enc) == 0 {
		t.Fatalf("%s has no default encryption", bucket)
	}
	id, _, _ := strings.Cut(samtemplate.Token(samtemplate.Path(enc[0], "ServerSideEncryptionByDefault", "KMSMasterKeyID")), ".")
	if tpl.Resources[id].Type != "AWS::KMS::Key" {
		t.Fatalf("%s is not encrypted with a KMS key of the template", bucket)
	}
	return id
}

// S3 and Lambda actions the adapters declare are allowed on the packs
// bucket's objects and on the function itself; the role allows nothing else there.
func TestS3AndLambdaPermissions(t *testing.T) {
	tpl := load(t)
	fns := byName(t, tpl)
	objects := packsBucket(t, tpl) + ".Arn/*"
	for name, acts := range s3store.FunctionPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/aws/s3store declares permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		sts := tpl.RoleStatements(roleOf(f))
		for _, a := range acts {
			if !allows(sts, a, objects) {
				t.Errorf("%s: role %s does not allow %s on %s", name, roleOf(f), a, objects)
			}
		}
	}
	logBucket := envResource(t, tpl, app.EnvLogBucket) + ".Arn"
	logObjects := logBucket + "/*"
	for name, acts := range s3store.LogBucketPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/aws/s3store declares log bucket permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		for _, a := range acts {
			if !allows(tpl.RoleStatements(roleOf(f)), a, logBucket) {
				t.Errorf("%s: role %s does not allow %s on %s", name, roleOf(f), a, logBucket)
			}
		}
	}
	for name, acts := range s3store.LogFunctionPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/aws/s3store declares log permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		for _, a := range acts {
			if !allows(tpl.RoleStatements(roleOf(f)), a, logObjects) {
				t.Errorf("%s: role %s does not allow %s on %s", name, roleOf(f), a, logObjects)
			}
		}
	}
	for name, f := range fns {
		for _, st := range tpl.RoleStatements(roleOf(f)) {
			for _, a := range st.Actions {
				if !strings.HasPrefix(a, "s3:") {
					continue
				}
				for _, r := range st.Resources {
					declared := s3store.FunctionPermissions[name]
					switch r {
					case logObjects:
						declared = s3store.LogFunctionPermissions[name]
					case logBucket:
						declared = s3store.LogBucketPermissions[name]
					}
					if !slices.Contains(declared, a) {
						t.Errorf("%s: role allows %s on %s, which internal/aws/s3store does not declare for it", name, a, r)
					}
				}
				if (strings.HasPrefix(a, "lambda:") || strings.HasPrefix(a, "sts:")) && !slices.Contains(app.FunctionPermissions[name], a) {
					t.Errorf("%s: role allows %s, which internal/app does not declare for it", name, a)
				}
			}
		}
	}
	for name, acts := range app.FunctionPermissions {
		f, ok := fns[name]
		if !ok {
			t.Errorf("internal/app declares permissions for functions/%s, which the template does not deploy", name)
			continue
		}
		self := samtemplate.Token(f.Properties["FunctionName"])
		for _, a := range acts {
			if a == "sts:AssumeRole" {
				// On the link role only (TestLinkRole checks that role).
				if link := samtemplate.Token(f.Env[app.EnvLinkRole]); link == "" || !allows(tpl.RoleStatements(roleOf(f)), a, link) {
					t.Errorf("%s: role %s does not allow %s on the role %s names (%q)", name, roleOf(f), a, app.EnvLinkRole, link)
				}
				continue
			}
			want := "arn:AWS::Partition:lambda:AWS::Region:AWS::AccountId:function:" + self
			if self == "" || !allows(tpl.RoleStatements(roleOf(f)), a, want) {
				t.Errorf("%s: role %s does not allow %s on the function itself (%s)", name, roleOf(f), a, want)
			}
		}
	}
}

// Presigned links are signed as the link role (app.LinkRoleCredentials):
// only the pack function's role may assume it, and it may only read the
// packs bucket's objects (s3store.LinkPermissions) and have S3 decrypt them
// with the bucket's key (s3store.LinkKMSViaS3, through S3 only).
func TestLinkRole(t *testing.T) {
	tpl := load(t)
	pack, ok := byName(t, tpl)["pack"]
	if !ok {
		t.Fatal("no pack function")
	}
	link, attr, _ := strings.Cut(samtemplate.Token(pack.Env[app.EnvLinkRole]), ".")
	if attr != "Arn" || tpl.Resources[link].Type != "AWS::IAM::Role" {
		t.Fatalf("%s is %v, want !GetAtt <a role of the template>.Arn", app.EnvLinkRole, pack.Env[app.EnvLinkRole])
	}
	trust := samtemplate.Statements(tpl.Resources[link].Properties["AssumeRolePolicyDocument"])
	if len(trust) != 1 || trust[0].Effect != "Allow" || !slices.Equal(trust[0].Principals, []string{roleOf(pack) + ".Arn"}) ||
		!slices.Equal(trust[0].Actions, []string{"sts:AssumeRole"}) {
		t.Errorf("%s trusts %+v, want only %s to assume it", link, trust, roleOf(pack))
	}
	objects := packsBucket(t, tpl) + ".Arn/*"
	var granted []string
	for _, st := range tpl.RoleStatements(link) {
		for _, a := range st.Actions {
			granted = append(granted, a)
			if !slices.Contains(s3store.LinkPermissions, a) || !slices.Equal(st.Resources, []string{objects}) || st.Effect != "Allow" {
				t.Errorf("%s %s: %s %s on %v; want only %v on %s", link, st.Sid, st.Effect, a, st.Resources, s3store.LinkPermissions, objects)
			}
		}
	}
	for _, a := range s3store.LinkPermissions {
		if !slices.Contains(granted, a) {
			t.Errorf("%s does not allow %s on %s", link, a, objects)
		}
	}
	key := bucketKey(t, tpl, packsBucket(t, tpl))
	var kms []string
	for _, st := range samtemplate.Statements(tpl.Resources[key].Properties["KeyPolicy"]) {
		if !slices.Contains(st.Principals, link+".Arn") {
			continue
		}
		if samtemplate.Path(st.Condition, "StringEquals", "kms:ViaService") == nil {
			t.Errorf("%s %s: %s may use the key outside S3", key, st.Sid, link)
		}
		kms = append(kms, st.Actions...)
	}
	if !slices.Equal(slices.Sorted(slices.Values(kms)), slices.Sorted(slices.Values(s3store.LinkKMSViaS3))) {
		t.Errorf("%s lets %s %v, want %v via S3", key, link, kms, s3store.LinkKMSViaS3)
	}
}

// The critical-anomaly alarm reads the metric the functions really emit:
// the EMF line of one critical anomaly names the namespace, metric and
// dimension set the alarm uses.
func TestAlarmMatchesEMF(t *testing.T) {
	var buf bytes.Buffer
	app.NewEMFMetrics(&buf).Anomaly(t.Context(), anomaly.SignatureInvalid, anomaly.Critical)
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
		Kind, Severity string
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || len(line.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("EMF line %q: %v", buf.String(), err)
	}
	emitted := line.AWS.CloudWatchMetrics[0]
	tpl := load(t)
	found := false
	for _, id := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		for _, m := range samtemplate.List(tpl.Resources[id].Properties["Metrics"]) {
			metric := samtemplate.Path(m, "MetricStat", "Metric")
			var dims []string
			vals := map[string]any{}
			for _, d := range samtemplate.List(samtemplate.Path(metric, "Dimensions")) {
				n := fmt.Sprint(samtemplate.Path(d, "Name"))
				dims, vals[n] = append(dims, n), samtemplate.Path(d, "Value")
			}
			sort.Strings(dims)
			want := slices.Clone(emitted.Dimensions[0])
			sort.Strings(want)
			if samtemplate.Path(metric, "Namespace") == emitted.Namespace && samtemplate.Path(metric, "MetricName") == emitted.Metrics[0].Name &&
				slices.Equal(dims, want) && vals["Kind"] == line.Kind && vals["Severity"] == line.Severity {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no alarm reads %s/%s with dimensions %v = (%s, %s), as the functions emit it",
			emitted.Namespace, emitted.Metrics[0].Name, emitted.Dimensions[0], line.Kind, line.Severity)
	}
}

// A failed pack build (the function logs it and answers Lambda without an
// error, so the Errors alarm never sees it) is counted as an EMF metric that
// an alarm reads with exactly the emitted namespace, name and dimensions.
func TestPackBuildFailureAlarm(t *testing.T) {
	var buf bytes.Buffer
	app.NewEMFMetrics(&buf).PackBuildFailed(t.Context())
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("EMF line %q: %v", buf.String(), err)
	}
	cw := samtemplate.List(samtemplate.Path(line, "_aws", "CloudWatchMetrics"))
	if len(cw) != 1 {
		t.Fatalf("EMF line %q", buf.String())
	}
	ns := samtemplate.Path(cw[0], "Namespace")
	name := samtemplate.Path(samtemplate.List(samtemplate.Path(cw[0], "Metrics"))[0], "Name")
	dims := map[string]any{}
	for _, d := range samtemplate.List(samtemplate.List(samtemplate.Path(cw[0], "Dimensions"))[0]) {
		dims[d.(string)] = line[d.(string)]
	}
	tpl := load(t)
	for _, id := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		got := map[string]any{}
		for _, d := range samtemplate.List(p["Dimensions"]) {
			got[fmt.Sprint(samtemplate.Path(d, "Name"))] = samtemplate.Path(d, "Value")
		}
		if p["Namespace"] == ns && p["MetricName"] == name && fmt.Sprint(got) == fmt.Sprint(dims) {
			if len(samtemplate.List(p["AlarmActions"])) == 0 || p["Threshold"] != "1" {
				t.Errorf("%s reads %s/%s but does not alarm on the first failure", id, ns, name)
			}
			return
		}
	}
	t.Fatalf("no alarm reads %s/%s with dimensions %v, as the pack function emits it", ns, name, dims)
}

// TestArchiveSchedule: the pack function gets the archive event every day,
// with the input its handler takes for one (app.ArchiveEvent), and no retry
// (the next day's run is the retry).
func TestArchiveSchedule(t *testing.T) {
	tpl := load(t)
	p := samtemplate.Path(tpl.Resources["PackFunction"].Properties, "Events", "Archive")
	if fmt.Sprint(samtemplate.Path(p, "Type")) != "Schedule" {
		t.Fatalf("PackFunction's Archive event is %v, want a Schedule", samtemplate.Path(p, "Type"))
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fmt.Sprint(samtemplate.Path(p, "Properties", "Input"))), &in); err != nil || len(in) != 1 || in[app.ArchiveEvent] == nil {
		t.Fatalf("archive schedule input %v (%v), want {%q:{}}", samtemplate.Path(p, "Properties", "Input"), err, app.ArchiveEvent)
	}
	if sch := fmt.Sprint(samtemplate.Path(p, "Properties", "Schedule")); !strings.HasPrefix(sch, "cron(") || !strings.HasSuffix(sch, " * * ? *)") {
		t.Fatalf("archive schedule %q, want a daily cron", sch)
	}
	if r := fmt.Sprint(samtemplate.Path(p, "Properties", "RetryPolicy", "MaximumRetryAttempts")); r != "0" {
		t.Fatalf("archive schedule retries %s times, want 0", r)
	}
}
