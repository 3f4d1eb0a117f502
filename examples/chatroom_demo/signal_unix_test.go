//go:build !windows

package main

import "syscall"

// signalPID sends sig to pid (0 probes whether it exists).
func signalPID(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
