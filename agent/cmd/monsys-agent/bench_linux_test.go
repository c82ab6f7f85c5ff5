//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procCPU returns the process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15
	return time.Duration(ut+st) * 10 * time.Millisecond, nil // USER_HZ = 100
}

// procMem returns a field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
func procMem(pid int, field string) int64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkAgentRun runs the real agent binary with every collector against
// the real hub served in-process (hubtest) at one batch a second and reports its CPU per batch in the
// steady state (metric + agent_status each cycle; inventory and process_dna
// fall due only at start at their default periods) and its resident memory.
// Each iteration is one steady-state batch.
func BenchmarkAgentRun(b *testing.B) {
	s := newSetup(b)
	if err := os.WriteFile(s.config, []byte(`{}`), 0o644); err != nil { // every collector
		b.Fatal(err)
	}
	c := s.cmd("run", "--interval", "1s")
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	waitBatches := func(n int) {
		deadline := time.Now().Add(time.Duration(n)*2*time.Second + time.Minute)
		for s.hub.Agent(b, s.id).Batches < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d batches arrived", s.hub.Agent(b, s.id).Batches)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBatches(2) // start-up: registration, inventory, first process_dna pass
	start := s.hub.Agent(b, s.id).Batches
	cpu0, err := procCPU(c.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	waitBatches(start + b.N)
	b.StopTimer()
	cpu1, _ := procCPU(c.Process.Pid)
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/batch")
	b.ReportMetric(float64(procMem(c.Process.Pid, "VmRSS"))/1024, "rss-MiB")
	b.ReportMetric(float64(procMem(c.Process.Pid, "VmHWM"))/1024, "peak-rss-MiB")
}
