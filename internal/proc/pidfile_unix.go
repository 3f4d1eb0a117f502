//go:build linux || darwin

package proc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PIDFile is a PID file held locked by the running process. The lock, an
// exclusive flock(2) on the open file, is what marks the process as alive;
// the operating system releases it when the process exits in any way.
type PIDFile struct {
	mu   sync.Mutex
	path string
	f    *os.File // nil once released
}

// heldPIDFiles keeps every unreleased PIDFile reachable: if one were
// garbage collected, its file would be closed and the lock silently lost.
var heldPIDFiles sync.Map // *PIDFile -> struct{}

// Retries of AcquirePIDFile when the lock is taken. Probe holds a shared
// lock for a few microseconds, which must not make a starting process
// believe another copy runs.
const (
	lockAttempts   = 5
	lockRetryDelay = 2 * time.Millisecond
)

// AcquirePIDFile creates the directory of path if needed, opens or creates
// the file, locks it exclusively without blocking and writes the process ID
// into it. If another live process holds the lock, the error wraps
// ErrAlreadyRunning and names that process's PID. The file stays open
// (close-on-exec) and locked until Release or the process's exit.
func AcquirePIDFile(path string) (*PIDFile, error) {
	if path == "" {
		return nil, errors.New("pid file: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	// Another process releasing the file removes it before unlocking; if
	// we locked the removed file, the path now names another (or no) file
	// and we start over.
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
		if err := lockExclusive(f); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				err = fmt.Errorf("%w: %s is locked by another process", ErrAlreadyRunning, path)
				if pid, perr := readPID(f); perr == nil {
					err = fmt.Errorf("%w: %s is locked by pid %d", ErrAlreadyRunning, path, pid)
				}
			} else {
				err = fmt.Errorf("pid file: lock %s: %w", path, err)
			}
			f.Close()
			return nil, err
		}
		if !isSameFile(f, path) {
			f.Close()
			continue
		}
		if err := setCloseOnExec(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file: %s: %w", path, err)
		}
		if err := writePID(f, os.Getpid()); err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file: write %s: %w", path, err)
		}
		p := &PIDFile{path: path, f: f}
		heldPIDFiles.Store(p, struct{}{})
		return p, nil
	}
	return nil, fmt.Errorf("pid file: %s keeps being replaced while it is locked", path)
}

// lockExclusive takes an exclusive lock on f without blocking, retrying a
// few times while another process holds it.
func lockExclusive(f *os.File) error {
	var err error
	for i := range lockAttempts {
		if i > 0 {
			time.Sleep(lockRetryDelay << (i - 1))
		}
		if err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
	}
	return err
}

// Path returns the path of the PID file.
func (p *PIDFile) Path() string { return p.path }

// Release removes the PID file, unlocks it and closes it. It is safe to
// call more than once; later calls do nothing.
func (p *PIDFile) Release() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.f
	if f == nil {
		return nil
	}
	p.f = nil
	defer heldPIDFiles.Delete(p)

	var errs []error
	// Remove before unlocking, so that no other process can lock the file
	// and then lose it to this removal. Only remove the file we hold.
	if isSameFile(f, p.path) {
		if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := flock(f, syscall.LOCK_UN); err != nil {
		errs = append(errs, fmt.Errorf("unlock %s: %w", p.path, err))
	}
	if err := f.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pid file: release: %w", err)
	}
	return nil
}

// Probe reports whether a live process holds the lock of the PID file at
// path and, if so, its PID. A missing file or an unlocked one (a stale file
// left by a killed process) is "not running", without error, whatever PID
// it contains. Probe takes a shared lock for a moment to test and releases
// it at once.
//
// If the file is locked but holds no valid PID, Probe returns running true
// with pid 0 and an error.
func Probe(path string) (pid int, running bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("probe: %w", err)
	}
	defer f.Close()
	err = flock(f, syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		if err := flock(f, syscall.LOCK_UN); err != nil {
			return 0, false, fmt.Errorf("probe: unlock %s: %w", path, err)
		}
		return 0, false, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return 0, false, fmt.Errorf("probe: lock %s: %w", path, err)
	}
	// Locked, so alive. The holder writes its PID right after locking:
	// give it a moment if the file is still empty.
	var perr error
	for i := range 10 {
		if i > 0 {
			time.Sleep(time.Millisecond << min(i, 5))
		}
		if pid, perr = readPID(f); perr == nil {
			return pid, true, nil
		}
	}
	return 0, true, fmt.Errorf("probe: %s is locked but holds no valid pid: %w", path, perr)
}

// flock calls flock(2) on f, retrying on EINTR.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// setCloseOnExec makes sure the descriptor of f is not inherited by
// programs the process executes (os.OpenFile already asks for it).
func setCloseOnExec(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { syscall.CloseOnExec(int(fd)) })
}

// isSameFile reports whether path still names the open file f.
func isSameFile(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(fi, pi)
}

func writePID(f *os.File, pid int) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0)
	return err
}

// readPID reads a positive decimal PID from the start of f.
func readPID(f *os.File) (int, error) {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0, err
	}
	s := strings.TrimSpace(string(buf[:n]))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("not a pid: %q", s)
	}
	return pid, nil
}
