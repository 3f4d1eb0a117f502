package gate

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/wsconn"
)

// closeLinger bounds how long a stream client (TCP or WebSocket) that the
// gate closes keeps its socket: after the gate's last bytes (a kick, say)
// and its end of the stream, the gate reads and drops what the client
// still sends until the client closes its side, or for this long.
//
// Closing at once instead loses the kick: a socket closed with unread
// input sends a reset, and a reset that reaches the client before it has
// read the kick makes its kernel report "connection reset by peer" and
// drop the kick. A client kicked for flooding always has unread input.
const closeLinger = time.Second

// maxLingerDrain bounds the bytes the gate reads and drops from one client
// during closeLinger: a client that sends more is closed at once.
const maxLingerDrain = 256 << 10

// drainBufs holds the buffers lingering closes read into.
var drainBufs = sync.Pool{New: func() any { return new([4096]byte) }}

// lingerConn is a client connection whose end takes time after the gate
// decides it: a stream whose close lingers until the client has read the
// last bytes (see closeLinger), a KCP session that lingers so that a lost
// kick is resent. Close stops the reader at once (reads time out) and
// runs finish, which ends the connection, on a goroutine that the gate's
// WaitGroup tracks, so that closing a client never blocks the goroutine
// that closes it (a dispatcher link kicking a slow consumer, say). finish
// must return promptly once g.closing is done.
type lingerConn struct {
	net.Conn
	g      *Gate
	finish func()
	// release, if set, runs once finish has closed the socket: it
	// uncounts the connection (max_clients_per_ip).
	release func()
	// control, for a WebSocket client, charges a control message (a ping
	// or pong, payload bytes) to the client; false: do not answer it. Set
	// before the reader starts; called on the reader goroutine only.
	control func(n int) bool

	mu     sync.Mutex
	closed bool
	reads  int           // Reads under way
	quiet  chan struct{} // made by Close; closed once no Read is under way
}

// Read reads from the connection, unless Close has ended reading.
func (c *lingerConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	c.reads++
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.reads--; c.reads == 0 && c.closed {
		close(c.quiet)
	}
	c.mu.Unlock()
	return n, err
}

// SetReadDeadline sets the read deadline, unless Close has expired it for
// good.
func (c *lingerConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// Close makes pending and later reads fail, starts finish and returns
// nil. Only the first call has an effect.
func (c *lingerConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.quiet = make(chan struct{})
	if c.reads == 0 {
		close(c.quiet)
	}
	// The client's reader goroutine (or, for a refused client, the one
	// that waits for its close) holds a count of the WaitGroup until the
	// rpc.Conn's Done is closed, which is after this Add: it cannot race
	// with Gate.Close's Wait.
	c.g.wg.Add(1)
	c.g.lingers.Add(1)
	c.Conn.SetReadDeadline(time.Now())
	c.mu.Unlock()
	go func() {
		defer c.g.wg.Done()
		c.finish()
		if c.release != nil {
			c.release()
		}
		if c.g.lingers.Add(-1) == 0 {
			c.g.poke()
		}
	}()
	return nil
}

// lingeringClose ends the stream nc (c's own socket, or what it wraps)
// once the reader has left c: it ends the gate's side of the stream,
// reads and drops what the client sends until the client closes its side,
// maxLingerDrain bytes or closeLinger have passed, or the gate closes, and
// closes nc.
func (c *lingerConn) lingeringClose(nc net.Conn) {
	g := c.g
	defer nc.Close()
	select {
	case <-c.quiet: // the reader's deadline has passed: it leaves at once
	case <-g.closing.Done():
		return
	}
	if hc, ok := nc.(interface{ CloseWrite() error }); ok {
		hc.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(closeLinger))
	stop := context.AfterFunc(g.closing, func() { nc.SetReadDeadline(time.Now()) })
	defer stop()
	buf := drainBufs.Get().(*[4096]byte)
	defer drainBufs.Put(buf)
	for n := 0; n < maxLingerDrain; {
		m, err := nc.Read(buf[:])
		if err != nil {
			return
		}
		n += m
	}
}

// newStreamConn wraps nc, a stream client connection, so that its close
// lingers (see lingeringClose).
func (g *Gate) newStreamConn(nc net.Conn) *lingerConn {
	c := &lingerConn{Conn: nc, g: g}
	c.finish = func() { c.lingeringClose(nc) }
	return c
}

// tcpConn is a TCP client connection whose close lingers (see
// closeLinger). Its socket stays reachable (rpc.RawSocketer), so that
// rpc.Conn still writes it without a writer goroutine.
type tcpConn struct {
	*lingerConn
	tcp *net.TCPConn
}

// RawSocket returns the TCP socket.
func (c tcpConn) RawSocket() syscall.Conn { return c.tcp }

// newTCPConn wraps the server side of one TCP client.
func (g *Gate) newTCPConn(tc *net.TCPConn, release func()) net.Conn {
	lc := g.newStreamConn(tc)
	lc.release = release
	return tcpConn{lc, tc}
}

// newTLSConn wraps the server side of one TCP client of a TLS port. The
// handshake happens at the first read, bounded like any read by the
// heartbeat timeout. Its close lingers too: after the TLS close_notify,
// what the client still sends is read and dropped (see closeLinger).
func (g *Gate) newTLSConn(tc *net.TCPConn, release func()) net.Conn {
	lc := g.newStreamConn(tls.Server(tc, g.tlsConf))
	lc.release = release
	return lc
}

// newWSConn wraps the server side of one WebSocket client: its Close
// stops the reader at once, sends the close message (waiting up to
// wsLinger for room) and closes the socket as lingeringClose does; a gate
// that is closing closes the socket at once.
func (g *Gate) newWSConn(ws *websocket.Conn) net.Conn {
	c := wsconn.NewServer(ws)
	lc := &lingerConn{Conn: c, g: g}
	// Control messages cost the gate as much as frames (one connection
	// once had 235,000 pings a second answered), so they count against
	// the client's rate limits (startClient sets control); and a pong
	// waits for a full socket, or for the lock of a write under way, as
	// long as any write (wsPongTimeout), not gorilla's 1 s, after which a
	// pong was dropped, or the client closed without a word.
	ws.SetPingHandler(func(data string) error {
		if lc.control != nil && !lc.control(len(data)) {
			return nil
		}
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wsPongTimeout))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	ws.SetPongHandler(func(data string) error {
		if lc.control != nil {
			lc.control(len(data))
		}
		return nil
	})
	lc.finish = func() {
		select {
		case <-g.closing.Done():
			c.CloseNow()
			return
		default:
		}
		c.SendClose(wsLinger)
		lc.lingeringClose(ws.NetConn())
	}
	if c.WritesInPlace() {
		return wsConn{lc, c}
	}
	return lc
}

// wsConn is a plain (not TLS) WebSocket client connection: rpc.Conn
// writes it in place (rpc.NoWaitWriter), without a writer goroutine
// unless the socket is full, as it writes a TCP client.
type wsConn struct {
	*lingerConn
	ws *wsconn.Conn
}

// lingerOf returns the lingerConn of a stream client's connection (TCP,
// TLS or WebSocket), nil for a KCP session.
func lingerOf(nc net.Conn) *lingerConn {
	switch c := nc.(type) {
	case *lingerConn:
		return c
	case tcpConn:
		return c.lingerConn
	case wsConn:
		return c.lingerConn
	}
	return nil
}

// WriteNoWait writes p as one WebSocket message, as much of it as the
// socket takes now (see wsconn.Conn.TryWrite).
func (c wsConn) WriteNoWait(p []byte) (int, error) { return c.ws.TryWrite(p) }
