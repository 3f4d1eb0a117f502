//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package storage

import (
	"os"
	"syscall"
)

// unlockFile releases the flock bbolt took on f. Closing f alone does not
// when bbolt left a memory map of it behind (a panic while opening): the
// mapping keeps the open file, and with it the lock.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
