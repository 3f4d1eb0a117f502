package proc

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// StartSpec describes a server process for Start.
type StartSpec struct {
	// Binary is the executable to run. A path without a slash is looked up
	// in PATH.
	Binary string
	// Args are the command-line arguments, without the program name.
	Args []string
	// Dir is the server directory: the working directory of the process,
	// under which its log/ and run/ files live. Required.
	Dir string
	// Name is the process name, e.g. "gate1". Required. The READY line must
	// carry the same name.
	Name string
	// Env is added to the environment inherited from the caller.
	Env []string
	// LogFile is the process's own log, whose tail a StartError carries.
	// Empty means PathsFor(Dir, Name).LogFile.
	LogFile string
	// Timeout bounds the wait for the READY line; zero or negative means
	// DefaultTimeout.
	Timeout time.Duration
}

// Started is a process that Start started and that signalled readiness. A
// goroutine of the caller's process waits for it, so it never lingers as a
// zombie while the caller runs; the process itself lives on after the
// caller exits.
type Started struct {
	// Ready is what the process reported in its READY line.
	Ready ReadyInfo
	// PID is the process ID.
	PID int

	done  chan struct{}
	state *os.ProcessState // set before done is closed
}

// Done returns a channel that is closed when the process has exited and
// been reaped.
func (s *Started) Done() <-chan struct{} { return s.done }

// ExitState returns how the process exited, or nil while it runs.
func (s *Started) ExitState() *os.ProcessState {
	select {
	case <-s.done:
		return s.state
	default:
		return nil
	}
}

// StartError is the error of Start when the process did not become ready.
// Start has made sure the process is gone before returning it.
type StartError struct {
	Name string // process name
	PID  int    // process ID, 0 if it could not be started at all
	// Err says what went wrong; it wraps ErrReadyTimeout, ErrExitedEarly,
	// ErrBadReady or the context's error when it applies.
	Err error
	// LogFile and LogTail are the process's log file and its last lines
	// written during this start.
	LogFile string
	LogTail []string
	// StderrFile and StderrTail are the file holding the process's stdout
	// and stderr, and its last lines written during this start.
	StderrFile string
	StderrTail []string
}

// Error returns a multi-line message: the reason, then the tails of the log
// and of the stderr file.
func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", e.Name)
	if e.PID > 0 {
		fmt.Fprintf(&b, " (pid %d)", e.PID)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	writeTail(&b, e.LogFile, e.LogTail)
	writeTail(&b, e.StderrFile, e.StderrTail)
	return b.String()
}

func writeTail(b *strings.Builder, file string, lines []string) {
	if file == "" {
		return
	}
	if len(lines) == 0 {
		fmt.Fprintf(b, "\n%s: nothing written", file)
		return
	}
	if len(lines) == 1 {
		fmt.Fprintf(b, "\nlast line of %s:", file)
	} else {
		fmt.Fprintf(b, "\nlast %d lines of %s:", len(lines), file)
	}
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
}

// Unwrap returns Err.
func (e *StartError) Unwrap() error { return e.Err }

// StopResult is what Stop did.
type StopResult struct {
	// PID is the process that held the PID file, 0 if none did.
	PID int
	// WasRunning reports whether a process held the PID file.
	WasRunning bool
	// Killed reports whether Stop had to fall back to SIGKILL.
	Killed bool
}
