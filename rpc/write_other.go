//go:build !unix

package rpc

import (
	"net"
	"syscall"
)

// rawConn returns nil: writes in place are for unix systems; elsewhere a
// Batch hands every flush to the writer goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }
