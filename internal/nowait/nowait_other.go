//go:build !unix

package nowait

import (
	"errors"
	"syscall"
)

// Supported reports whether writes in place work on this system.
const Supported = false

// Writer writes one socket in place; not on this system.
type Writer struct{}

// NewWriter returns a Writer whose writes fail.
func NewWriter(syscall.RawConn) *Writer { return &Writer{} }

// Write fails: writes in place are for unix systems.
func (*Writer) Write([]byte, []byte) (int, error) {
	return 0, errors.New("nowait: writes in place are not supported here")
}
