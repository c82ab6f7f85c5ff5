package main

import (
	"context"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/local/hubtest"
)

// TestAgentSteps runs steps 2 to 5 (enroll, telemetry, a forged batch and
// its anomaly, rotation) against the real core served in-process, and
// checks that each agent identity's calls share one TLS connection (the
// enrollment certificate and the agent's own certificate), and that the
// operator's three monsys commands take one each, as three runs of the tool.
// (Before internal/client, the demo's client cache was keyed by the address
// of a copied certificate and never hit: every call opened a connection.)
func TestAgentSteps(t *testing.T) {
	h := hubtest.Start(t)
	d := &demo{dir: t.TempDir(), hubJSON: h.ProfilePath}
	if err := d.connect(h.Profile); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.cleanup() }()
	before := h.Connections()
	for _, step := range []func(context.Context, *stepLog) error{d.enrollAgent, d.telemetry, d.forged, d.rotate} {
		var l stepLog
		if err := step(context.Background(), &l); err != nil {
			t.Fatal(err)
		}
		if len(l.lines) == 0 {
			t.Fatal("a step said nothing")
		}
		t.Log(strings.Join(l.lines, "\n"))
	}
	if n := h.Connections() - before; n != 5 {
		t.Fatalf("the steps took %d connections, want 5: one per agent identity, one per monsys command", n)
	}
	v := h.Agent(t, d.agentID)
	if v.Batches != 4 || len(v.Records) != 14 || v.Forged != 2 {
		t.Fatalf("hub holds %d batches with %d records and refused %d; want 4, 14 and 2", v.Batches, len(v.Records), v.Forged)
	}
}
