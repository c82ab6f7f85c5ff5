package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestEventWalk: the walk itself, not encoding/json behind it, decodes the
// events of testdata/events and testdata/decode (every member of the
// request's types, members it does not have, escapes, an authorizer), and
// gives encoding/json's answer.
func TestEventWalk(t *testing.T) {
	var names []string
	for _, dir := range []string{"events", "decode"} {
		n, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(n) == 0 {
			t.Fatalf("no events in testdata/%s: %v", dir, err)
		}
		names = append(names, n...)
	}
	for _, n := range names {
		t.Run("ok/"+filepath.Base(n), func(t *testing.T) {
			data, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			var want events.APIGatewayProxyRequest
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			var got events.APIGatewayProxyRequest
			d := eventDecoder{data: data}
			if !d.event(&got) {
				t.Fatalf("the walk left the event to encoding/json at byte %d", d.i)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the walk gave\n%#v\nencoding/json gave\n%#v", got, want)
			}
			if filepath.Base(n) == "every-member.json" {
				if unset := zeroMembers(reflect.ValueOf(want), "event"); len(unset) > 0 {
					t.Fatalf("the vector leaves members unset: %v", unset)
				}
			}
		})
	}
}

// TestEventNames: the walk knows every member of the request's types, as
// their json tags name them (a member added by a newer aws-lambda-go would
// otherwise be skipped).
func TestEventNames(t *testing.T) {
	for _, c := range []struct {
		typ   any
		names []string
	}{
		{events.APIGatewayProxyRequest{}, eventNames},
		{events.APIGatewayProxyRequestContext{}, contextNames},
		{events.APIGatewayRequestIdentity{}, identityNames},
		{events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCert{}, clientCertNames},
		{events.APIGatewayCustomAuthorizerRequestTypeRequestIdentityClientCertValidity{}, validityNames},
	} {
		typ := reflect.TypeOf(c.typ)
		t.Run("ok/"+typ.Name(), func(t *testing.T) {
			var tags []string
			for f := range typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if f.Anonymous || name == "" || name == "-" {
					t.Fatalf("member %s is not named by its tag: the walk does not know such members", f.Name)
				}
				tags = append(tags, name)
			}
			if !slices.Equal(tags, c.names) {
				t.Fatalf("the walk knows %q, the type has %q", c.names, tags)
			}
		})
	}
}

// zeroMembers lists the members of the struct v, at any depth, that hold
// their zero value.
func zeroMembers(v reflect.Value, path string) []string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
	var zero []string
	for i := range v.NumField() {
		zero = append(zero, zeroMembers(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return zero
}
