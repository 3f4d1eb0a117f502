//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package fdlimit

func raise() (uint64, bool) { return 0, false }
