//go:build linux || darwin

package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// reapWait bounds how long Start waits for a process it killed to be
// reaped before it gives up and returns anyway.
const reapWait = 5 * time.Second

// Start runs spec.Binary as a detached server process and waits until it
// signals readiness (see SignalReady), exits, or spec.Timeout passes, or ctx
// is done.
//
// The process runs in a new session (setsid), so it survives the caller and
// a Ctrl-C aimed at the caller, with spec.Dir as working directory, stdin
// from /dev/null and stdout and stderr appended to DIR/log/NAME.stderr. The
// write end of a pipe is passed as file descriptor 3 and named by
// GOWORLD_READY_FD.
//
// On success the process keeps running and a goroutine reaps it when it
// exits. On failure Start kills the process if it still runs, waits for it
// and returns a *StartError with the last lines the process wrote to its
// log and stderr files during this start.
func Start(ctx context.Context, spec StartSpec) (*Started, error) {
	if spec.Binary == "" || spec.Dir == "" || spec.Name == "" {
		return nil, errors.New("start: StartSpec needs Binary, Dir and Name")
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	paths := PathsFor(spec.Dir, spec.Name)
	logFile := spec.LogFile
	if logFile == "" {
		logFile = paths.LogFile
	}
	if err := os.MkdirAll(filepath.Dir(paths.StderrFile), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	out, err := os.OpenFile(paths.StderrFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	fail := &StartError{Name: spec.Name, LogFile: logFile, StderrFile: paths.StderrFile}
	logFrom, errFrom := fileSize(logFile), fileSize(paths.StderrFile)
	withTails := func() *StartError {
		fail.LogTail = tail(logFile, logFrom, tailLines)
		fail.StderrTail = tail(paths.StderrFile, errFrom, tailLines)
		return fail
	}

	r, w, err := os.Pipe()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Binary, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append(withoutVar(os.Environ(), ReadyFDEnv), spec.Env...), ReadyFDEnv+"=3")
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.ExtraFiles = []*os.File{w} // descriptor 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	// The child has its own copies; the parent must close the write end to
	// see EOF when the child exits.
	w.Close()
	out.Close()
	if err != nil {
		r.Close()
		fail.Err = err
		return nil, withTails()
	}
	s := &Started{PID: cmd.Process.Pid, done: make(chan struct{})}
	fail.PID = s.PID
	go func() {
		cmd.Wait() // the error is in ProcessState
		s.state = cmd.ProcessState
		close(s.done)
	}()

	type readyResult struct {
		info ReadyInfo
		err  error
	}
	readyc := make(chan readyResult, 1)
	go func() {
		info, err := ReadReady(r)
		readyc <- readyResult{info, err}
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	readerDone := false
	select {
	case res := <-readyc:
		readerDone = true
		r.Close()
		switch {
		case res.err == nil && res.info.Name != spec.Name:
			fail.Err = fmt.Errorf("%w: READY line names %q, not %q", ErrBadReady, res.info.Name, spec.Name)
		case res.err == nil && res.info.PID != s.PID:
			fail.Err = fmt.Errorf("%w: READY line has pid %d, but the process started is %d", ErrBadReady, res.info.PID, s.PID)
		case res.err == nil:
			s.Ready = res.info
			return s, nil
		case !errors.Is(res.err, errPipeClosed):
			fail.Err = fmt.Errorf("%w: %v", ErrBadReady, res.err)
		default:
			// Usually the process is exiting: wait for its status.
			select {
			case <-s.done:
				fail.Err = fmt.Errorf("%w (%v)", ErrExitedEarly, s.state)
			case <-timer.C:
				fail.Err = fmt.Errorf("%w: %v", ErrBadReady, res.err)
			case <-ctx.Done():
				fail.Err = ctx.Err()
			}
		}
	case <-s.done:
		fail.Err = fmt.Errorf("%w (%v)", ErrExitedEarly, s.state)
	case <-timer.C:
		fail.Err = fmt.Errorf("%w after %v", ErrReadyTimeout, timeout)
	case <-ctx.Done():
		fail.Err = ctx.Err()
	}
	// Closing the read end unblocks the reader goroutine even when a
	// descendant of the process still holds the write end.
	r.Close()
	if !readerDone {
		<-readyc
	}
	cmd.Process.Kill() // safe after exit: os.Process knows it was reaped
	select {
	case <-s.done:
	case <-time.After(reapWait):
		fail.Err = fmt.Errorf("%w; pid %d did not exit after SIGKILL", fail.Err, s.PID)
	}
	return nil, withTails()
}

// withoutVar returns env without the entries for variable name.
func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Stop sends sig to the process holding the lock of pidfile, if any, and
// waits until the lock is released and then until the process has exited,
// polling every 20ms at most. If the process
// still holds it after timeout (zero or negative means DefaultTimeout) and
// sig was not SIGKILL, it sends SIGKILL and waits again. A process not
// running is not an error: the result says WasRunning false.
//
// Stop only signals a PID read from a file whose lock is held at that
// moment, never PID 0 or 1 and never the calling process.
func Stop(pidfile string, sig syscall.Signal, timeout time.Duration) (StopResult, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pid, running, err := Probe(pidfile)
	if err != nil {
		return StopResult{}, fmt.Errorf("stop: %w", err)
	}
	if !running {
		return StopResult{}, nil
	}
	res := StopResult{PID: pid, WasRunning: true}
	born := startTime(pid)
	if err := signalPID(pid, sig); err != nil {
		return res, fmt.Errorf("stop %s: %w", pidfile, err)
	}
	if waitReleased(pidfile, pid, timeout) {
		waitExited(pid, born, timeout)
		return res, nil
	}
	if sig != syscall.SIGKILL {
		// Signal again only the process that still holds the lock.
		if cur, running, err := Probe(pidfile); err == nil && running && cur == pid {
			if err := signalPID(pid, syscall.SIGKILL); err != nil {
				return res, fmt.Errorf("stop %s: %w", pidfile, err)
			}
			res.Killed = true
		}
		if waitReleased(pidfile, pid, max(timeout, reapWait)) {
			waitExited(pid, born, max(timeout, reapWait))
			return res, nil
		}
	}
	return res, fmt.Errorf("stop %s: pid %d still holds the lock after SIGKILL", pidfile, pid)
}

// Signal sends sig to the process holding the lock of pidfile and returns
// its PID. Like Stop, it signals only a PID read from a file whose lock is
// held at that moment, never PID 0 or 1 and never the calling process; if
// no live process holds the file, the error wraps ErrNotRunning and nothing
// is signalled. A process that exits between the check and the signal is
// not an error: the caller sees it gone with WaitReleased.
func Signal(pidfile string, sig syscall.Signal) (pid int, err error) {
	pid, running, err := Probe(pidfile)
	switch {
	case err != nil:
		return 0, fmt.Errorf("signal: %w", err)
	case !running:
		return 0, fmt.Errorf("signal: %w: no process holds %s", ErrNotRunning, pidfile)
	}
	if err := signalPID(pid, sig); err != nil {
		return pid, fmt.Errorf("signal %s: %w", pidfile, err)
	}
	return pid, nil
}

// WaitReleased waits until process pid no longer holds pidfile (the file is
// unlocked or gone, or another process holds it), or timeout passes (zero
// or negative means DefaultTimeout). It reports whether pid let go. It
// polls, every millisecond at first and every 20ms after a while, so that
// a caller timing a hand-over (a hot reload) loses little.
func WaitReleased(pidfile string, pid int, timeout time.Duration) bool {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return waitReleased(pidfile, pid, timeout)
}

// Polling intervals of waitReleased: it starts at the first and doubles up
// to the second.
const (
	pollMin = time.Millisecond
	pollMax = 20 * time.Millisecond
)

// waitReleased polls pidfile until process pid no longer holds it (it is
// unlocked, or another process holds it) or d passes. It reports whether
// pid is gone.
func waitReleased(pidfile string, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	poll := pollMin
	for {
		cur, running, err := Probe(pidfile)
		if err == nil && (!running || cur != pid) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(poll, left))
		poll = min(2*poll, pollMax)
	}
}

// waitExited waits, up to d, until process pid (started at born, as
// startTime reports) has exited. A server releases its PID file in its
// last deferred calls, so it still runs for a moment after the lock is
// free: Stop waits for that too, so that its caller sees the process gone.
// A zombie counts as exited (an orphan is reaped by whoever adopted it),
// and so does another process that got the PID since. After d it gives up
// quietly: the process no longer holds its PID file.
func waitExited(pid int, born string, d time.Duration) {
	deadline := time.Now().Add(d)
	poll := pollMin
	for !exited(pid, born) && time.Now().Before(deadline) {
		time.Sleep(min(poll, time.Until(deadline)))
		poll = min(2*poll, pollMax)
	}
}

// procStat returns the state and the start time (in clock ticks since
// boot) of process pid from /proc/PID/stat, and whether they could be read.
func procStat(pid int) (state, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", false
	}
	// The fields follow the parenthesised command name: state is the 3rd
	// field of the line, start time the 22nd.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

// startTime returns the start time of process pid, or "" where there is
// no /proc.
func startTime(pid int) string {
	_, start, _ := procStat(pid)
	return start
}

// exited reports whether process pid, started at born ("" if unknown), is
// gone, a zombie, or replaced by another process with the same PID.
func exited(pid int, born string) bool {
	if state, start, ok := procStat(pid); ok {
		return state == "Z" || state == "X" || (born != "" && start != born)
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// signalPID sends sig to pid after checking that it is a PID that may be
// signalled. A process that is already gone is not an error.
func signalPID(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	if pid == os.Getpid() {
		return fmt.Errorf("refusing to signal pid %d: it is this process", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("send %v to pid %d: %w", sig, pid, err)
	}
	return nil
}
