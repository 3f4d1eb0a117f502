package proc

import (
	"errors"
	"path/filepath"
	"time"
)

// DefaultTimeout is the time Start waits for a READY line and Stop waits for
// a process to exit when their timeout is zero or negative.
const DefaultTimeout = 30 * time.Second

// ReadyFDEnv is the environment variable that tells a server process which
// inherited file descriptor is the write end of its ready pipe.
const ReadyFDEnv = "GOWORLD_READY_FD"

// ErrAlreadyRunning is wrapped by the error of AcquirePIDFile when another
// live process holds the PID file.
var ErrAlreadyRunning = errors.New("already running")

// ErrNotRunning is wrapped by the error of Signal when no live process
// holds the PID file.
var ErrNotRunning = errors.New("not running")

// Errors wrapped by the Err field of a *StartError, telling why a process
// did not become ready.
var (
	// ErrReadyTimeout means the process did not signal readiness in time;
	// Start killed it.
	ErrReadyTimeout = errors.New("timed out waiting for READY")
	// ErrExitedEarly means the process exited before signalling readiness.
	ErrExitedEarly = errors.New("exited before signalling READY")
	// ErrBadReady means the process wrote something other than a valid
	// READY line for itself, or closed the ready pipe without writing one
	// and kept running; Start killed it.
	ErrBadReady = errors.New("bad READY signal")
)

// Paths are the conventional files of one server process NAME under its
// server directory DIR.
type Paths struct {
	PIDFile    string // DIR/run/NAME.pid, held locked by the process
	ReadyFile  string // DIR/run/NAME.json, the READY info written by goworldctl
	LogFile    string // DIR/log/NAME.log, the process's own log
	StderrFile string // DIR/log/NAME.stderr, its stdout and stderr
}

// PathsFor returns the conventional files of process name under dir.
func PathsFor(dir, name string) Paths {
	run := filepath.Join(dir, "run")
	log := filepath.Join(dir, "log")
	return Paths{
		PIDFile:    filepath.Join(run, name+".pid"),
		ReadyFile:  filepath.Join(run, name+".json"),
		LogFile:    filepath.Join(log, name+".log"),
		StderrFile: filepath.Join(log, name+".stderr"),
	}
}
