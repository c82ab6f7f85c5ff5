//go:build !linux

package collect

import (
	"context"
	"os"

	"github.com/shirou/gopsutil/v4/process"
)

// psSource lists processes with gopsutil where there is no /proc.
type psSource struct{}

var _ ProcSource = psSource{}

// Procs implements ProcSource.
func (psSource) Procs(ctx context.Context) ([]Proc, error) {
	ps, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, p := range ps {
		exe, err := p.ExeWithContext(ctx)
		if err != nil || exe == "" {
			continue
		}
		name, _ := p.NameWithContext(ctx)
		out = append(out, Proc{PID: p.Pid, Name: name, Exe: exe, Open: func() (*os.File, error) { return os.Open(exe) }})
	}
	return out, nil
}

// DefaultProcSource is the platform's process source.
func DefaultProcSource() ProcSource { return psSource{} }
