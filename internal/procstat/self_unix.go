//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// SelfCPU returns the calling process's own CPU time (user + system).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
