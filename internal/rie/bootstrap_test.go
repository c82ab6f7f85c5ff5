package rie

import (
	"encoding/json"
	"maps"
	"net/http"
	"sort"
	"testing"

	"github.com/monsys/hub/internal/local/emu"
)

// beforeBootstrap starts every real bootstrap under the emulator over a stack
// that is deployed but not bootstrapped yet (tables and bucket, no hub CA):
// each API function answers 503 unavailable with Retry-After, the integrity
// run succeeds with nothing to check (so no error alarm every 10 minutes),
// and once the bootstrap has run the same processes serve: no restart needed
// (docs/decisions.md, "Deployment").
func beforeBootstrap(t *testing.T, w *world, rieBin string, boots map[string]string, unique string) {
	st := w.newState(t, "before-bootstrap", "boot-"+unique, "boot-"+unique+"-")
	invoke := map[string]invoker{}
	for _, f := range w.fns {
		env := maps.Clone(st.env[f.id])
		maps.Copy(env, w.awsEnv(st.tmp))
		var list []string
		for k, v := range env {
			list = append(list, k+"="+v)
		}
		sort.Strings(list)
		r, err := emu.StartRIE(t.Context(), emu.RIEOptions{Bootstrap: boots[f.id], Env: list, Bin: rieBin})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop() })
		invoke[f.id] = r.Invoke
	}
	// One API event per function that serves API routes.
	events := map[string]string{}
	for _, name := range []string{"register.json", "ingest.json", "rotate-token.json", "create-agent.json", "request-pack.json"} {
		var ev struct {
			Method string `json:"httpMethod"`
			Path   string `json:"path"`
		}
		if err := json.Unmarshal(apiEvent(t, name), &ev); err != nil {
			t.Fatal(err)
		}
		for _, f := range w.fns {
			if f.serves(ev.Method, ev.Path) {
				events[f.id] = name
			}
		}
	}
	answer := func(id, name string) (int, string, http.Header) {
		t.Helper()
		resp, err := invoke[id](t.Context(), apiEvent(t, name))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var r struct {
			Status  int               `json:"statusCode"`
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		}
		if err := json.Unmarshal(resp, &r); err != nil || r.Status == 0 {
			t.Fatalf("%s: not an API Gateway answer (the function failed?): %.400s", id, resp)
		}
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(r.Body), &body)
		h := http.Header{}
		for k, v := range r.Headers {
			h.Set(k, v)
		}
		return r.Status, body.Error.Code, h
	}
	for _, f := range w.fns {
		name, ok := events[f.id]
		if !ok {
			continue
		}
		status, code, h := answer(f.id, name)
		if status != http.StatusServiceUnavailable || code != "unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("%s before the bootstrap: %d %q Retry-After %q, want 503 unavailable with Retry-After", f.id, status, code, h.Get("Retry-After"))
		}
	}
	for _, id := range scheduled(w.fns) {
		resp, err := invoke[id](t.Context(), scheduleEvent(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Type string `json:"errorType"`
		}
		if json.Unmarshal(resp, &doc) == nil && doc.Type != "" {
			t.Errorf("%s before the bootstrap: an invocation error (the Errors alarm would fire): %.400s", id, resp)
		}
	}
	for _, f := range w.fns {
		for _, in := range f.inputs {
			resp, err := invoke[f.id](t.Context(), []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Type string `json:"errorType"`
			}
			if json.Unmarshal(resp, &doc) == nil && doc.Type != "" {
				t.Errorf("%s before the bootstrap, schedule input %s: an invocation error (the Errors alarm would fire): %.400s", f.id, in, resp)
			}
		}
	}
	w.bootstrap(t, st)
	for _, f := range w.fns {
		name, ok := events[f.id]
		if !ok {
			continue
		}
		if status, code, _ := answer(f.id, name); status == http.StatusServiceUnavailable || status >= 500 {
			t.Errorf("%s after the bootstrap, same process: %d %q, want it served", f.id, status, code)
		}
	}
	w.invokes.take() // the pack function's self-invocation: not the main scenario's
	if len(events) < 4 {
		t.Fatalf("only %d API functions found for the event files: %v", len(events), events)
	}
}
