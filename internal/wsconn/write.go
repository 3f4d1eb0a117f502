package wsconn

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/nowait"
)

// A server Conn (NewServer) writes its frames itself instead of through
// gorilla: a binary message is a header (2 to 10 bytes; a server's frames
// are not masked) followed by the bytes written, so it can be written in
// place, without waiting, like a bare socket (WriteNoWait), and a write
// the socket takes only in part can be finished later by Write. Gorilla
// would need a goroutine per write for that: its writes wait for room.
//
// One frame on the wire at a time: a writer holds the wire (the token in
// serverWriter.wire) from a frame's first byte to its last, across a
// WriteNoWait that the socket took in part and the Write that finishes
// it. Control frames (pongs, the close message) take the wire too, so
// they go between data frames, never inside one. Gorilla itself writes
// nothing on a server Conn, except a close message after the peer broke
// the protocol, when the connection is ending anyway.

// maxHeader is the longest frame header a server writes: two bytes and a
// 64-bit length.
const maxHeader = 10

// errWriteTimeout is the error of a control write that found the wire
// busy until its deadline.
var errWriteTimeout = &timeoutError{msg: "websocket: write timeout"}

// serverWriter is the write side of a server Conn.
type serverWriter struct {
	nc  net.Conn       // the socket
	raw *nowait.Writer // nc's, for writes in place; nil: none (TLS)

	wire     chan struct{} // holds the token when the wire is free
	deadline atomic.Int64  // Write's deadline, Unix nanoseconds; 0: none

	dmu sync.Mutex // serialises data writers; guards what follows
	mid bool       // a data frame is partly written: its writer holds the wire
	hdr [maxHeader]byte
	// hdrLeft is the part of hdr not written yet, rest the bytes of the
	// frame's body not written yet (what the next Write starts with).
	hdrLeft []byte
	rest    int

	emu sync.Mutex
	err error // a failed write, or ErrCloseSent: every later write returns it
}

func newServerWriter(ws *websocket.Conn) *serverWriter {
	w := &serverWriter{nc: ws.NetConn(), wire: make(chan struct{}, 1)}
	w.wire <- struct{}{}
	if tc, ok := w.nc.(*net.TCPConn); ok && nowait.Supported {
		if rc, err := tc.SyscallConn(); err == nil {
			w.raw = nowait.NewWriter(rc)
		}
	}
	return w
}

// failed returns the error that ended writing, if any.
func (w *serverWriter) failed() error {
	w.emu.Lock()
	defer w.emu.Unlock()
	return w.err
}

// fail records err as the end of writing, unless one is recorded already,
// and returns the recorded one.
func (w *serverWriter) fail(err error) error {
	w.emu.Lock()
	defer w.emu.Unlock()
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// header returns the header of a binary message of n bytes, one frame.
func (w *serverWriter) header(n int) []byte {
	h := w.hdr[:]
	h[0] = 0x80 | websocket.BinaryMessage // FIN, binary
	switch {
	case n < 126:
		h[1] = byte(n)
		return h[:2]
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		return h[:4]
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		return h[:10]
	}
}

// writeNoWait sends p as one binary message, as much of it as the socket
// takes now; what it does not take, the next write finishes.
func (w *serverWriter) writeNoWait(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if w.raw == nil || w.mid {
		return 0, nil // Write does it, waiting
	}
	select {
	case <-w.wire:
	default:
		return 0, nil // a control frame is being written: Write waits for it
	}
	if err := w.failed(); err != nil {
		w.wire <- struct{}{}
		return 0, err
	}
	h := w.header(len(p))
	n, err := w.raw.Write(h, p)
	if err != nil {
		w.wire <- struct{}{}
		return 0, w.fail(err)
	}
	if n == len(h)+len(p) {
		w.wire <- struct{}{}
		return len(p), nil
	}
	// In part: the frame keeps the wire until Write finishes it.
	w.mid = true
	if n < len(h) {
		w.hdrLeft, w.rest = h[n:], len(p)
		return 0, nil
	}
	w.hdrLeft, w.rest = nil, len(h)+len(p)-n
	return n - len(h), nil
}

// write sends p: first, if a frame is partly written, the rest of it (p
// starts with it), then what is left of p as one binary message. It waits
// for room until the write deadline.
func (w *serverWriter) write(p []byte) (int, error) {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	whole := !w.mid // p holds no rest of a frame: all of it is a message, even empty
	if whole {
		if err := w.take(w.deadlineTime()); err != nil {
			return 0, err
		}
	}
	// The wire is ours now.
	if err := w.failed(); err != nil {
		w.mid = false
		w.release()
		return 0, err
	}
	w.nc.SetWriteDeadline(w.deadlineTime())
	done := 0
	if w.mid {
		k := min(w.rest, len(p))
		bufs := net.Buffers{w.hdrLeft, p[:k]}
		m, err := bufs.WriteTo(w.nc)
		wroteHdr := min(int(m), len(w.hdrLeft))
		w.hdrLeft = w.hdrLeft[wroteHdr:]
		body := int(m) - wroteHdr
		w.rest -= body
		done += body
		if err != nil {
			w.mid = false
			w.release()
			return done, w.fail(writeError(err))
		}
		if w.rest > 0 {
			return done, nil // p ended inside the frame: it keeps the wire
		}
		w.mid = false
	}
	if done < len(p) || whole {
		q := p[done:]
		bufs := net.Buffers{w.header(len(q)), q}
		m, err := bufs.WriteTo(w.nc)
		if err != nil {
			w.release()
			return done + max(int(m)-(len(bufs[0])), 0), w.fail(writeError(err))
		}
		done = len(p)
	}
	w.release()
	return done, nil
}

// control sends a control frame (a pong or the close message), waiting
// until deadline for the wire: after the data frame being written, if
// any.
func (w *serverWriter) control(op int, data []byte, deadline time.Time) error {
	if len(data) > 125 {
		return errors.New("websocket: control frame payload over 125 bytes")
	}
	if err := w.take(deadline); err != nil {
		return err
	}
	defer w.release()
	if err := w.failed(); err != nil {
		return err
	}
	frame := append([]byte{0x80 | byte(op), byte(len(data))}, data...)
	w.nc.SetWriteDeadline(deadline)
	if _, err := w.nc.Write(frame); err != nil {
		return w.fail(writeError(err))
	}
	if op == websocket.CloseMessage {
		w.fail(websocket.ErrCloseSent)
	}
	return nil
}

// take waits until deadline (zero: for ever) for the wire.
func (w *serverWriter) take(deadline time.Time) error {
	select {
	case <-w.wire:
		return nil
	default:
	}
	if deadline.IsZero() {
		<-w.wire
		return nil
	}
	d := time.Until(deadline)
	if d <= 0 {
		return errWriteTimeout
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.wire:
		return nil
	case <-t.C:
		return errWriteTimeout
	}
}

// release frees the wire.
func (w *serverWriter) release() { w.wire <- struct{}{} }

func (w *serverWriter) deadlineTime() time.Time {
	if ns := w.deadline.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (w *serverWriter) setDeadline(t time.Time) {
	if t.IsZero() {
		w.deadline.Store(0)
		return
	}
	w.deadline.Store(t.UnixNano())
}

// writeError keeps a deadline's error as net.Conn promises it (wrapping
// os.ErrDeadlineExceeded) and everything else as it is.
func writeError(err error) error {
	if terr := deadlineError(err); terr != nil {
		return terr
	}
	return err
}
