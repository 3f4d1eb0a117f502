//go:build unix

package rpc

import (
	"net"
	"syscall"
)

// rawConn returns nc's raw connection for writes that must not wait, or
// nil if it has none (a KCP session) or is wrapped in something other
// than a RawSocketer.
func rawConn(nc net.Conn) syscall.RawConn {
	switch nc := nc.(type) {
	case RawSocketer:
		rc, _ := nc.RawSocket().SyscallConn()
		return rc
	case *net.TCPConn:
		rc, _ := nc.SyscallConn()
		return rc
	case *net.UnixConn:
		rc, _ := nc.SyscallConn()
		return rc
	}
	return nil
}
