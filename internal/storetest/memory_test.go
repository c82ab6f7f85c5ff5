package storetest_test

import (
	"testing"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/storetest"
)

// TestContract holds the in-memory store to the contract the DynamoDB
// adapter passes (internal/aws/dynamo runs the same suite on dynalite).
func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) hub.Store { return storetest.NewMemory() })
}
