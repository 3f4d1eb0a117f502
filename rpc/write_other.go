//go:build !unix

package rpc

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: writes in place are for unix systems; elsewhere a
// Batch hands every flush to the writer goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }

func writeNoWait(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("rpc: writes in place are not supported here")
}
