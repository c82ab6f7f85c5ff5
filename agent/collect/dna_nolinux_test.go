//go:build !linux

package collect

const runtimeHasInodes = false
