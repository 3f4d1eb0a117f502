// Package link keeps a game's or a gate's connection to one dispatcher
// up: it dials, says hello (with the cluster secret's challenge–response
// when there is one), serves frames, queues what is sent while the link
// is down and redials with jittered backoff. It is server machinery: the
// client library and the wire format (package rpc) do not depend on it,
// so a client does not link logrus.
package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// ErrNotConnected is returned by Link.Send while the link is down and the
// link keeps no queue (Config.QueueLimit 0).
var ErrNotConnected = errors.New("link: link to dispatcher is down")

// ErrQueueFull is returned by Link.Send while the link is down and its
// queue (Config.QueueLimit) has no room for the frame: it is dropped.
var ErrQueueFull = errors.New("link: link to dispatcher is down and its queue is full")

// Config configures a Link.
type Config struct {
	// Addr is the dispatcher's address.
	Addr string
	// Role and ID say who we are in MsgHello.
	Role rpc.Role
	ID   uint16
	// Conn configures each connection the link makes.
	Conn rpc.ConnConfig
	// Secret is the cluster secret (nil: none). With it, the hello is a
	// mutual challenge–response (see linkauth.go): the dispatcher must
	// prove it holds the same secret, or the link refuses it. Without it,
	// a dispatcher that asks for authentication refuses the link.
	Secret []byte
	// AuthStats, if set, counts the handshakes refused either way.
	AuthStats *rpc.LinkAuthStats
	// QueueLimit bounds the bytes of frames that Send and Append keep
	// while the link is down, to send first on the next connection to a
	// new dispatcher instance (one that restarted). Frames beyond it are
	// dropped (Send returns ErrQueueFull) and counted in the log. 0
	// keeps nothing: Send returns ErrNotConnected.
	QueueLimit int
	// OnConnect runs after the dispatcher acknowledged MsgHello and the
	// queue was sent, once the connection is current (Send uses it), and
	// before any frame is handled: the place to re-register state. same
	// reports that the dispatcher is the same instance (process) as on the
	// previous connection: it saw this peer leave and told the others so
	// (and the queue was dropped, see Config.QueueLimit). It is false
	// on the first connection and after the dispatcher restarted.
	OnConnect func(c *rpc.Conn, same bool)
	// Handler handles the dispatcher's frames (on the link's goroutine).
	Handler rpc.Handler
	// OnDisconnect runs when a connection ends, with its reason.
	OnDisconnect func(reason error)
	// Logger receives connect/disconnect logs.
	Logger logrus.FieldLogger
}

// Link keeps a connection to one dispatcher up: it dials, says hello,
// serves frames and, when the connection drops, dials again with capped,
// jittered exponential backoff (rpc.MinBackoff doubling to rpc.MaxBackoff) until
// its context ends. While it is down, what is sent through it waits in a
// bounded queue (Config.QueueLimit).
type Link struct {
	cfg       Config
	connected chan struct{} // closed at the first successful hello
	once      sync.Once
	instance  uint64 // the dispatcher instance of the last hello (runOnce only)

	mu      sync.Mutex
	cur     *rpc.Conn
	queue   []byte // whole frames sent while down, in order
	dropped int    // frames refused over QueueLimit since the link went down
}

// New returns a Link; call Run to start it.
func New(cfg Config) *Link {
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Link{cfg: cfg, connected: make(chan struct{})}
}

// Connected is closed once the first connection has been established.
func (l *Link) Connected() <-chan struct{} { return l.connected }

// Conn returns the current connection, or nil while down.
func (l *Link) Conn() *rpc.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Send queues a frame on the current connection or, while the link is
// down, in the link's own queue (see Config.QueueLimit).
func (l *Link) Send(t rpc.MsgType, body []byte) error {
	return l.Append(func(b []byte) []byte { return rpc.AppendFrame(b, t, body) })
}

// Append appends frames built by fn on the current connection (see
// rpc.Conn.Append) or, while the link is down, to the link's queue.
func (l *Link) Append(fn func([]byte) []byte) error { return l.AppendBatch(nil, fn) }

// AppendBatch is Append through a Batch (rpc.Batch.AppendLink): on the current connection, the frames
// wait for b's Flush (a nil b: none).
func (l *Link) AppendBatch(b *rpc.Batch, fn func([]byte) []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		if err := b.Append(l.cur, fn); err == nil || l.cfg.QueueLimit <= 0 {
			return err
		}
		// The connection is closing: keep the frames for the next one.
	}
	if l.cfg.QueueLimit <= 0 {
		return ErrNotConnected
	}
	n := len(l.queue)
	l.queue = fn(l.queue)
	if len(l.queue) > l.cfg.QueueLimit {
		l.queue = l.queue[:n]
		if l.dropped++; l.dropped == 1 || l.dropped%1000 == 0 {
			l.cfg.Logger.WithField("dispatcher_addr", l.cfg.Addr).Errorf(
				"dispatcher link down and its queue full (%d bytes): %d frames dropped so far", l.cfg.QueueLimit, l.dropped)
		}
		return ErrQueueFull
	}
	return nil
}

// Run keeps the link up until ctx is done. It returns ctx's error.
func (l *Link) Run(ctx context.Context) error {
	log := l.cfg.Logger.WithField("dispatcher_addr", l.cfg.Addr)
	backoff := rpc.MinBackoff
	failed := 0 // dials failed in a row
	for {
		err := l.runOnce(ctx, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff, failed = rpc.MinBackoff, 0 // it was up: start over
		}
		wait := rpc.Jitter(backoff)
		var refused *rpc.RefusedError
		switch {
		case errors.As(err, &refused):
			// Backoff bounds these lines: at most one per rpc.MaxBackoff/2
			// once it has grown.
			failed++
			log.WithError(err).Errorf("link handshake refused (attempt %d); redialling in %v", failed, wait.Round(time.Millisecond))
		case err != nil:
			failed++
			log.WithError(err).Warnf("dispatcher unreachable (attempt %d); redialling in %v", failed, wait.Round(time.Millisecond))
		default:
			log.Infof("redialling dispatcher in %v", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if err != nil {
			backoff = rpc.NextBackoff(backoff)
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
	c := rpc.NewConn(nc, l.cfg.Conn)
	stop := context.AfterFunc(ctx, func() { c.Close(ctx.Err()) })
	defer stop()
	defer c.Wait()

	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	inst, err := l.handshake(c)
	if err != nil {
		c.Close(nil)
		var refused *rpc.RefusedError
		if s := l.cfg.AuthStats; s != nil && errors.As(err, &refused) {
			if refused.ByDispatcher {
				s.RefusedByDispatcher.Add(1)
			} else {
				s.RefusedDispatcher.Add(1)
			}
		}
		return fmt.Errorf("hello: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	same := inst != 0 && inst == l.instance
	l.instance = inst
	// Send the queue, then publish c before OnConnect, so that what
	// OnConnect starts (a game posting its re-registration) can already
	// send through the link, after the queue.
	l.mu.Lock()
	queued, dropped := len(l.queue), l.dropped
	if !same && queued > 0 {
		c.SendFrame(l.queue)
	}
	l.queue, l.dropped = nil, 0
	l.cur = c
	l.mu.Unlock()
	entry := log.WithField("queued_bytes", queued)
	switch {
	case same && queued > 0:
		entry.Warn("connected to dispatcher again; it saw us leave, so what was queued meanwhile is dropped")
	case dropped > 0:
		entry.Errorf("connected to dispatcher; queue sent, %d frames over its limit were dropped", dropped)
	case queued > 0:
		entry.Info("connected to dispatcher; queue sent")
	default:
		log.Info("connected to dispatcher")
	}
	if l.cfg.OnConnect != nil {
		l.cfg.OnConnect(c, same)
	}
	l.once.Do(func() { close(l.connected) })

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

// handshake says hello on c and reads the dispatcher's answer: with a
// secret, the challenge–response of linkauth.go. It returns the
// dispatcher's instance (0 from a dispatcher that sends none).
func (l *Link) handshake(c *rpc.Conn) (uint64, error) {
	// The hello names the dispatcher instance we were connected to last
	// (0: none), so that a restarted dispatcher knows it is one.
	h := rpc.Hello{Role: l.cfg.Role, ID: l.cfg.ID, Instance: l.instance}
	auth := l.cfg.Secret != nil
	if auth {
		h.Auth, h.Nonce = rpc.AuthV1, rpc.NewNonce()
	}
	c.Send(rpc.MsgHello, rpc.AppendHello(nil, h))
	t, body, err := c.ReadFrame()
	if err != nil {
		return 0, err
	}
	if t == rpc.MsgHelloRefused {
		code, reason := rpc.DecodeRefusal(body)
		return 0, &rpc.RefusedError{ByDispatcher: true, Code: code, Reason: reason}
	}
	if !auth {
		switch t {
		case rpc.MsgHelloAck:
		case rpc.MsgAuthChallenge:
			return 0, &rpc.RefusedError{Reason: "it asks for link authentication and this process has no cluster secret ([cluster] secret_file)"}
		default:
			return 0, fmt.Errorf("rpc: expected HelloAck, got %v", t)
		}
		r := rpc.NewReader(body)
		r.Uint16()
		inst := r.Uint64()
		if r.Err() != nil {
			inst = 0
		}
		return inst, nil
	}
	switch t {
	case rpc.MsgAuthChallenge:
	case rpc.MsgHelloAck:
		return 0, &rpc.RefusedError{Reason: "it accepted this process without authentication: it has no cluster secret, or predates link authentication, or is not a dispatcher of this cluster"}
	default:
		return 0, fmt.Errorf("rpc: expected AuthChallenge, got %v", t)
	}
	ch, err := rpc.DecodeChallenge(body)
	if err != nil {
		return 0, &rpc.RefusedError{Reason: err.Error()}
	}
	proof := rpc.PeerProof(l.cfg.Secret, h, ch)
	c.Send(rpc.MsgAuthProof, proof[:])
	if t, body, err = c.ReadFrame(); err != nil {
		return 0, err
	}
	switch t {
	case rpc.MsgHelloAck:
	case rpc.MsgHelloRefused:
		code, reason := rpc.DecodeRefusal(body)
		return 0, &rpc.RefusedError{ByDispatcher: true, Code: code, Reason: reason}
	default:
		return 0, fmt.Errorf("rpc: expected HelloAck, got %v", t)
	}
	want := rpc.DispatcherProof(l.cfg.Secret, h, ch)
	if !rpc.CheckHelloAckProof(body, ch, want) {
		return 0, &rpc.RefusedError{Reason: "it failed to prove it holds the cluster secret: it has another secret, or is not a dispatcher of this cluster"}
	}
	return ch.Instance, nil
}
