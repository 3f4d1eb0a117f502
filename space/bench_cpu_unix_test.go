//go:build unix

package space

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used (user and system).
// On a machine shared with other jobs it tells what a benchmark cost,
// without the time it waited for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
