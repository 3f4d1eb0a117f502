package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// ErrNotConnected is returned by Link.Send while the link is down and the
// link keeps no queue (LinkConfig.QueueLimit 0).
var ErrNotConnected = errors.New("rpc: link to dispatcher is down")

// ErrLinkQueueFull is returned by Link.Send while the link is down and its
// queue (LinkConfig.QueueLimit) has no room for the frame: it is dropped.
var ErrLinkQueueFull = errors.New("rpc: link to dispatcher is down and its queue is full")

// Reconnection backoff of a Link: the first redial waits about
// MinBackoff, each failed dial doubles the wait up to MaxBackoff. Every
// wait is jittered (a uniformly random 50% to 100% of it), so that the
// games and gates of a cluster do not all redial a restarted dispatcher
// at the same instant.
const (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// LinkConfig configures a Link.
type LinkConfig struct {
	// Addr is the dispatcher's address.
	Addr string
	// Role and ID say who we are in MsgHello.
	Role Role
	ID   uint16
	// Conn configures each connection the link makes.
	Conn ConnConfig
	// Secret is the cluster secret (nil: none). With it, the hello is a
	// mutual challenge–response (see linkauth.go): the dispatcher must
	// prove it holds the same secret, or the link refuses it. Without it,
	// a dispatcher that asks for authentication refuses the link.
	Secret []byte
	// AuthStats, if set, counts the handshakes refused either way.
	AuthStats *LinkAuthStats
	// QueueLimit bounds the bytes of frames that Send and Append keep
	// while the link is down, to send first on the next connection to a
	// new dispatcher instance (one that restarted). Frames beyond it are
	// dropped (Send returns ErrLinkQueueFull) and counted in the log. 0
	// keeps nothing: Send returns ErrNotConnected.
	QueueLimit int
	// OnConnect runs after the dispatcher acknowledged MsgHello and the
	// queue was sent, once the connection is current (Send uses it), and
	// before any frame is handled: the place to re-register state. same
	// reports that the dispatcher is the same instance (process) as on the
	// previous connection: it saw this peer leave and told the others so
	// (and the queue was dropped, see LinkConfig.QueueLimit). It is false
	// on the first connection and after the dispatcher restarted.
	OnConnect func(c *Conn, same bool)
	// Handler handles the dispatcher's frames (on the link's goroutine).
	Handler Handler
	// OnDisconnect runs when a connection ends, with its reason.
	OnDisconnect func(reason error)
	// Logger receives connect/disconnect logs.
	Logger logrus.FieldLogger
}

// Link keeps a connection to one dispatcher up: it dials, says hello,
// serves frames and, when the connection drops, dials again with capped,
// jittered exponential backoff (MinBackoff doubling to MaxBackoff) until
// its context ends. While it is down, what is sent through it waits in a
// bounded queue (LinkConfig.QueueLimit).
type Link struct {
	cfg       LinkConfig
	connected chan struct{} // closed at the first successful hello
	once      sync.Once
	instance  uint64 // the dispatcher instance of the last hello (runOnce only)

	mu      sync.Mutex
	cur     *Conn
	queue   []byte // whole frames sent while down, in order
	dropped int    // frames refused over QueueLimit since the link went down
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

// Send queues a frame on the current connection or, while the link is
// down, in the link's own queue (see LinkConfig.QueueLimit).
func (l *Link) Send(t MsgType, body []byte) error {
	return l.Append(func(b []byte) []byte { return AppendFrame(b, t, body) })
}

// Append appends frames built by fn on the current connection (see
// Conn.Append) or, while the link is down, to the link's queue.
func (l *Link) Append(fn func([]byte) []byte) error { return l.append(nil, fn) }

// append is Append through a Batch: on the current connection, the frames
// wait for b's Flush (a nil b: none).
func (l *Link) append(b *Batch, fn func([]byte) []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		if err := l.cur.append(b, fn); err == nil || l.cfg.QueueLimit <= 0 {
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
		return ErrLinkQueueFull
	}
	return nil
}

// Run keeps the link up until ctx is done. It returns ctx's error.
func (l *Link) Run(ctx context.Context) error {
	log := l.cfg.Logger.WithField("dispatcher_addr", l.cfg.Addr)
	backoff := MinBackoff
	failed := 0 // dials failed in a row
	for {
		err := l.runOnce(ctx, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff, failed = MinBackoff, 0 // it was up: start over
		}
		wait := Jitter(backoff)
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			// Backoff bounds these lines: at most one per MaxBackoff/2
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
			backoff = NextBackoff(backoff)
		}
	}
}

// NextBackoff returns the backoff after d: twice d, at most MaxBackoff.
func NextBackoff(d time.Duration) time.Duration { return min(2*d, MaxBackoff) }

// Jitter returns a uniformly random duration in [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
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

	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	inst, err := l.handshake(c)
	if err != nil {
		c.Close(nil)
		var refused *RefusedError
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
func (l *Link) handshake(c *Conn) (uint64, error) {
	// The hello names the dispatcher instance we were connected to last
	// (0: none), so that a restarted dispatcher knows it is one.
	h := Hello{Role: l.cfg.Role, ID: l.cfg.ID, Instance: l.instance}
	auth := l.cfg.Secret != nil
	if auth {
		h.Auth, h.Nonce = AuthV1, NewNonce()
	}
	c.Send(MsgHello, AppendHello(nil, h))
	t, body, err := c.ReadFrame()
	if err != nil {
		return 0, err
	}
	if t == MsgHelloRefused {
		code, reason := DecodeRefusal(body)
		return 0, &RefusedError{ByDispatcher: true, Code: code, Reason: reason}
	}
	if !auth {
		switch t {
		case MsgHelloAck:
		case MsgAuthChallenge:
			return 0, &RefusedError{Reason: "it asks for link authentication and this process has no cluster secret ([cluster] secret_file)"}
		default:
			return 0, fmt.Errorf("rpc: expected HelloAck, got %v", t)
		}
		r := NewReader(body)
		r.Uint16()
		inst := r.Uint64()
		if r.Err() != nil {
			inst = 0
		}
		return inst, nil
	}
	switch t {
	case MsgAuthChallenge:
	case MsgHelloAck:
		return 0, &RefusedError{Reason: "it accepted this process without authentication: it has no cluster secret, or predates link authentication, or is not a dispatcher of this cluster"}
	default:
		return 0, fmt.Errorf("rpc: expected AuthChallenge, got %v", t)
	}
	ch, err := DecodeChallenge(body)
	if err != nil {
		return 0, &RefusedError{Reason: err.Error()}
	}
	proof := PeerProof(l.cfg.Secret, h, ch)
	c.Send(MsgAuthProof, proof[:])
	if t, body, err = c.ReadFrame(); err != nil {
		return 0, err
	}
	switch t {
	case MsgHelloAck:
	case MsgHelloRefused:
		code, reason := DecodeRefusal(body)
		return 0, &RefusedError{ByDispatcher: true, Code: code, Reason: reason}
	default:
		return 0, fmt.Errorf("rpc: expected HelloAck, got %v", t)
	}
	want := DispatcherProof(l.cfg.Secret, h, ch)
	if len(body) != challengeSize || binary.LittleEndian.Uint16(body) != ch.DispatcherID ||
		binary.LittleEndian.Uint64(body[2:]) != ch.Instance || !CheckProof(body[10:], want) {
		return 0, &RefusedError{Reason: "it failed to prove it holds the cluster secret: it has another secret, or is not a dispatcher of this cluster"}
	}
	return ch.Instance, nil
}
