//go:build linux

package emu

import "syscall"

// sysProcAttr puts the emulator in its own process group (so a stop reaches
// anything it forks) and has the kernel kill it when the thread that started
// it dies. Go ends a thread only when a goroutine exits locked to it, and the
// thread that starts an emulator stays locked to proc.startAndWait until the
// emulator has exited.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
