package api_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/hub"
)

// listEvent is GET path with the query q, as the admin of acme.
func listEvent(t *testing.T, path string, q map[string]string) events.APIGatewayProxyRequest {
	t.Helper()
	ev := withPath(event(t, "list-anomalies.json"), "/anomalies", path)
	ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
	for k, v := range q {
		ev.QueryStringParameters[k], ev.MultiValueQueryStringParameters[k] = v, []string{v}
	}
	return ev
}

// TestListAgents: SPEC 4, GET /agents pages the admin's tenant's agents,
// filters by status, and refuses what cannot be valid with 400.
func TestListAgents(t *testing.T) {
	f := newAPIFx(t)
	var made []string
	for range 4 {
		r := f.sendFile("create-agent.json")
		if r.Status != 201 && r.Status != 200 {
			t.Fatalf("create agent: status %d: %s", r.Status, r.Body)
		}
		made = append(made, r.json["agent_id"].(string))
	}
	walk := func(t *testing.T, q map[string]string, other bool) []string {
		t.Helper()
		var ids []string
		for range 10 {
			ev := listEvent(t, "/agents", q)
			if other {
				asOther(t, &ev)
			}
			r := f.send(ev)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			wantKeys(t, r.json, "agents,next_cursor")
			for _, a := range r.json["agents"].([]any) {
				ids = append(ids, a.(map[string]any)["agent_id"].(string))
			}
			c, ok := r.json["next_cursor"].(string)
			if !ok {
				return ids
			}
			q = map[string]string{"cursor": c, "limit": q["limit"], "status": q["status"]}
		}
		t.Fatal("no last page after 10")
		return nil
	}
	t.Run("ok/every agent of the tenant across pages", func(t *testing.T) {
		got := walk(t, map[string]string{"limit": "2"}, false)
		for _, id := range made {
			if !strings.Contains(strings.Join(got, " "), id) {
				t.Fatalf("listing %v lacks %s", got, id)
			}
		}
		if len(got) != len(made)+1 { // and the fixture's ag_apitest1
			t.Fatalf("listing %v, want %d agents", got, len(made)+1)
		}
	})
	t.Run("ok/legacy: none of them is pinned", func(t *testing.T) {
		if got := walk(t, map[string]string{"status": "legacy", "limit": "3"}, false); len(got) != len(made)+1 {
			t.Fatalf("legacy %v", got)
		}
		if got := walk(t, map[string]string{"status": "pinned"}, false); len(got) != 0 {
			t.Fatalf("pinned %v", got)
		}
	})
	t.Run("ok/another tenant's admin sees none of them", func(t *testing.T) {
		if got := walk(t, map[string]string{}, true); len(got) != 0 {
			t.Fatalf("globex sees %v", got)
		}
	})
	cursorOf := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, path := range []string{"/agents", "/evidence-packs"} {
		for _, b := range []struct {
			name string
			q    map[string]string
		}{
			{"limit-zero", map[string]string{"limit": "0"}},
			{"limit-501", map[string]string{"limit": "501"}},
			{"limit-not-a-number", map[string]string{"limit": "ten"}},
			{"cursor-not-base64url", map[string]string{"cursor": "not base64!"}},
			{"cursor-too-long", map[string]string{"cursor": cursorOf(strings.Repeat("x", 3000))}},
			{"cursor-not-issued", map[string]string{"cursor": cursorOf("v1:ag_x")}},
		} {
			t.Run("fail/400"+path+"/"+b.name, func(t *testing.T) {
				f := newPackFxIfNeeded(t, path)
				r := f.send(listEvent(t, path, b.q))
				if r.Status != 400 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				wantEnvelope(t, r, hub.CodeInvalidRequest)
			})
		}
	}
	t.Run("fail/400/agents/unknown-status", func(t *testing.T) {
		r := f.send(listEvent(t, "/agents", map[string]string{"status": "sleepy"}))
		if r.Status != 400 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		wantEnvelope(t, r, hub.CodeInvalidRequest)
	})
}

// newPackFxIfNeeded is the fixture that serves path.
func newPackFxIfNeeded(t *testing.T, path string) *apiFx {
	if path == "/evidence-packs" {
		return newPacksFx(t).apiFx
	}
	return newAPIFx(t)
}

// TestListPacks: SPEC 4, GET /evidence-packs lists the tenant's packs newest
// first, without links, page by page.
func TestListPacks(t *testing.T) {
	f := newPacksFx(t)
	var want []string
	for range 3 {
		want = append([]string{f.request()}, want...)
		f.build(want[0])
		f.clock.Advance(time.Second)
	}
	var got []string
	q := map[string]string{"limit": "2"}
	for range 5 {
		r := f.call(listEvent(t, "/evidence-packs", q))
		if r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		wantKeys(t, r.json, "next_cursor,packs")
		for _, p := range r.json["packs"].([]any) {
			m := p.(map[string]any)
			wantKeys(t, m, "generated_at,manifest_sha256,pack_id,period_end,period_start,requested_at,status")
			got = append(got, m["pack_id"].(string))
		}
		c, ok := r.json["next_cursor"].(string)
		if !ok {
			break
		}
		q["cursor"] = c
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("listing %v, want newest first %v", got, want)
	}
	ev := listEvent(t, "/evidence-packs", nil)
	asOther(t, &ev)
	if r := f.call(ev); r.Status != 200 || len(r.json["packs"].([]any)) != 0 {
		t.Fatalf("globex sees %d %s", r.Status, r.Body)
	}
	_ = api.Prefix
}
