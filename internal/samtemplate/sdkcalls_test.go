package samtemplate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/aws/kmssign"
	"github.com/monsys/hub/internal/aws/s3store"
)

// methodNames returns the exported methods of the given client types.
func methodNames(clients ...any) map[string]bool {
	out := map[string]bool{}
	for _, c := range clients {
		t := reflect.TypeOf(c)
		for i := range t.NumMethod() {
			out[t.Method(i).Name] = true
		}
	}
	delete(out, "Options")
	return out
}

// calledMethods returns the names of the methods a package's non-test code
// calls (x.Name(...)) that are SDK client operations.
func calledMethods(t *testing.T, dir string, ops map[string]bool) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
					if _, pkg := sel.X.(*ast.Ident); ops[sel.Sel.Name] && !(pkg && isImportName(f, sel.X.(*ast.Ident).Name)) {
						set[sel.Sel.Name] = true
					}
				}
			}
			return true
		})
	}
	var out []string
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// isImportName reports whether name is a package imported by f (a call like
// ed25519.Sign is not a client operation).
func isImportName(f *ast.File, name string) bool {
	for _, imp := range f.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		if (imp.Name != nil && imp.Name.Name == name) || (imp.Name == nil && filepath.Base(p) == name) {
			return true
		}
	}
	return false
}

// Every AWS operation an adapter's code calls is covered by an action it
// declares for some function, so a new call cannot reach AWS without a
// permission in template.yaml (which the other tests then demand).
func TestDeclaredActionsCoverSDKCalls(t *testing.T) {
	declared := map[string]bool{}
	for _, perms := range dynamo.FunctionPermissions {
		for _, p := range perms {
			declared[p.Action] = true
		}
	}
	for _, perms := range kmssign.FunctionPermissions {
		for _, p := range perms {
			declared[p.Action] = true
		}
	}
	for _, acts := range append(slices.Collect(maps.Values(s3store.FunctionPermissions)), s3store.LinkPermissions) {
		for _, a := range acts {
			declared[a] = true
		}
	}
	for _, acts := range app.FunctionPermissions {
		for _, a := range acts {
			declared[a] = true
		}
	}
	s3Action := map[string]string{
		"CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
		"PutObject": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload", "PresignGetObject": "s3:GetObject",
		"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
	}
	// Calls that never run in a Lambda function.
	exempt := map[string]string{
		"dynamodb:CreateTable": "CreateTables: the local hub and tests; in AWS the template creates the tables",
	}
	tests := []struct {
		pkg    string
		ops    map[string]bool
		action func(op string) string
	}{
		{"internal/aws/dynamo", methodNames(&dynamodb.Client{}), func(op string) string { return "dynamodb:" + op }},
		{"internal/aws/kmssign", methodNames(&kms.Client{}), func(op string) string { return "kms:" + op }},
		{"internal/aws/s3store", methodNames(&s3.Client{}, &s3.PresignClient{}), func(op string) string {
			if a, ok := s3Action[op]; ok {
				return a
			}
			return "s3:" + op + " (unmapped)"
		}},
		{"internal/app", methodNames(&lambda.Client{}), func(op string) string {
			if op == "Invoke" {
				return "lambda:InvokeFunction"
			}
			return "lambda:" + op
		}},
	}
	for _, tc := range tests {
		t.Run("ok/"+tc.pkg, func(t *testing.T) {
			calls := calledMethods(t, filepath.Join(root, tc.pkg), tc.ops)
			t.Logf("SDK operations called: %v", calls)
			if tc.pkg != "internal/app" && len(calls) == 0 {
				t.Fatal("found no SDK calls: the scan is broken")
			}
			for _, op := range calls {
				a := tc.action(op)
				if _, ok := exempt[a]; ok || declared[a] {
					continue
				}
				t.Errorf("%s calls %s (%s), which no function declares", tc.pkg, op, a)
			}
		})
	}
	if !slices.Contains(calledMethods(t, filepath.Join(root, "internal", "aws", "dynamo"), methodNames(&dynamodb.Client{})), "UpdateItem") {
		t.Error("the scan misses UpdateItem in internal/aws/dynamo")
	}
}
