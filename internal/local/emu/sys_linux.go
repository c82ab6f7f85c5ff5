//go:build linux

package emu

import "syscall"

// sysProcAttr puts the emulator in its own process group (so a stop reaches
// anything it forks) and has the kernel kill it when the thread that started
// it dies. Go does not retire OS threads unless a goroutine exits while locked
// to one, which nothing in this package does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
