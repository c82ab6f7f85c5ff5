//go:build unix && !linux

package emu

import "syscall"

// sysProcAttr puts the emulator in its own process group. Outside Linux there
// is no parent-death signal: an emulator outlives a parent killed with SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
