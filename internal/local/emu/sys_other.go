//go:build !unix

package emu

import (
	"context"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup has no graceful signal to send outside Unix: it always kills.
func signalGroup(p *os.Process, _ bool) error {
	if err := p.Kill(); err != nil && err != os.ErrProcessDone {
		return err
	}
	return nil
}

// lockFile does not lock outside Unix: parallel first-time installs may race
// there, which npm ci survives by starting from a clean node_modules.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
