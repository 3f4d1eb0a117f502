// Package wsconn runs goworld's byte stream over a WebSocket, so that the
// frame layer (package rpc) serves browser and other WebSocket clients
// exactly as it serves TCP and KCP ones.
//
// A Conn is a net.Conn over a github.com/gorilla/websocket connection:
//
//   - Write sends its bytes as one binary message. A goworld writer writes
//     whole frames, so a message holds one or more whole frames. On a
//     server Conn written in place (NewServer, TryWrite), a message the
//     socket took only in part is finished by the next Write, whose other
//     bytes go as a message of their own.
//   - Read returns the payloads of the binary messages the peer sends,
//     one after another, as one stream: a peer may put one frame in each
//     message (what a browser client naturally does), several, or split a
//     frame over messages. A text message is a protocol error
//     (ErrTextMessage).
//   - A close message from the peer reads as io.EOF (normal closure,
//     going away, or no status), as does a socket that ends without one;
//     other close codes read as an error that names the code.
//   - A deadline's error, reading or writing, is a net.Error whose
//     Timeout is true and which wraps os.ErrDeadlineExceeded, as
//     net.Conn promises (gorilla's own errors do not wrap it).
//   - Close sends a close message (code 1000), waiting at most
//     CloseTimeout for room to write it, then closes the socket.
//
// The package is shared by the gate and the Go client; it knows nothing
// of frames or entities.
package wsconn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// ErrTextMessage is returned by Read when the peer sends a text message:
// goworld's protocol is binary. It is the peer's fault (rpc.PeerFault),
// so a gate tells the client before closing.
var ErrTextMessage error = peerFault("websocket: text message received; goworld speaks binary messages only")

// peerFault is an error that is the peer's fault (see rpc.PeerFault).
type peerFault string

func (e peerFault) Error() string { return string(e) }

// PeerFault reports that the peer broke the protocol.
func (peerFault) PeerFault() bool { return true }

// CloseTimeout bounds how long Close waits to write its close message.
const CloseTimeout = 100 * time.Millisecond

// Conn is a net.Conn over a WebSocket connection (see the package
// documentation). One goroutine may read while another writes, as with
// any net.Conn; Close and the deadline setters may be called from any
// goroutine.
type Conn struct {
	ws   *websocket.Conn
	r    io.Reader     // the current message; nil between messages
	rerr error         // a failed read: every later Read returns it
	w    *serverWriter // a server's own writes (NewServer); nil: gorilla's
}

// New wraps ws, either side of a WebSocket: gorilla writes its messages.
// The Conn owns ws from now on.
func New(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// NewServer wraps ws, the server side of a WebSocket, and writes its
// messages itself (see write.go): on a plain TCP socket it can then
// write in place, without waiting (TryWrite). It answers pings and the
// peer's close message as gorilla would, through its own writes; a
// handler set later with ws.SetPingHandler must answer with
// Conn.WriteControl, never ws.WriteControl. The Conn owns ws from now on.
func NewServer(ws *websocket.Conn) *Conn {
	c := &Conn{ws: ws, w: newServerWriter(ws)}
	ws.SetPingHandler(func(data string) error {
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		// What gorilla's default handler does, through this Conn's writes.
		msg := websocket.FormatCloseMessage(code, "")
		c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		return nil
	})
	return c
}

// WritesInPlace reports whether TryWrite can write without waiting: a
// server Conn (NewServer) on a plain TCP socket, on a unix system.
func (c *Conn) WritesInPlace() bool { return c.w != nil && c.w.raw != nil }

// TryWrite sends p as one binary message without waiting for room: it
// writes what the socket takes now and returns how much of p that was
// (0 if the Conn does not write in place, see WritesInPlace). If it took
// only a part, the message is unfinished: the next Write must start with
// the rest of p, and finishes the message before anything else is sent.
// It implements rpc.NoWaitWriter for the gate's connections.
func (c *Conn) TryWrite(p []byte) (int, error) {
	if c.w == nil {
		return 0, nil
	}
	return c.w.writeNoWait(p)
}

// WriteControl sends a control message (a ping, pong or close message,
// at most 125 bytes of data), waiting until deadline for the message
// being written, if any, to be done.
func (c *Conn) WriteControl(messageType int, data []byte, deadline time.Time) error {
	if c.w != nil {
		return c.w.control(messageType, data, deadline)
	}
	return c.ws.WriteControl(messageType, data, deadline)
}

// WebSocket returns the underlying connection.
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }

// Read reads the next bytes of the stream the peer's binary messages
// carry. It blocks only while no message has data to give.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, c.rerr
	}
	for c.rerr == nil {
		if c.r == nil {
			t, r, err := c.ws.NextReader()
			if err != nil {
				// gorilla's errors are permanent, and it panics after many
				// reads of a failed connection: keep ours.
				c.rerr = readError(err)
				break
			}
			if t != websocket.BinaryMessage {
				c.rerr = ErrTextMessage
				break
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil // the message is done; an empty one gives nothing
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			c.rerr = readError(err)
			return n, c.rerr
		}
		return n, nil
	}
	return 0, c.rerr
}

// readError turns the close of a well-behaved peer into io.EOF, a
// deadline's error into one that wraps os.ErrDeadlineExceeded, and keeps
// everything else as it is.
func readError(err error) error {
	if err := deadlineError(err); err != nil {
		return err
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived,
			websocket.CloseAbnormalClosure: // 1006: the socket ended without a close message
			return io.EOF
		}
		return fmt.Errorf("websocket: peer closed with code %d (%s)", ce.Code, ce.Text)
	}
	return err
}

// timeoutError is a deadline's error: gorilla replaces the socket's
// error, which wraps os.ErrDeadlineExceeded, with its own that does not;
// this one keeps gorilla's message and wraps it again.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// Timeout reports true: the error is a deadline's.
func (*timeoutError) Timeout() bool { return true }

// Temporary reports true, as the socket's own deadline error does.
func (*timeoutError) Temporary() bool { return true }

func (*timeoutError) Unwrap() error { return os.ErrDeadlineExceeded }

// deadlineError returns err as a *timeoutError if it is a deadline's
// error that does not wrap os.ErrDeadlineExceeded, err itself if it does,
// and nil if it is not a deadline's error.
func deadlineError(err error) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return &timeoutError{msg: err.Error()}
}

// Write sends p as one binary message (on a server Conn whose TryWrite
// left a message unfinished, p starts with its rest, and what follows is
// a message of its own).
func (c *Conn) Write(p []byte) (int, error) {
	if c.w != nil {
		return c.w.write(p)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, writeError(err)
	}
	return len(p), nil
}

// Close sends a close message (waiting at most CloseTimeout) and closes
// the socket.
func (c *Conn) Close() error { return c.CloseWithin(CloseTimeout) }

// CloseWithin sends a close message with code 1000, waiting at most d
// for room to write it, and closes the socket.
func (c *Conn) CloseWithin(d time.Duration) error {
	c.SendClose(d)
	return c.ws.Close()
}

// SendClose sends a close message with code 1000, waiting at most d for
// room to write it, and leaves the socket open: the caller closes it
// (through WebSocket().NetConn()) once the peer has had time to answer.
func (c *Conn) SendClose(d time.Duration) error {
	return c.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(d))
}

// IsURL reports whether addr is a WebSocket URL (ws:// or wss://, in any
// case) rather than a host:port.
func IsURL(addr string) bool {
	a := strings.ToLower(addr)
	return strings.HasPrefix(a, "ws://") || strings.HasPrefix(a, "wss://")
}

// CloseNow closes the socket without a close message.
func (c *Conn) CloseNow() error { return c.ws.Close() }

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the socket's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.ws.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read (a timeout ends the
// connection for reading, as gorilla's reads cannot resume).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.w != nil {
		c.w.setDeadline(t)
		return nil
	}
	return c.ws.SetWriteDeadline(t)
}
