// Package procstat reads what Linux's /proc says about a process: CPU
// time, resident memory and time spent waiting for a CPU. The benchmarks
// of the examples use it to charge CPU and memory to each server process
// they start; on other systems every function returns ErrUnsupported.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupported is returned on systems without a Linux /proc.
var ErrUnsupported = errors.New("procstat: needs Linux /proc")

// Tick is the unit of CPUTicks: 1/USER_HZ, which is 100 Hz on Linux for
// every architecture Go supports.
const Tick = 10 * time.Millisecond

// CPUTicks returns utime+stime of pid in clock ticks (see Tick), from
// /proc/PID/stat.
func CPUTicks(pid int) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, ErrUnsupported
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold anything,
	// spaces and ")" included: the fields after it start after the last ")".
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: malformed /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("procstat: /proc/%d/stat: %w", pid, err)
	}
	return ut + st, nil
}

// CPU is CPUTicks as a duration.
func CPU(pid int) (time.Duration, error) {
	t, err := CPUTicks(pid)
	return time.Duration(t) * Tick, err
}

// RSSKB returns VmRSS of pid in KiB, from /proc/PID/status.
func RSSKB(pid int) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, ErrUnsupported
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("procstat: no VmRSS in /proc/%d/status", pid)
}

// Syscalls returns how many read-like and write-like system calls pid
// has made (syscr and syscw of /proc/PID/io: read, readv, recvmsg...;
// write, writev, sendmsg...), so that a benchmark can count what a
// server's sockets cost it in calls.
func Syscalls(pid int) (reads, writes int64, err error) {
	if runtime.GOOS != "linux" {
		return 0, 0, ErrUnsupported
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || (k != "syscr" && k != "syscw") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("procstat: /proc/%d/io: %w", pid, err)
		}
		if k == "syscr" {
			reads = n
		} else {
			writes = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("procstat: no syscr and syscw in /proc/%d/io", pid)
	}
	return reads, writes, nil
}

// RunqWait returns how long the threads of pid have been runnable but
// waiting for a CPU (the second field of /proc/PID/task/TID/schedstat),
// summed over the threads alive now. On a shared machine it tells stalls
// caused by other load apart from stalls of the process's own. It is 0
// where schedstat is missing.
func RunqWait(pid int) time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		if f := strings.Fields(string(data)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}
