package gate

// A client connection: its admission, hello, frames, kicks and end.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"go/token"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
	"github.com/sirupsen/logrus"
)

type client struct {
	id rpc.ClientID
	// conn is the client's connection. Only a resumable session's
	// changes, when a resume takes it up (under the session's lock).
	conn atomic.Pointer[rpc.Conn]
	// sess is the client's resumable session, nil for a client that did
	// not ask for one. Set at the hello, under Gate.mu (see beginSession).
	sess      atomic.Pointer[session]
	kcp       bool
	announced bool // MsgClientConnected sent (reader goroutine only)
	// adopted is the client whose session this connection resumed: its
	// reader serves that client from then on (reader goroutine only).
	adopted *client
	// overflow: admitted beyond max_clients because sessions are held,
	// on the condition that it resumes one (guarded by Gate.mu).
	overflow bool
	// Guarded by Gate.mu:
	owner     rpc.EntityID
	ownerGame rpc.GameID
	props     map[string]string
	// kicked: a kick or a bye ends the connection (and a resumable
	// session with it: a quit).
	kicked atomic.Bool
	// Reader goroutine only:
	msgs, bytes bucket
	out         rpc.Batch // what handling the client's frames sends, flushed per frame
	// reqs: the client's requests waiting for their answers, by request
	// ID, with when they were sent (see request).
	reqMu sync.Mutex
	reqs  map[uint32]time.Time
}

// cur returns the client this connection's reader serves: c, or the
// session it resumed. Reader goroutine only.
func (c *client) cur() *client {
	if c.adopted != nil {
		return c.adopted
	}
	return c
}

// startClient makes nc a client, or refuses it with a kick: over says its
// address holds max_clients_per_ip connections already.
func (g *Gate) startClient(nc net.Conn, isKCP, over bool) {
	c := &client{
		id:    rpc.ClientID(g.nextID.Add(1)),
		kcp:   isKCP,
		msgs:  newBucket(g.cfg.ClientMsgRate, g.cfg.ClientMsgBurst),
		bytes: newBucket(g.cfg.ClientByteRate, g.cfg.ClientByteBurst),
	}
	// A client whose frames fill a dispatcher link past its send buffer
	// waits (its reader stops reading) until the link drains.
	c.out.Backpressure = true
	if lc := lingerOf(nc); lc != nil && !isKCP {
		lc.control = func(n int) bool { return g.chargeControl(c.cur(), n) }
	}
	// The closures below run on the connection's reader, which serves
	// the session it resumed, if it did (c.cur).
	conn := rpc.NewConn(nc, rpc.ConnConfig{
		MaxBody:     g.cfg.MaxClientPacketSize,
		MaxPending:  g.cfg.ClientSendBufferSize,
		IdleTimeout: g.cfg.HeartbeatTimeout,
		Farewell: func(reason error) (rpc.MsgType, []byte, bool) {
			if errors.Is(reason, rpc.ErrIdleTimeout) && c.cur().sess.Load() != nil {
				// A resumable session's silence is a drop, which holds
				// it: no kick, which would tell the client it ended.
				return 0, nil, false
			}
			return farewell(reason)
		},
		Stats: &g.met.clients,
		AfterBatch: func() {
			c.out.Flush()
			if c.adopted != nil {
				c.adopted.out.Flush()
			}
		},
		OnPanic: func(t rpc.MsgType, _ []byte, p any, stack []byte) error {
			g.met.panics.Record(g.log, "handling a client's frame", p, stack,
				logrus.Fields{"client": uint64(c.cur().id), "msg": t.String()})
			g.kick(c.cur(), "internal server error")
			return nil
		},
	})
	c.conn.Store(conn)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		conn.Close(ErrServerClosed)
		return
	}
	refusal := g.leaving
	if refusal == "" && over {
		refusal = tooManyFromAddr
	}
	if refusal == "" && g.cfg.MaxClients > 0 && len(g.clients) >= g.cfg.MaxClients {
		refusal = "server full"
		if g.overflow < int(g.held.Load()) {
			// Held sessions keep their places: a connection may come
			// in beyond the limit to resume one (see hello).
			refusal, c.overflow = "", true
			g.overflow++
		}
	}
	if refusal != "" {
		// Refused before it has a boot entity: the kick, then close.
		g.wg.Add(1)
		g.mu.Unlock()
		g.lines.Logf(g.log.WithField("remote", nc.RemoteAddr().String()), logrus.DebugLevel, "client refused", "client refused: %s", refusal)
		c.kicked.Store(true)
		conn.Send(rpc.MsgKick, rpc.AppendString(nil, refusal))
		conn.CloseAfterFlush(errors.New("kicked: " + refusal))
		go func() { defer g.wg.Done(); <-conn.Done(); conn.Wait() }()
		return
	}
	g.clients[c.id] = c
	g.wg.Add(1)
	g.mu.Unlock()
	go g.serveClient(c)
}

// clientBody encodes entityID | gateID | clientID, the body of
// MsgClientConnected and MsgClientDisconnected.
func (g *Gate) clientBody(id rpc.EntityID, cid rpc.ClientID) []byte {
	b := rpc.AppendEntityID(make([]byte, 0, rpc.EntityIDLength+2+8), id)
	return rpc.AppendUint64(rpc.AppendUint16(b, uint16(g.cfg.ID)), uint64(cid))
}

// farewell tells a client why the gate closes it for its own input.
func farewell(reason error) (rpc.MsgType, []byte, bool) {
	msg := "protocol error: " + reason.Error()
	if errors.Is(reason, rpc.ErrIdleTimeout) {
		msg = "heartbeat timeout: nothing received for too long"
	}
	return rpc.MsgKick, rpc.AppendString(nil, msg), true
}

// announce tells a dispatcher that the client connected, which creates
// its boot entity: at the client's MsgClientHello of the right version,
// its first frame, on every transport, so that a client of another
// version (or no client at all: a stray KCP datagram, a port scan) costs
// no boot entity.
func (g *Gate) announce(c *client) {
	if c.announced {
		return
	}
	c.announced = true
	addr := c.conn.Load().RemoteAddr().String() // the game's Entity.ClientAddr
	if len(addr) > 128 {
		addr = addr[:128]
	}
	body := rpc.AppendString(g.clientBody("", c.id), addr)
	if err := g.link(c.id.Shard(len(g.links))).Send(rpc.MsgClientConnected, body); err != nil {
		g.log.WithError(err).Warn("cannot announce new client")
		g.kick(c, "server unavailable, try again later")
	}
}

func (g *Gate) serveClient(c *client) {
	defer g.wg.Done()
	// Serve returns once the Conn is marked closed, which may be while
	// another goroutine (Close, a link kicking the client) is still
	// closing the socket, whose Close adds a lingering close to g.wg: the
	// Conn's Done comes after that, and holding g.wg until then keeps the
	// count from reaching zero, and Gate.Close's Wait from returning,
	// before the lingering close is counted.
	conn := c.conn.Load() // this reader's, whatever session it serves
	defer func() { <-conn.Done(); conn.Wait() }()
	n := len(g.links)
	if err := g.tlsHandshake(c); err != nil {
		conn.Close(err) // Serve returns at once, and it is logged below
	}
	// The client is announced at its hello (handleClient), on every
	// transport.
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", conn.RemoteAddr().String()), logrus.DebugLevel, "client connected", "client connected")

	reason := conn.Serve(func(t rpc.MsgType, body []byte) error { return g.handleClient(c.cur(), t, body) })
	<-conn.Done() // the socket's close (a lingering one) has begun

	c = c.cur()
	s := c.sess.Load()
	if s != nil && g.connEnded(c, s, conn, reason) {
		return // held, or resumed elsewhere
	}
	g.mu.Lock()
	delete(g.clients, c.id)
	g.unindexLocked(c)
	owner := c.owner
	if c.overflow {
		c.overflow = false
		g.overflow--
	}
	g.mu.Unlock()
	g.poke()
	if s != nil {
		s.mu.Lock()
		why := s.why
		s.mu.Unlock()
		g.rememberEnded(c, why)
	}
	// Every line here is one a client can cause by connecting again and
	// again: each kind is rate-limited (see LogBurst).
	log := g.log.WithField("client", uint64(c.id)).WithField("reason", reasonText(reason))
	switch {
	case errors.Is(reason, rpc.ErrPeerClosed), errors.Is(reason, ErrServerClosed):
		g.lines.Logf(log, logrus.DebugLevel, "client disconnected", "client disconnected")
	case errors.Is(reason, rpc.ErrIdleTimeout), c.kicked.Load():
		g.lines.Logf(log, logrus.InfoLevel, "client disconnected (kicked or timed out)", "client disconnected")
	case errors.Is(reason, rpc.ErrSlowConsumer):
		g.lines.Logf(log.WithField("remote", conn.RemoteAddr().String()), logrus.WarnLevel, "slow client",
			"client disconnected: it reads too slowly (more queued for it than client_send_buffer_size)")
	default:
		// Oversized or truncated frames, slow consumers, socket errors.
		g.lines.Logf(log.WithField("remote", conn.RemoteAddr().String()), logrus.WarnLevel, "client disconnected on error", "client disconnected on error")
	}
	if owner != "" {
		body := g.clientBody(owner, c.id)
		g.link(owner.Shard(n)).Send(rpc.MsgClientDisconnected, body)
	}
}

// tlsHandshake runs a TLS client's handshake, bounded by
// TLSHandshakeTimeout, before the client is announced: one that stalls it
// or speaks something else costs a slot for that long at most, and no
// boot entity (the handshake used to run at the first read, bounded only
// by the heartbeat timeout, after the announcement). Other clients: nil.
func (g *Gate) tlsHandshake(c *client) error {
	lc, ok := c.conn.Load().NetConn().(*lingerConn)
	if !ok {
		return nil
	}
	tc, ok := lc.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(g.closing, g.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	return nil
}

// maxReasonLog bounds a disconnect reason in a log line.
const maxReasonLog = 256

// reasonText is a disconnect reason for a log line, bounded.
func reasonText(err error) string {
	if err == nil {
		return ""
	}
	return clip.Text(err.Error(), maxReasonLog)
}

// kick sends the client a reason and closes it once that is written.
// A resumable session held (no connection) ends at once instead.
func (g *Gate) kick(c *client, reason string) {
	if s := c.sess.Load(); s != nil && g.endHeld(c, s, reason, endKicked) {
		return
	}
	if c.kicked.Swap(true) {
		return
	}
	conn := c.conn.Load()
	conn.Send(rpc.MsgKick, rpc.AppendString(nil, reason))
	conn.CloseAfterFlush(errors.New("kicked: " + clip.Text(reason, maxReasonLog)))
}

// chargeControl counts a WebSocket control message (ping or pong, n
// payload bytes, 6 of header as a frame's) against the client's rate
// limits, and kicks it past them; false means: do not answer it. On the
// client's reader goroutine (gorilla calls control handlers from reads).
func (g *Gate) chargeControl(c *client, n int) bool {
	if c.kicked.Load() {
		return false
	}
	now := time.Now()
	if !c.msgs.take(now, 1) {
		g.rateLimited(c, fmt.Sprintf("more than %d messages per second (WebSocket pings count)", g.cfg.ClientMsgRate))
		return false
	}
	if !c.bytes.take(now, float64(rpc.HeaderSize+n)) {
		g.rateLimited(c, fmt.Sprintf("more than %d bytes per second", g.cfg.ClientByteRate))
		return false
	}
	return true
}

// rateLimited logs a client over a rate limit (once: it is kicked) and kicks it.
func (g *Gate) rateLimited(c *client, msg string) error {
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()),
		logrus.WarnLevel, "client over its rate limit", "client over its rate limit: %s", msg)
	g.kick(c, "rate limit: "+msg)
	return nil
}

// maxProtocolError bounds the text of a protocol error, in the kick
// reason and the log line. Callers quote what the client sent with
// clip.Quote; this is the backstop.
const maxProtocolError = 200

// protocolError logs a client's bad frame and kicks it.
func (g *Gate) protocolError(c *client, format string, args ...any) error {
	msg := clip.Text(fmt.Sprintf(format, args...), maxProtocolError)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()),
		logrus.WarnLevel, "bad client input", "bad client input: %s", msg)
	g.kick(c, "protocol error: "+msg)
	return nil
}

// handleClient handles one frame from a client, on its reader goroutine.
func (g *Gate) handleClient(c *client, t rpc.MsgType, body []byte) error {
	if c.kicked.Load() {
		return nil // on its way out: ignore the rest
	}
	now := time.Now()
	s := c.sess.Load()
	// A resumable session's acks count against the byte rate only.
	if (s == nil || t != rpc.MsgAck) && !c.msgs.take(now, 1) {
		return g.rateLimited(c, fmt.Sprintf("more than %d messages per second", g.cfg.ClientMsgRate))
	}
	if !c.bytes.take(now, float64(rpc.HeaderSize+len(body))) {
		return g.rateLimited(c, fmt.Sprintf("more than %d bytes per second", g.cfg.ClientByteRate))
	}
	if !c.announced {
		return g.hello(c, t, body)
	}
	if s != nil {
		if t == rpc.MsgAck {
			return g.clientAck(c, s, body)
		}
		if rpc.IsSessionFrame(t) {
			// Counted whatever becomes of it (a position for another
			// entity is dropped, but was received).
			g.countIn(c, s, len(body))
		}
	}
	switch t {
	case rpc.MsgHeartbeat:
		c.out.Send(c.conn.Load(), rpc.MsgHeartbeatAck, g.hbAck)
		if s != nil {
			s.mu.Lock()
			g.ackLocked(c, s, c.out.Send)
			s.mu.Unlock()
		}
		return nil
	case rpc.MsgBye:
		g.bye(c)
		return nil
	case rpc.MsgCallEntity:
		r := rpc.NewReader(body)
		id := r.EntityID()
		method := r.String()
		if r.Err() != nil || id == "" || method == "" {
			return g.protocolError(c, "malformed CallEntity (%d bytes)", len(body))
		}
		if len(method) > rpc.MaxMethodNameLen {
			return g.protocolError(c, "method name of %d bytes, over the limit of %d", len(method), rpc.MaxMethodNameLen)
		}
		if !token.IsIdentifier(method) {
			return g.protocolError(c, "method name %s is not an identifier", clip.QuoteDefault(method))
		}
		args := r.Rest()
		if n := rpc.EntityIDLength + 2 + 8 + 2 + len(method) + len(args); n > g.cfg.MaxPacketSize {
			// Forwarded, it would be over the dispatcher's frame limit,
			// which closes the link (and disconnects every client of this
			// gate): max_client_packet_size is too close to max_packet_size.
			return g.protocolError(c, "call of %d bytes, too large to forward (max_packet_size %d)", len(body), g.cfg.MaxPacketSize)
		}
		err := c.out.AppendLink(g.link(id.Shard(len(g.links))), func(b []byte) []byte {
			b = rpc.AppendHeader(b, rpc.MsgClientCall, rpc.EntityIDLength+2+8+2+len(method)+len(args))
			b = rpc.AppendEntityID(b, id)
			b = rpc.AppendUint16(b, uint16(g.cfg.ID))
			b = rpc.AppendUint64(b, uint64(c.id))
			b = rpc.AppendString(b, method)
			return append(b, args...)
		})
		if errors.Is(err, link.ErrQueueFull) {
			// Queued calls would be lost without a word: say so.
			g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.WarnLevel, "link queue full",
				"client call refused: dispatcher link down and its queue full; kicking the client")
			g.kick(c, "the server is unreachable and too much is waiting for it; please reconnect")
		} else if err != nil {
			g.lines.Logf(g.log.WithError(err), logrus.DebugLevel, "client call dropped", "client call dropped")
		}
		return nil
	case rpc.MsgSyncPosition:
		return g.syncPosition(c, body)
	case rpc.MsgRequest:
		return g.request(c, body)
	}
	return g.protocolError(c, "unexpected message type %d", uint16(t))
}

// errClientBye is the reason of a client that said goodbye (MsgBye): a
// close by the peer, for the logs and the metrics.
var errClientBye = fmt.Errorf("%w (it said goodbye)", rpc.ErrPeerClosed)

// bye ends the session of a client that sent MsgBye: the gate answers
// with MsgBye, its last frame, and closes once that is written; the
// client's owner entity is told at once (serveClient), rather than after
// heartbeat_timeout as when a KCP client just stops. A KCP session
// lingers (kcpLinger) so that a lost answer is resent. The rest of what
// the client sends is ignored, as after a kick.
func (g *Gate) bye(c *client) {
	if c.kicked.Swap(true) {
		return
	}
	if s := c.sess.Load(); s != nil {
		s.mu.Lock()
		s.why = "the client said goodbye"
		s.mu.Unlock()
	}
	conn := c.conn.Load()
	conn.Send(rpc.MsgBye, nil) // behind what is queued, batched or not
	conn.CloseAfterFlush(errClientBye)
}

// hello handles a client's first frame, which must be a MsgClientHello of
// rpc.ProtocolVersion: the client is then announced; anything else is
// refused with a kick that says why.
func (g *Gate) hello(c *client, t rpc.MsgType, body []byte) error {
	if t == rpc.MsgResume {
		return g.resume(c, body)
	}
	if c.overflow {
		// Admitted beyond max_clients for a resume, which this is not.
		g.lines.Logf(g.log.WithField("remote", c.conn.Load().RemoteAddr().String()), logrus.DebugLevel, "client refused", "client refused: server full")
		g.kick(c, "server full")
		return nil
	}
	if t != rpc.MsgClientHello {
		return g.protocolError(c, "the first frame must be a ClientHello (type %d) with the protocol version, not type %d: "+
			"this gate speaks protocol version %d; update the client (docs/protocol.md, Versioning)",
			uint16(rpc.MsgClientHello), uint16(t), rpc.ProtocolVersion)
	}
	v, flags, err := rpc.DecodeClientHelloFlags(body)
	if err != nil {
		return g.protocolError(c, "malformed ClientHello (%d bytes)", len(body))
	}
	if v != rpc.ProtocolVersion {
		return g.refuseVersion(c, v)
	}
	if flags&rpc.HelloResume != 0 && g.cfg.ResumeWindow > 0 {
		g.beginSession(c) // MsgSession before anything the session brings
	}
	g.announce(c)
	return nil
}

// refuseVersion kicks a client whose hello (or resume) names protocol
// version v, not the gate's.
func (g *Gate) refuseVersion(c *client, v uint16) error {
	g.met.versionRefused.Add(1)
	reason := fmt.Sprintf("unsupported protocol version %d: this gate speaks protocol version %d; update the client (docs/protocol.md, Versioning)", v, rpc.ProtocolVersion)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()).WithField("version", v),
		logrus.InfoLevel, "client of another protocol version", "client refused: %s", reason)
	g.kick(c, reason)
	return nil
}

// syncPositionSize is the body of MsgSyncPosition: entity, space, x, y, z, yaw.
const syncPositionSize = 2*rpc.EntityIDLength + rpc.PositionSize

// syncPosition forwards a client's position for its player entity. A
// malformed body or a coordinate that is not a finite number is a protocol
// error; a position for an entity that is not (or no longer) the client's
// own is dropped, since a handover can race with it.
func (g *Gate) syncPosition(c *client, body []byte) error {
	if len(body) != syncPositionSize {
		return g.protocolError(c, "SyncPosition of %d bytes, want %d", len(body), syncPositionSize)
	}
	r := rpc.NewReader(body)
	id, _ := r.EntityID(), r.EntityID()
	pos, yaw := r.Position()
	if err := r.Err(); err != nil {
		return g.protocolError(c, "malformed SyncPosition: %v", err)
	}
	if id == "" {
		return g.protocolError(c, "SyncPosition without an entity ID (all zeros)")
	}
	if !pos.Finite() || math.IsNaN(float64(yaw)) || math.IsInf(float64(yaw), 0) {
		return g.protocolError(c, "SyncPosition with a coordinate that is not a finite number")
	}
	g.mu.RLock()
	owner := c.owner
	g.mu.RUnlock()
	if id != owner {
		g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.DebugLevel, "position not for the client's entity",
			"position for %s, which is not the client's entity (%s), dropped", id, owner)
		return nil
	}
	err := c.out.AppendLink(g.link(id.Shard(len(g.links))), func(b []byte) []byte {
		b = rpc.AppendHeader(b, rpc.MsgClientSyncPosition, syncPositionSize+2+8)
		b = rpc.AppendEntityID(b, id)
		b = rpc.AppendUint16(b, uint16(g.cfg.ID))
		b = rpc.AppendUint64(b, uint64(c.id))
		return append(b, body[rpc.EntityIDLength:]...)
	})
	if err != nil {
		g.lines.Logf(g.log.WithError(err), logrus.DebugLevel, "position dropped", "position dropped: dispatcher link down")
	}
	return nil
}
