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

// writeNoWait writes as much of buf as the socket takes now, without
// waiting for room. It returns how much was written; a full socket is
// not an error.
func writeNoWait(rc syscall.RawConn, buf []byte) (n int, err error) {
	werr := rc.Write(func(fd uintptr) bool {
		for n < len(buf) {
			m, e := syscall.Write(int(fd), buf[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return true
			case e != nil:
				err = e
				return true
			case m <= 0:
				return true
			}
		}
		return true // done, or stop: never wait in the poller
	})
	if err == nil {
		err = werr
	}
	return n, err
}
