//go:build !unix

package main

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// freezeSignal is never sent: there is no SIGUSR1 here.
const freezeSignal = syscall.Signal(0)

// reloadUnsupported explains that hot reload does not exist on this
// system.
func reloadUnsupported() error {
	system := runtime.GOOS
	if system == "windows" {
		system = "Windows"
	}
	return fmt.Errorf("hot reload is unsupported on %s: it needs SIGUSR1 to freeze a game; "+
		"stop and start the cluster to run a new build: %w", system, errors.ErrUnsupported)
}
