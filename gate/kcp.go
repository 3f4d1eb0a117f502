package gate

import (
	"net"
	"sync"
	"time"

	kcp "github.com/xtaci/kcp-go/v5"
)

// kcpLinger is how long a KCP session that the gate closes stays open
// before it is torn down. KCP has no close handshake, and kcp-go's Close
// sends what is queued once, without retransmission: a MsgKick lost then
// would never reach the client. While the session lingers, KCP retransmits
// the unacknowledged kick (the first resend on a new session comes after
// 200 ms, later ones sooner), and the client's ACK lands in this session
// rather than opening a stray new one.
const kcpLinger = time.Second

// newKCPConn wraps the server side of one KCP client session: its Close
// stops the reader at once and tears the session down after kcpLinger, or
// as soon as the gate closes.
func (g *Gate) newKCPConn(s *kcp.UDPSession) net.Conn {
	return &lingerConn{Conn: s, g: g, finish: func() {
		t := time.NewTimer(kcpLinger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-g.closing:
		}
		s.Close()
	}}
}

// lingerConn is a client connection whose end takes time after the gate
// decides it: a KCP session that lingers so that a lost kick is resent, a
// WebSocket that sends its close message. Close stops the reader at once
// (reads time out) and runs finish, which ends the connection, on a
// goroutine that the gate's WaitGroup tracks, so that closing a client
// never blocks the goroutine that closes it (a dispatcher link kicking a
// slow consumer, say). finish must return promptly once g.closing is
// closed.
type lingerConn struct {
	net.Conn
	g      *Gate
	finish func()

	mu     sync.Mutex
	closed bool
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
	// The client's reader goroutine (or, for a refused client, the one
	// that waits for its close) holds a count of the WaitGroup until its
	// read fails or the rpc.Conn's Done is closed, both after this Add:
	// it cannot race with Gate.Close's Wait.
	c.g.wg.Add(1)
	c.Conn.SetReadDeadline(time.Now())
	c.mu.Unlock()
	go func() {
		defer c.g.wg.Done()
		c.finish()
	}()
	return nil
}
