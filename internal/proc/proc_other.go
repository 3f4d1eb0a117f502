//go:build !linux && !darwin

package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// errUnsupported is returned by every function of this package that needs
// flock(2), sessions or inherited descriptors.
var errUnsupported = fmt.Errorf("process management is unsupported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// PIDFile is a PID file held locked by the running process. On this system
// it cannot be acquired.
type PIDFile struct{}

// AcquirePIDFile is unsupported on this system and returns an error.
func AcquirePIDFile(path string) (*PIDFile, error) {
	return nil, fmt.Errorf("pid file %s: %w", path, errUnsupported)
}

// Path returns an empty string on this system.
func (p *PIDFile) Path() string { return "" }

// Release does nothing on this system.
func (p *PIDFile) Release() error { return nil }

// Probe is unsupported on this system and returns an error.
func Probe(path string) (pid int, running bool, err error) {
	return 0, false, fmt.Errorf("probe %s: %w", path, errUnsupported)
}

// SignalReady does nothing without GOWORLD_READY_FD and is unsupported on
// this system with it.
func SignalReady(info ReadyInfo) error {
	if os.Getenv(ReadyFDEnv) == "" {
		return nil
	}
	return fmt.Errorf("signal ready: %w", errUnsupported)
}

// Start is unsupported on this system and returns an error.
func Start(ctx context.Context, spec StartSpec) (*Started, error) {
	return nil, fmt.Errorf("start %s: %w", spec.Name, errUnsupported)
}

// Stop is unsupported on this system and returns an error.
func Stop(pidfile string, sig syscall.Signal, timeout time.Duration) (StopResult, error) {
	return StopResult{}, fmt.Errorf("stop %s: %w", pidfile, errUnsupported)
}

// Signal is unsupported on this system and returns an error.
func Signal(pidfile string, sig syscall.Signal) (int, error) {
	return 0, fmt.Errorf("signal %s: %w", pidfile, errUnsupported)
}

// WaitReleased is unsupported on this system and reports false.
func WaitReleased(pidfile string, pid int, timeout time.Duration) bool { return false }
