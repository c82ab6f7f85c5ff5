package storetest_test

import (
	"errors"
	"testing"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/storetest"
)

// TestContract holds the in-memory store to the contract the DynamoDB
// adapter passes (internal/aws/dynamo runs the same suite on dynalite).
func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) hub.Stores { return storetest.NewMemory().Stores() })
}

// TestFaultyContract: with no fault queued, the fault wrapper is the store
// it wraps, on every port.
func TestFaultyContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) hub.Stores { return storetest.NewFaulty(storetest.NewMemory()).Stores() })
}

func TestFaulty(t *testing.T) {
	boom := errors.New("boom")
	t.Run("ok/each fault once, then the store", func(t *testing.T) {
		f := storetest.NewFaulty(storetest.NewMemory())
		f.FailNext("GetAgent", boom, hub.ErrThrottled)
		for i, want := range []error{boom, hub.ErrThrottled, hub.ErrNotFound} {
			if _, err := f.GetAgent(t.Context(), "ag_x"); !errors.Is(err, want) {
				t.Fatalf("GetAgent #%d = %v, want %v", i+1, err, want)
			}
		}
	})
	t.Run("ok/a fault is the named method's only", func(t *testing.T) {
		f := storetest.NewFaulty(storetest.NewMemory())
		f.FailNext("PutBatch", boom)
		if _, err := f.GetBatch(t.Context(), "ag_x", "k"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("GetBatch = %v, want %v", err, hub.ErrNotFound)
		}
		if err := f.PutBatch(t.Context(), hub.StoredBatch{AgentID: "ag_x", Key: "k"}); !errors.Is(err, boom) {
			t.Fatalf("PutBatch = %v, want %v", err, boom)
		}
	})
	t.Run("ok/a hook runs once, before the call", func(t *testing.T) {
		f := storetest.NewFaulty(storetest.NewMemory())
		runs := 0
		f.BeforeNext("CreateAgent", func() {
			runs++
			if err := f.Memory.CreateAgent(t.Context(), hub.Agent{AgentID: "ag_x"}); err != nil {
				t.Error(err)
			}
		})
		if err := f.CreateAgent(t.Context(), hub.Agent{AgentID: "ag_x"}); !errors.Is(err, hub.ErrConflict) {
			t.Fatalf("CreateAgent after the hook = %v, want %v", err, hub.ErrConflict)
		}
		if err := f.CreateAgent(t.Context(), hub.Agent{AgentID: "ag_y"}); err != nil || runs != 1 {
			t.Fatalf("CreateAgent = %v, hook ran %d times", err, runs)
		}
	})
	t.Run("ok/asked", func(t *testing.T) {
		f := storetest.NewFaulty(storetest.NewMemory())
		_, _ = f.GetAgent(t.Context(), "ag_asked")
		if !f.Asked("ag_asked") || f.Asked("ag_never") {
			t.Fatal("Asked does not tell what reached the store")
		}
	})
}
