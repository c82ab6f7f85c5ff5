package dynamo_test

import (
	"testing"

	"github.com/monsys/hub/internal/aws/dynamo"
	"github.com/monsys/hub/internal/local/emu/emutest"
	"github.com/monsys/hub/internal/tlog"
	"github.com/monsys/hub/internal/tlog/tlogtest"
)

// TestLogStoreContract runs the log stores' contract with the head and the
// pool on dynalite (tiles and checkpoint in memory).
func TestLogStoreContract(t *testing.T) {
	db := emutest.DynamoForTest(t)
	tlogtest.RunContract(t, func(t *testing.T) tlog.Stores {
		table := emutest.UniquePrefix(t) + dynamo.TableLog
		if err := dynamo.CreateLogTable(t.Context(), db, table); err != nil {
			t.Fatal(err)
		}
		s, err := dynamo.NewLogStore(emutest.Data(t, db), table)
		if err != nil {
			t.Fatal(err)
		}
		st := tlogtest.NewMemory().Stores()
		st.Heads, st.Pool, st.Lookup = s, s, s
		return st
	})
}
