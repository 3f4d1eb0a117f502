//go:build linux || darwin

package proc

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// SignalReady tells the process that started this one that it is ready: if
// the environment variable GOWORLD_READY_FD names an inherited file
// descriptor (3 or above) that is a pipe, it writes the READY line for info
// to it, closes it and unsets the variable. Without the variable it does nothing. A zero
// info.PID is replaced by the process's own PID.
func SignalReady(info ReadyInfo) error {
	v, ok := os.LookupEnv(ReadyFDEnv)
	if !ok || v == "" {
		return nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("signal ready: %s=%q is not a file descriptor number of 3 or above", ReadyFDEnv, v)
	}
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	line, err := formatReady(info)
	if err != nil {
		return fmt.Errorf("signal ready: %w", err)
	}
	// Whatever happens next, the descriptor is used up: never write to it
	// twice, nor let child processes think they have one.
	os.Unsetenv(ReadyFDEnv)
	// A descriptor that is not a pipe was not passed by a starter (perhaps
	// the variable was exported by hand): leave it alone.
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("signal ready: %s=%d: %w", ReadyFDEnv, fd, err)
	}
	if int(st.Mode)&syscall.S_IFMT != syscall.S_IFIFO {
		return fmt.Errorf("signal ready: %s=%d: not a pipe", ReadyFDEnv, fd)
	}
	f := os.NewFile(uintptr(fd), "ready-pipe")
	_, werr := f.Write(line)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("signal ready: write fd %d: %w", fd, werr)
	}
	if cerr != nil {
		return fmt.Errorf("signal ready: close fd %d: %w", fd, cerr)
	}
	return nil
}
