// Package benchcpu reports what a benchmark costs in process CPU time (user
// and system, every thread: the garbage collector's work counts), which a
// shared, noisy machine disturbs far less than the wall clock.
package benchcpu

import (
	"syscall"
	"testing"
)

// Now is the process's CPU time so far, user and system, in nanoseconds.
func Now(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Start begins measuring b's loop; the function it returns, called once the
// loop is over, reports the CPU time per operation as cpu-ns/op.
func Start(b *testing.B) (report func()) {
	start := Now(b)
	return func() { b.ReportMetric(float64(Now(b)-start)/float64(b.N), "cpu-ns/op") }
}
