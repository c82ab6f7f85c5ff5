//go:build linux

package collect

import (
	"context"
	"os"
	"testing"
)

const runtimeHasInodes = true

// TestProcFSSelf reads this very process from the real /proc.
func TestProcFSSelf(t *testing.T) {
	d := &DNA{Source: ProcFS{}}
	recs, err := d.Collect(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	for _, r := range recs {
		rec := r.(ProcessDNA)
		for _, pid := range rec.PIDs {
			if int(pid) == os.Getpid() {
				if rec.Exe != self || len(rec.SHA256) != 64 {
					t.Fatalf("own record = %+v, want exe %s", rec, self)
				}
				return
			}
		}
	}
	t.Fatalf("own pid %d not among %d records", os.Getpid(), len(recs))
}
