package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// ErrNotConnected is returned by Link.Send while the link is down.
var ErrNotConnected = errors.New("rpc: link to dispatcher is down")

// LinkConfig configures a Link.
type LinkConfig struct {
	// Addr is the dispatcher's address.
	Addr string
	// Role and ID say who we are in MsgHello.
	Role Role
	ID   uint16
	// Conn configures each connection the link makes.
	Conn ConnConfig
	// OnConnect runs after the dispatcher acknowledged MsgHello, once the
	// connection is current (Send uses it), and before any frame is
	// handled: the place to re-register state.
	OnConnect func(c *Conn)
	// Handler handles the dispatcher's frames (on the link's goroutine).
	Handler Handler
	// OnDisconnect runs when a connection ends, with its reason.
	OnDisconnect func(reason error)
	// Logger receives connect/disconnect logs.
	Logger logrus.FieldLogger
}

// Link keeps a connection to one dispatcher up: it dials, says hello,
// serves frames and, when the connection drops, dials again with backoff
// (100 ms doubling to 5 s) until its context ends.
type Link struct {
	cfg       LinkConfig
	mu        sync.Mutex
	cur       *Conn
	connected chan struct{} // closed at the first successful hello
	once      sync.Once
}

// NewLink returns a Link; call Run to start it.
func NewLink(cfg LinkConfig) *Link {
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Link{cfg: cfg, connected: make(chan struct{})}
}

// Connected is closed once the first connection has been established.
func (l *Link) Connected() <-chan struct{} { return l.connected }

// Conn returns the current connection, or nil while down.
func (l *Link) Conn() *Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Send queues a frame on the current connection.
func (l *Link) Send(t MsgType, body []byte) error {
	c := l.Conn()
	if c == nil {
		return ErrNotConnected
	}
	return c.Send(t, body)
}

// Append appends frames built by fn on the current connection (see Conn.Append).
func (l *Link) Append(fn func([]byte) []byte) error {
	c := l.Conn()
	if c == nil {
		return ErrNotConnected
	}
	return c.Append(fn)
}

// Run keeps the link up until ctx is done. It returns ctx's error.
func (l *Link) Run(ctx context.Context) error {
	log := l.cfg.Logger.WithField("dispatcher_addr", l.cfg.Addr)
	backoff := 100 * time.Millisecond
	for {
		err := l.runOnce(ctx, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			log.WithError(err).Warnf("dispatcher link down; reconnecting in %v", backoff)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		if err == nil {
			backoff = 100 * time.Millisecond
		}
	}
}

// runOnce makes one connection and serves it until it ends. It returns
// nil if a connection was established (and later lost).
func (l *Link) runOnce(ctx context.Context, log logrus.FieldLogger) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	nc, err := d.DialContext(dctx, "tcp", l.cfg.Addr)
	cancel()
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := NewConn(nc, l.cfg.Conn)
	stop := context.AfterFunc(ctx, func() { c.Close(ctx.Err()) })
	defer stop()
	defer c.Wait()

	hello := AppendUint16([]byte{byte(l.cfg.Role)}, l.cfg.ID)
	c.Send(MsgHello, hello)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	t, _, err := c.ReadFrame()
	if err != nil || t != MsgHelloAck {
		c.Close(nil)
		if err == nil {
			err = fmt.Errorf("rpc: expected HelloAck, got %v", t)
		}
		return fmt.Errorf("hello: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	// Publish c before OnConnect, so that what OnConnect starts (a game
	// posting its re-registration) can already send through the link.
	l.mu.Lock()
	l.cur = c
	l.mu.Unlock()
	if l.cfg.OnConnect != nil {
		l.cfg.OnConnect(c)
	}
	l.once.Do(func() { close(l.connected) })
	log.Info("connected to dispatcher")

	reason := c.Serve(l.cfg.Handler)

	l.mu.Lock()
	if l.cur == c {
		l.cur = nil
	}
	l.mu.Unlock()
	if ctx.Err() == nil {
		log.WithField("reason", reason).Warn("disconnected from dispatcher")
	}
	if l.cfg.OnDisconnect != nil {
		l.cfg.OnDisconnect(reason)
	}
	return nil
}
