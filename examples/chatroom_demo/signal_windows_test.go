package main

import (
	"errors"
	"syscall"
)

// signalPID is not supported on Windows: the tests that signal processes
// run on Linux and macOS (goworldctl's stop and reload use signals too).
func signalPID(int, syscall.Signal) error { return errors.New("signals: not on Windows") }
