package memstore_test

import (
	"testing"

	"github.com/monsys/hub/internal/hub"
	"github.com/monsys/hub/internal/memstore"
	"github.com/monsys/hub/internal/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) hub.Store { return memstore.New() })
}
