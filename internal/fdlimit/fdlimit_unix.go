//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fdlimit

import "syscall"

func raise() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			r = want
		}
		// On macOS the hard limit may be RLIM_INFINITY, which the kernel
		// refuses as a soft limit: keep the current one (Go's runtime
		// has already raised it to what the kernel allows).
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return uint64(r.Cur), true
}
