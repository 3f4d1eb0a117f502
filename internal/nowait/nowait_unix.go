//go:build unix

package nowait

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether writes in place work on this system.
const Supported = true

// Writer writes one socket in place. Its Write makes no allocation (a
// closure passed to RawConn.Write on every call would make two or
// three). One goroutine at a time may call Write.
type Writer struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // w.write, bound once
	a, b []byte
	n    int
	err  error
}

// NewWriter returns a Writer of the socket rc is the raw connection of.
func NewWriter(rc syscall.RawConn) *Writer {
	w := &Writer{rc: rc}
	w.fn = w.write
	return w
}

// Write writes as much of a and then b as the socket takes now, without
// waiting for room, and returns how many bytes it wrote (of a and b
// together, a first). A full socket is not an error. With b empty it is
// one write(2); otherwise one writev(2), so that a header and its body
// leave in one segment without being copied together.
func (w *Writer) Write(a, b []byte) (int, error) {
	w.a, w.b, w.n, w.err = a, b, 0, nil
	werr := w.rc.Write(w.fn)
	n, err := w.n, w.err
	w.a, w.b, w.err = nil, nil, nil // keep no buffer
	if err == nil {
		err = werr
	}
	return n, err
}

// write is the function RawConn.Write calls with the socket.
func (w *Writer) write(fd uintptr) bool {
	a, b := w.a, w.b
	total := len(a) + len(b)
	for w.n < total {
		var m int
		var e error
		switch n := w.n; {
		case n >= len(a):
			m, e = syscall.Write(int(fd), b[n-len(a):])
		case len(b) == 0:
			m, e = syscall.Write(int(fd), a[n:])
		default:
			m, e = writev2(fd, a[n:], b)
		}
		if m > 0 {
			w.n += m
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true
		case e != nil:
			w.err = e
			return true
		case m <= 0:
			return true
		}
	}
	return true // done, or stop: never wait in the poller
}

// writev2 is writev(2) of two non-empty buffers, with the vector on the
// stack (unix.Writev allocates one per call).
func writev2(fd uintptr, a, b []byte) (int, error) {
	var iov [2]unix.Iovec
	iov[0].Base, iov[1].Base = &a[0], &b[0]
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	r, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
