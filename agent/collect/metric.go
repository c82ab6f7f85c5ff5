package collect

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/monsys/hub/internal/batch"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// Metric is a "metric" record: cpu, memory, disk, load and uptime.
type Metric struct {
	Type           string      `json:"type"`
	TS             string      `json:"ts"`
	CPUPercent     *float64    `json:"cpu_percent,omitempty"` // absent on the first sample
	Load1          float64     `json:"load1"`
	Load5          float64     `json:"load5"`
	Load15         float64     `json:"load15"`
	MemTotal       uint64      `json:"mem_total_bytes"`
	MemAvailable   uint64      `json:"mem_available_bytes"`
	MemUsedPercent float64     `json:"mem_used_percent"`
	SwapTotal      uint64      `json:"swap_total_bytes"`
	SwapFree       uint64      `json:"swap_free_bytes"`
	Disks          []DiskUsage `json:"disks"`
	UptimeSeconds  uint64      `json:"uptime_seconds"`
}

// DiskUsage is the usage of one mounted filesystem.
type DiskUsage struct {
	Path        string  `json:"path"`
	Total       uint64  `json:"total_bytes"`
	Used        uint64  `json:"used_bytes"`
	Free        uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

// Metrics collects metric records with gopsutil. CPU use is computed between
// two consecutive calls, so the collector is stateful.
type Metrics struct {
	// DiskPaths are the mount points to report; "/" when empty.
	DiskPaths []string
	// HostProc, when set, points gopsutil at another /proc (fixtures).
	HostProc string
	// Uptime returns seconds since boot; host.Uptime when nil.
	Uptime func(ctx context.Context) (uint64, error)

	prev *cpu.TimesStat
}

var _ Collector = (*Metrics)(nil)

// Name implements Collector.
func (m *Metrics) Name() string { return "metric" }

func (m *Metrics) ctx(ctx context.Context) context.Context {
	if m.HostProc == "" {
		return ctx
	}
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: m.HostProc})
}

// Collect implements Collector.
func (m *Metrics) Collect(ctx context.Context, now time.Time) ([]any, error) {
	ctx = m.ctx(ctx)
	rec := Metric{Type: "metric", TS: batch.TS(now)}
	var errs []error

	if times, err := cpu.TimesWithContext(ctx, false); err == nil && len(times) == 1 {
		cur := times[0]
		if m.prev != nil {
			p := busyPercent(*m.prev, cur)
			rec.CPUPercent = &p
		}
		m.prev = &cur
	} else if err != nil {
		errs = append(errs, fmt.Errorf("cpu: %w", err))
	}
	if avg, err := load.AvgWithContext(ctx); err == nil {
		rec.Load1, rec.Load5, rec.Load15 = avg.Load1, avg.Load5, avg.Load15
	} else if runtime.GOOS != "windows" { // Windows has no load average
		errs = append(errs, fmt.Errorf("load: %w", err))
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		rec.MemTotal, rec.MemAvailable, rec.MemUsedPercent = vm.Total, vm.Available, round2(vm.UsedPercent)
		rec.SwapTotal, rec.SwapFree = vm.SwapTotal, vm.SwapFree
	} else {
		errs = append(errs, fmt.Errorf("memory: %w", err))
	}
	paths := m.DiskPaths
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	rec.Disks = []DiskUsage{}
	for _, p := range paths {
		u, err := disk.UsageWithContext(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("disk %q: %w", p, err))
			continue
		}
		rec.Disks = append(rec.Disks, DiskUsage{Path: p, Total: u.Total, Used: u.Used, Free: u.Free, UsedPercent: round2(u.UsedPercent)})
	}
	uptime := m.Uptime
	if uptime == nil {
		uptime = host.UptimeWithContext
	}
	if up, err := uptime(ctx); err == nil {
		rec.UptimeSeconds = up
	} else {
		errs = append(errs, fmt.Errorf("uptime: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return []any{rec}, fmt.Errorf("collect metric: %w", err)
	}
	return []any{rec}, nil
}

// busyPercent is the share of non-idle CPU time between two samples.
func busyPercent(a, b cpu.TimesStat) float64 {
	idle := func(t cpu.TimesStat) float64 { return t.Idle + t.Iowait }
	total := func(t cpu.TimesStat) float64 {
		return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	}
	dt := total(b) - total(a)
	if dt <= 0 {
		return 0
	}
	busy := dt - (idle(b) - idle(a))
	return round2(min(100, max(0, 100*busy/dt)))
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
