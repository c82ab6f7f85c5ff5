package samtemplate_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
	"github.com/monsys/hub/internal/ca"
	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/samtemplate"
	"github.com/monsys/hub/internal/storetest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// groupOf is the api.Group each function serves (functions/<name>/main.go).
// A new API function needs an entry here; the scheduled integrity function
// serves none.
var groupOf = map[string]api.Group{
	"register": api.Register, "ingest": api.Ingest, "rotate": api.Rotate, "admin": api.Admin, "pack": api.Packs,
	"logview": api.Log,
}

// spec4 is the SPEC 4 endpoint table, with {id} for path parameters.
var spec4 = []string{
	"POST /api/v1/agents/register", "POST /api/v1/ingest", "POST /api/v1/agents", "GET /api/v1/agents/{id}",
	"POST /api/v1/agents/{id}/rotate-signing-key", "POST /api/v1/agents/{id}/rotate-token",
	"POST /api/v1/agents/{id}/rotate-client-cert", "GET /api/v1/anomalies", "POST /api/v1/evidence-packs",
	"GET /api/v1/evidence-packs/{id}", "POST /api/v1/signing-keys/rotate",
	"GET /api/v1/log/checkpoint", "GET /api/v1/log/tile/{path+}", "GET /api/v1/log/entries/{path+}",
}

// routed reports whether a handler of group g has a route for method and
// path: anything but the router's own 404.
func routed(t *testing.T, core *app.Core, g api.Group, method, path string) bool {
	t.Helper()
	h, err := api.New(core.Services(), slog.New(slog.NewTextHandler(io.Discard, nil)), g)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := h.Handle(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: method,
		Path: strings.NewReplacer("{id}", "ag_x", "{path+}", "0/000").Replace(path), Headers: map[string]string{}})
	if resp.StatusCode != http.StatusNotFound {
		return true
	}
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &e)
	return !strings.Contains(e.Error.Message, "no such endpoint") && !strings.Contains(e.Error.Message, "is not allowed here")
}

// Every SPEC 4 endpoint is an API event of exactly one function, and that
// function's handler serves it; no function has an event its handler would
// answer with "no such endpoint".
func TestRoutesMatchHandlers(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, "routes test CA", time.Now(), time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Cert: root, Signer: key}
	core, err := app.Assemble(storetest.NewMemory().Stores(), auth, app.CoreConfig{}, hub.Env{})
	if err != nil {
		t.Fatal(err)
	}
	err = core.AddPacks(app.PackPorts{Vault: &storetest.Vault{}, Objects: storetest.NewObjects(), Starter: &storetest.Builds{}}, hub.PackConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mem := tlogtest.NewMemory()
	if err := core.AddLogView(tlog.Reader{Tiles: mem, Checkpoints: mem}); err != nil {
		t.Fatal(err)
	}
	tpl := load(t)
	owner := map[string]string{}
	for name, f := range byName(t, tpl) {
		for ev, e := range samtemplate.Map(f.Properties["Events"]) {
			if samtemplate.Path(e, "Type") != "Api" {
				continue
			}
			route := strings.ToUpper(samtemplate.Path(e, "Properties", "Method").(string)) + " " + samtemplate.Path(e, "Properties", "Path").(string)
			if prev, dup := owner[route]; dup {
				t.Errorf("%s is an event of both %s and %s", route, prev, name)
			}
			owner[route] = name
			g, ok := groupOf[name]
			if !ok {
				t.Errorf("%s has API events but no route group in groupOf", name)
				continue
			}
			method, path, _ := strings.Cut(route, " ")
			if !routed(t, core, g, method, path) {
				t.Errorf("%s event %s: %s, but its handler has no such route", f.LogicalID, ev, route)
			}
		}
	}
	for _, r := range spec4 {
		if _, ok := owner[r]; !ok {
			t.Errorf("SPEC 4 endpoint %s is not an API event of any function", r)
		}
	}
	for r := range owner {
		method, path, _ := strings.Cut(r, " ")
		if !routed(t, core, api.All, method, path) {
			t.Errorf("template routes %s, which the hub does not serve", r)
		}
	}
}
