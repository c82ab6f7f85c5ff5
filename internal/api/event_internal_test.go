package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

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
