//go:build unix

package main

import "syscall"

// freezeSignal asks a game to freeze for a hot reload.
const freezeSignal = syscall.SIGUSR1

// reloadUnsupported returns nil: hot reload works here.
func reloadUnsupported() error { return nil }
