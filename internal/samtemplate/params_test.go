package samtemplate_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/samtemplate"
)

// pseudo are the pseudo parameters of one stack creation.
func pseudo(stackName, stackUUID string) map[string]string {
	return map[string]string{"AWS::StackName": stackName, "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
		"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
		"AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + stackName + "/" + stackUUID}
}

func TestEval(t *testing.T) {
	src := `Parameters:
  P: {Type: String, Default: ""}
Conditions:
  HasP: !Not [!Equals [!Ref P, ""]]
Resources:
  R:
    Type: X
    Properties:
      Name: !If [HasP, !Sub "${P}x", !Sub ["${S}-x", {S: !Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]}]]
      Opt: !If [HasP, !Ref P, !Ref AWS::NoValue]
      Arn: !GetAtt R.Arn
      Bad: !Ref Nope
`
	tpl, err := samtemplate.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.Resources["R"].Properties
	tests := []struct {
		name, prop string
		params     map[string]string
		want       any
		fail       bool
	}{
		{name: "ok/sub-select-split", prop: "Name", want: "abcd1234-x"},
		{name: "ok/sub-param", prop: "Name", params: map[string]string{"P": "acme-"}, want: "acme-x"},
		{name: "ok/no-value-dropped", prop: "Opt", want: nil},
		{name: "ok/getatt-placeholder", prop: "Arn", want: "{R.Arn}"},
		{name: "fail/unknown-ref", prop: "Bad", fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &samtemplate.Eval{T: tpl, Params: tc.params, Pseudo: pseudo("s", "abcd1234-5678-90ab-cdef-1234567890ab")}
			got, err := e.Value(map[string]any{tc.prop: p[tc.prop]})
			if tc.fail {
				if !errors.Is(err, samtemplate.ErrEval) {
					t.Fatalf("err %v, want ErrEval", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v := got.(map[string]any)[tc.prop]; v != tc.want {
				t.Fatalf("%s = %v, want %v", tc.prop, v, tc.want)
			}
		})
	}
}

// The template's Rules refuse parameter sets that contradict each other
// (CloudFormation evaluates them before it creates anything), and accept
// the deploys the README describes.
func TestRules(t *testing.T) {
	tpl := load(t)
	if len(tpl.Rules) == 0 {
		t.Fatal("template.yaml has no Rules")
	}
	domain := map[string]string{"DomainName": "hub.example.com", "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/x",
		"TruststoreVersion": "v1"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name   string
		params map[string]string
		rule   string // the rule that must refuse it; "" for none
	}{
		{name: "ok/defaults", params: nil},
		{name: "ok/first-deploy", params: map[string]string{"OperatorPrincipalArn": "arn:aws:iam::123456789012:role/ops"}},
		{name: "ok/second-deploy", params: domain},
		{name: "ok/second-deploy-dns", params: with(domain, "HostedZoneId", "Z123")},
		{name: "ok/imported-certificate", params: with(domain, "OwnershipVerificationCertificateArn", "arn:aws:acm:eu-west-1:123456789012:certificate/y")},
		{name: "ok/domain-before-truststore", params: with(domain, "TruststoreVersion", "")},
		{name: "fail/domain-without-certificate", params: with(domain, "CertificateArn", ""), rule: "DomainNeedsCertificate"},
		{name: "fail/certificate-without-domain", params: map[string]string{"CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"}, rule: "CertificateNeedsDomain"},
		{name: "fail/truststore-without-domain", params: map[string]string{"TruststoreVersion": "v1"}, rule: "TruststoreNeedsDomain"},
		{name: "fail/hosted-zone-without-domain", params: map[string]string{"HostedZoneId": "Z123"}, rule: "HostedZoneNeedsDomain"},
		{name: "fail/ownership-certificate-without-domain", params: map[string]string{"OwnershipVerificationCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/y"}, rule: "OwnershipCertificateNeedsDomain"},
		{name: "fail/no-client-certificate-with-mtls-domain", params: with(domain, "InsecureNoClientCert", "true"), rule: "NoClientCertificateOnlyWithoutDomain"},
		{name: "fail/path-style-with-mtls-domain", params: with(domain, "S3PathStyle", "true"), rule: "PathStyleOnlyWithoutDomain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k := range tc.params {
				if _, ok := tpl.Parameters[k]; !ok {
					t.Fatalf("template.yaml has no parameter %s", k)
				}
			}
			e := &samtemplate.Eval{T: tpl, Params: tc.params, Pseudo: pseudo("monsys-hub", "51af3dc0-da77-11e4-872e-1234567db123")}
			fails, err := e.Rules()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fails {
				got = append(got, f.Rule)
				if f.Description == "" {
					t.Errorf("rule %s refuses without an AssertDescription", f.Rule)
				}
			}
			if tc.rule == "" && len(got) > 0 {
				t.Fatalf("refused by %v: %+v", got, fails)
			}
			if tc.rule != "" && !slices.Contains(got, tc.rule) {
				t.Fatalf("refused by %v, want %s", got, tc.rule)
			}
		})
	}
	// samconfig.toml's environments pass the rules too.
	cfg := samconfig(t)
	for name, env := range cfg {
		t.Run("ok/samconfig-"+name, func(t *testing.T) {
			e := &samtemplate.Eval{T: tpl, Params: overrides(t, env), Pseudo: pseudo("monsys-hub", "51af3dc0-da77-11e4-872e-1234567db123")}
			if fails, err := e.Rules(); err != nil || len(fails) > 0 {
				t.Fatalf("%v %+v", err, fails)
			}
		})
	}
}

// Table names are scoped to the stack creation unless the operator sets a
// prefix: a retry after a failed first create (whose tables deletion
// protection may keep) and a second stack in the account do not collide.
// The TablePrefix output is the prefix the tables really have, which
// monsys-admin bootstrap --table-prefix turns into the same names.
func TestTableNames(t *testing.T) {
	tpl := load(t)
	byShort, _ := tableResources(t, tpl)
	names := func(params map[string]string, stack, uuid string) (map[string]string, string) {
		t.Helper()
		e := &samtemplate.Eval{T: tpl, Params: params, Pseudo: pseudo(stack, uuid)}
		out := map[string]string{}
		for short, id := range byShort {
			n, err := e.String(tpl.Resources[id].Properties["TableName"])
			if err != nil {
				t.Fatalf("%s TableName: %v", id, err)
			}
			out[short] = n
		}
		prefix, err := e.String(samtemplate.Path(tpl.Outputs, "TablePrefix", "Value"))
		if err != nil {
			t.Fatalf("output TablePrefix: %v", err)
		}
		return out, prefix
	}
	const first, retry = "51af3dc0-da77-11e4-872e-1234567db123", "9c1e77aa-0b2d-4f61-9d1e-3c5a0e4f7b21"
	a, prefixA := names(nil, "monsys-hub", first)
	b, _ := names(nil, "monsys-hub", retry)
	c, _ := names(nil, "monsys-hub-2", first)
	set, prefixSet := names(map[string]string{"TablePrefix": "acme-"}, "monsys-hub", first)
	t.Run("ok/output-prefix", func(t *testing.T) {
		for p, got := range map[string]map[string]string{prefixA: a, prefixSet: set} {
			want := dynamo.TablesWithPrefix(p)
			wantByShort := map[string]string{dynamo.TableCredentials: want.Credentials, dynamo.TableTenants: want.Tenants,
				dynamo.TableAgents: want.Agents, dynamo.TableBatches: want.Batches, dynamo.TableBatchIndex: want.BatchIndex,
				dynamo.TableAnomalies: want.Anomalies, dynamo.TableAudit: want.Audit, dynamo.TablePacks: want.Packs,
				dynamo.TableSigningKeys: want.SigningKeys, dynamo.TableLog: want.Log}
			for short, n := range got {
				if n != wantByShort[short] {
					t.Errorf("table %s is %q; --table-prefix %q gives %q", short, n, p, wantByShort[short])
				}
			}
		}
	})
	t.Run("ok/stack-scoped", func(t *testing.T) {
		if !strings.HasPrefix(prefixA, "monsys-hub-") {
			t.Errorf("default prefix %q does not name the stack", prefixA)
		}
		for short := range a {
			if a[short] == b[short] {
				t.Errorf("table %s: a retry of the stack gets the same name %q", short, a[short])
			}
			if a[short] == c[short] {
				t.Errorf("table %s: another stack gets the same name %q", short, a[short])
			}
		}
	})
	t.Run("ok/operator-prefix", func(t *testing.T) {
		if set[dynamo.TableCredentials] != "acme-credentials" || prefixSet != "acme-" {
			t.Errorf("TablePrefix=acme- gives %q (output %q), want acme-credentials", set[dynamo.TableCredentials], prefixSet)
		}
	})
}

// Stateful resources survive the stack's deletion and a replacement, but not
// the rollback of a failed first create (RetainExceptOnCreate): the retry
// then starts clean.
func TestStatefulResourcesRetainExceptOnCreate(t *testing.T) {
	tpl := load(t)
	stateful := []string{"AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::S3::Bucket"}
	for id, r := range tpl.Resources {
		if r.DeletionPolicy == "" && !slices.Contains(stateful, r.Type) {
			continue
		}
		t.Run("ok/"+id, func(t *testing.T) {
			if !slices.Contains(stateful, r.Type) {
				t.Errorf("%s (%s) has DeletionPolicy %s but holds no state", id, r.Type, r.DeletionPolicy)
			}
			if r.DeletionPolicy != "RetainExceptOnCreate" || r.UpdateReplacePolicy != "Retain" {
				t.Errorf("%s: DeletionPolicy %q, UpdateReplacePolicy %q; want RetainExceptOnCreate and Retain",
					id, r.DeletionPolicy, r.UpdateReplacePolicy)
			}
		})
	}
}
