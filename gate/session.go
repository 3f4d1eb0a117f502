package gate

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/goworld-engine/goworld/config"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Resumable sessions (docs/protocol.md, 8.1; docs/architecture.md,
// "Resumable sessions").
//
// A client that asks for one in its hello (rpc.HelloResume) gets a
// session: its client struct, with its ID, owner entity, filter
// properties and waiting requests, outlives its connection. Every frame
// to it goes through the session's lock, which appends it to the
// connection (fixing its place on the wire) and, for a session frame
// (rpc.IsSessionFrame), to the journal, in the same order: the journal
// holds the frames the client has not acknowledged, numbered by
// counting. When the connection drops without a quit, the session is
// held for ResumeWindow: frames go to the journal only, and a new
// connection whose first frame is MsgResume with the token takes it up,
// gets what it missed from the journal, and resends what the gate had
// not received. Clients that did not ask (sess nil) take none of these
// paths.

// Defaults and bounds of Config.ResumeWindow and Config.ResumeLimit:
// config.ini's (package config holds every default, once).
const (
	DefaultResumeWindow = config.DefaultResumeWindow
	MaxResumeWindow     = config.MaxResumeWindow
	DefaultResumeLimit  = config.DefaultResumeLimit
	MinResumeLimit      = config.MinResumeLimit
)

// Acknowledgements of the client's session frames (docs/protocol.md,
// 8.1): 100 ms after the first unacknowledged one, or once 32 KiB of
// them have come, whichever is first, and with every heartbeat's answer.
const (
	ackDelay = 100 * time.Millisecond
	ackBytes = 32 << 10
)

// endedBound bounds the table of recently ended sessions when max_clients
// is unlimited.
const endedBound = 65536

// sessState is where a session is in its life.
type sessState uint8

const (
	sessConnected sessState = iota // a connection serves it
	sessTaking                     // a resume is closing the old connection to take over
	sessHeld                       // no connection: frames go to the journal, the window runs
	sessEnded                      // over: the client is (being) removed
)

// errSuperseded is the close reason of a connection whose session a
// resume took over.
var errSuperseded = errors.New("gate: the session was resumed on another connection")

// session is a resumable client's session state. Everything but recv is
// guarded by mu.
type session struct {
	mu    sync.Mutex
	state sessState
	token rpc.ResumeToken // the current token; the one before is void
	// sent counts the session frames sent to the client; the journal
	// holds numbers floor+1..sent, whole frames as on the wire, from
	// journal[jstart:].
	sent, floor uint64
	journal     []byte
	jstart      int
	acked       uint64 // the client's latest MsgAck
	// ackedOut is what the gate last acknowledged to the client;
	// unacked the bytes of session frames received since; ackArmed says
	// the ack timer is set.
	ackedOut uint64
	unacked  int
	ackArmed bool
	ackTimer *time.Timer
	hold     *time.Timer // ends a held session at the window's end
	why      string      // why the session ended (or is ending)
	// readerDone is closed when the reader of the current connection has
	// finished with it (held, ended, or handed over to a resume).
	readerDone chan struct{}
	// recv counts the session frames received from the client (its
	// reader's, read by a resume once that reader has stopped).
	recv atomic.Uint64
}

// size returns the bytes of frames in the journal.
func (s *session) size() int { return len(s.journal) - s.jstart }

// forget drops the oldest frame of the journal.
func (s *session) forget() {
	n := int(binary.LittleEndian.Uint32(s.journal[s.jstart:]))
	s.jstart += 4 + n
	s.floor++
	switch {
	case s.jstart == len(s.journal):
		s.jstart = 0
		if cap(s.journal) > 64<<10 {
			s.journal = nil // an idle session holds no big buffer
		} else {
			s.journal = s.journal[:0]
		}
	case s.jstart > len(s.journal)/2 && s.jstart > 4<<10:
		s.journal = s.journal[:copy(s.journal, s.journal[s.jstart:])]
		s.jstart = 0
	}
}

// trim forgets the frames up to number n.
func (s *session) trim(n uint64) {
	for s.floor < n && s.floor < s.sent {
		s.forget()
	}
}

// after returns the journal's frames numbered after n (floor ≤ n ≤ sent).
func (s *session) after(n uint64) []byte {
	off := s.jstart
	for i := s.floor; i < n; i++ {
		off += 4 + int(binary.LittleEndian.Uint32(s.journal[off:]))
	}
	return s.journal[off:]
}

// newToken returns a fresh token for client cid: gate ID u16 | client ID
// u64 | 22 random bytes (176 bits) from crypto/rand.
func (g *Gate) newToken(cid rpc.ClientID) rpc.ResumeToken {
	var t rpc.ResumeToken
	binary.LittleEndian.PutUint16(t[:], uint16(g.cfg.ID))
	binary.LittleEndian.PutUint64(t[2:], uint64(cid))
	rand.Read(t[10:]) // never fails (crypto/rand panics rather)
	return t
}

// tokenClient returns the gate and client a token names.
func tokenClient(t rpc.ResumeToken) (int, rpc.ClientID) {
	return int(binary.LittleEndian.Uint16(t[:])), rpc.ClientID(binary.LittleEndian.Uint64(t[2:]))
}

// sameToken compares two tokens in constant time.
func sameToken(a, b rpc.ResumeToken) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// beginSession makes c resumable, at its hello: MsgSession is its first
// frame. Under g.mu, so that a delivery either comes before MsgSession
// (not counted: it saw no session) or after it, counted.
func (g *Gate) beginSession(c *client) {
	s := &session{token: g.newToken(c.id), readerDone: make(chan struct{})}
	body := rpc.AppendSession(nil, rpc.Session{Token: s.token, Window: g.cfg.ResumeWindow, Limit: g.cfg.ResumeLimit})
	g.mu.Lock()
	c.sess.Store(s)
	c.out.Send(c.conn.Load(), rpc.MsgSession, body)
	g.mu.Unlock()
}

// deliver sends c a frame from the server (type u16 | body), through out.
// Callers hold g.mu for reading, or are c's reader.
func (g *Gate) deliver(out *rpc.Batch, c *client, frame []byte) {
	s := c.sess.Load()
	if s == nil {
		appendWire(out, c.conn.Load(), frame)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == sessEnded {
		return
	}
	if s.state == sessConnected {
		appendWire(out, c.conn.Load(), frame)
	}
	if !rpc.IsSessionFrame(rpc.MsgType(binary.LittleEndian.Uint16(frame))) {
		return
	}
	s.sent++
	s.journal = append(rpc.AppendUint32LE(s.journal, uint32(len(frame))), frame...)
	if s.size() <= g.cfg.ResumeLimit {
		return
	}
	if s.state == sessConnected {
		// Acknowledged too slowly: forget the oldest. A resume that
		// needs them is refused.
		for s.size() > g.cfg.ResumeLimit {
			s.forget()
		}
		return
	}
	// Away, and more than it may miss: the session ends. The removal
	// takes g.mu, which the caller may hold: it runs on the hold timer
	// (or, while a resume is taking over, the resumer does it).
	s.endLocked("more than resume_limit was sent to it while it was away")
	g.met.endedHeld[endLimit].Add(1)
	if s.hold != nil {
		s.hold.Reset(0)
	}
}

// appendWire queues frame (type u16 | body) on conn through out, with its
// length in front: as it goes on the wire.
func appendWire(out *rpc.Batch, conn *rpc.Conn, frame []byte) {
	out.Append(conn, func(b []byte) []byte {
		b = rpc.AppendUint32LE(b, uint32(len(frame)))
		return append(b, frame...)
	})
}

// endLocked marks the session ended, for why. The caller holds s.mu.
func (s *session) endLocked(why string) {
	s.state = sessEnded
	s.why = clip.Text(why, maxReasonLog)
	if s.ackTimer != nil {
		s.ackTimer.Stop()
	}
}

// countIn counts a session frame of n body bytes that c's reader
// handled, and acknowledges what came when it is time (see ackDelay).
func (g *Gate) countIn(c *client, s *session, n int) {
	s.recv.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unacked += rpc.HeaderSize + n
	if s.unacked >= ackBytes {
		g.ackLocked(c, s, c.out.Send)
		return
	}
	if !s.ackArmed && s.state == sessConnected {
		s.ackArmed = true
		if s.ackTimer == nil {
			s.ackTimer = time.AfterFunc(ackDelay, func() { g.ackTimed(c, s) })
		} else {
			s.ackTimer.Reset(ackDelay)
		}
	}
}

// ackTimed is the ack timer: it acknowledges what the client sent.
func (g *Gate) ackTimed(c *client, s *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.ackLocked(c, s, func(conn *rpc.Conn, t rpc.MsgType, body []byte) error { return conn.Send(t, body) })
}

// ackLocked sends MsgAck with what the gate has received, if the client
// has not been told it yet, through send. The caller holds s.mu.
func (g *Gate) ackLocked(c *client, s *session, send func(*rpc.Conn, rpc.MsgType, []byte) error) {
	s.ackArmed = false
	if s.ackTimer != nil {
		s.ackTimer.Stop()
	}
	n := s.recv.Load()
	if s.state != sessConnected || n == s.ackedOut {
		return
	}
	s.ackedOut, s.unacked = n, 0
	send(c.conn.Load(), rpc.MsgAck, rpc.AppendAck(nil, n))
}

// clientAck handles the client's MsgAck: the journal forgets what it
// has received. It goes backwards or beyond what was sent: a protocol
// error.
func (g *Gate) clientAck(c *client, s *session, body []byte) error {
	n, err := rpc.DecodeAck(body)
	if err != nil {
		return g.protocolError(c, "malformed Ack (%d bytes)", len(body))
	}
	s.mu.Lock()
	sent, acked := s.sent, s.acked
	if n >= acked && n <= sent {
		s.acked = n
		s.trim(n)
	}
	s.mu.Unlock()
	if n < acked || n > sent {
		return g.protocolError(c, "Ack of %d frames, but %d were sent", n, sent)
	}
	return nil
}

// isQuit reports whether a resumable session's connection ended in a
// way that ends the session (docs/protocol.md, 8.1): a kick or a bye
// (c.kicked), a slow consumer, the gate closing, the client breaking the
// framing. Everything else (end of stream, a reset, a read or write
// error, a heartbeat timeout) is a drop, which holds it.
func (g *Gate) isQuit(c *client, reason error) bool {
	if c.kicked.Load() {
		return true
	}
	g.mu.RLock()
	closing := g.closed || g.leaving != ""
	g.mu.RUnlock()
	var pf rpc.PeerFault
	return closing || errors.Is(reason, rpc.ErrSlowConsumer) || errors.Is(reason, ErrServerClosed) ||
		errors.Is(reason, rpc.ErrFrameTooLarge) || errors.Is(reason, rpc.ErrFrameTooShort) ||
		errors.Is(reason, rpc.ErrHandlerPanic) || (errors.As(reason, &pf) && pf.PeerFault())
}

// connEnded decides what the end of conn, a connection of c's session s,
// does to the session. It returns true if the session goes on without
// it (held, or taken over by a resume); false if it ends: the caller
// removes the client as any other, telling its owner.
func (g *Gate) connEnded(c *client, s *session, conn *rpc.Conn, reason error) (goesOn bool) {
	quit := g.isQuit(c, reason)
	owner := g.ownerOf(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.readerDone)
	if s.state == sessTaking || c.conn.Load() != conn {
		return true // a resume took it over: not this reader's any more
	}
	if quit || s.state == sessEnded {
		if s.state != sessEnded {
			why := s.why
			switch {
			case why != "":
			case errors.Is(reason, rpc.ErrSlowConsumer):
				why = "it read too slowly"
			default:
				why = reasonText(reason)
			}
			s.endLocked(why)
		}
		return false
	}
	s.state = sessHeld
	if s.ackTimer != nil {
		s.ackTimer.Stop()
		s.ackArmed = false
	}
	s.hold = time.AfterFunc(g.cfg.ResumeWindow, func() { g.holdEnded(c, s) })
	g.held.Add(1)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("reason", reasonText(reason)), logrus.DebugLevel,
		"client dropped, session held", "client dropped; its session is held for %v", g.cfg.ResumeWindow)
	g.sendAway(c, owner, true)
	return true
}

// sendAway tells owner, c's owner entity, that its client is away (its
// session held) or back. The caller holds the session's lock, which
// orders the notices (and read owner before taking it: g.mu is never
// taken under a session's lock, since deliveries take them the other
// way round).
func (g *Gate) sendAway(c *client, owner rpc.EntityID, away bool) {
	if owner == "" {
		return
	}
	var flag uint8
	if away {
		flag = 1
	}
	g.link(owner.Shard(len(g.links))).Send(rpc.MsgClientAway, rpc.AppendUint8(g.clientBody(owner, c.id), flag))
}

// ownerOf returns c's owner entity.
func (g *Gate) ownerOf(c *client) rpc.EntityID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return c.owner
}

// End kinds of held sessions, for the metrics.
const (
	endWindow = iota // the window passed
	endLimit         // more than resume_limit sent while away
	endKicked        // kicked (a game, the gate leaving, its game gone)
	endClosed        // the gate closed
	numEnds
)

var endNames = [numEnds]string{"window", "limit", "kicked", "closed"}

// holdEnded runs on the hold timer: at the window's end, or at once for
// a held session that ended otherwise (see deliver): the client goes,
// and its owner is told.
func (g *Gate) holdEnded(c *client, s *session) {
	s.mu.Lock()
	switch s.state {
	case sessHeld:
		s.endLocked("")
		g.met.endedHeld[endWindow].Add(1)
	case sessEnded:
		if s.hold == nil { // ended by kickHeld, which removes it
			s.mu.Unlock()
			return
		}
	default: // resumed
		s.mu.Unlock()
		return
	}
	s.hold = nil
	why := s.why
	s.mu.Unlock()
	g.held.Add(-1)
	g.removeClient(c, why)
}

// endHeld ends a held session now, for a kick (why) of kind kind. It
// reports whether the session was held (and is now gone).
func (g *Gate) endHeld(c *client, s *session, why string, kind int) bool {
	s.mu.Lock()
	switch s.state {
	case sessHeld:
		s.endLocked(why)
		if s.hold != nil {
			s.hold.Stop()
			s.hold = nil
		}
		s.mu.Unlock()
		g.met.endedHeld[kind].Add(1)
		g.held.Add(-1)
		g.removeClient(c, s.why)
		return true
	case sessTaking:
		// A resume is taking over: it sees the end and refuses.
		s.endLocked(why)
		s.mu.Unlock()
		return true
	case sessEnded:
		s.mu.Unlock()
		return true
	}
	if s.why == "" {
		s.why = clip.Text(why, maxReasonLog)
	}
	s.mu.Unlock()
	return false
}

// removeClient removes a client whose session ended without its reader
// (held, or refused to a resume), tells its owner, and remembers why
// (an empty why: the window passed, which says nothing more).
func (g *Gate) removeClient(c *client, why string) {
	g.mu.Lock()
	_, present := g.clients[c.id]
	delete(g.clients, c.id)
	g.unindexLocked(c)
	owner := c.owner
	g.mu.Unlock()
	if !present {
		return
	}
	g.poke()
	if why != "" {
		g.rememberEnded(c, why)
	}
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("reason", why), logrus.DebugLevel,
		"held session ended", "held session ended")
	if owner != "" {
		g.link(owner.Shard(len(g.links))).Send(rpc.MsgClientDisconnected, g.clientBody(owner, c.id))
	}
}

// ended is a recently ended session, for a resume's refusal.
type ended struct {
	token rpc.ResumeToken
	why   string
	at    time.Time
}

// rememberEnded records why c's session ended, for ResumeWindow, so
// that a resume with its token learns why. The table is bounded in
// count (max_clients) and time (the window).
func (g *Gate) rememberEnded(c *client, why string) {
	s := c.sess.Load()
	if s == nil || why == "" {
		return
	}
	s.mu.Lock()
	tok := s.token
	s.mu.Unlock()
	bound := g.cfg.MaxClients
	if bound <= 0 || bound > endedBound {
		bound = endedBound
	}
	now := time.Now()
	g.endedMu.Lock()
	defer g.endedMu.Unlock()
	if g.ended == nil {
		g.ended = map[rpc.ClientID]ended{}
	}
	for len(g.endedOrder) > 0 {
		id := g.endedOrder[0]
		e, ok := g.ended[id]
		if ok && len(g.ended) < bound && now.Sub(e.at) < g.cfg.ResumeWindow {
			break
		}
		delete(g.ended, id)
		g.endedOrder = g.endedOrder[1:]
	}
	if len(g.endedOrder) == 0 {
		g.endedOrder = nil // let the backing array go
	}
	g.ended[c.id] = ended{token: tok, why: why, at: now}
	g.endedOrder = append(g.endedOrder, c.id)
}

// endedWhy returns the refusal of a resume with token t that names no
// session this gate holds: why its session ended, if it did within the
// window and t was its token.
func (g *Gate) endedWhy(t rpc.ResumeToken) (reason string, kind int) {
	_, cid := tokenClient(t)
	g.endedMu.Lock()
	e, ok := g.ended[cid]
	g.endedMu.Unlock()
	if ok && sameToken(e.token, t) && time.Since(e.at) < g.cfg.ResumeWindow {
		return "the session ended: " + e.why, resumeEnded
	}
	return "unknown or expired session", resumeUnknown
}

// Results of resumes, for the metrics.
const (
	resumeOK       = iota
	resumeUnknown  // unknown or expired token
	resumeEnded    // the session ended
	resumeMissed   // frames the client missed are forgotten
	resumeProtocol // a malformed resume, or one that counts too much
	numResumes
)

var resumeNames = [numResumes]string{"ok", "unknown", "ended", "missed", "protocol_error"}

// refuseResume kicks c, a connection that asked to resume, with the
// reason: the session it named is untouched.
func (g *Gate) refuseResume(c *client, why string, kind int) error {
	g.met.resumes[kind].Add(1)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()),
		logrus.InfoLevel, "resume refused", "resume refused: %s", clip.Text(why, maxReasonLog))
	g.kick(c, "resume refused: "+why)
	return nil
}

// resume handles a MsgResume, the first frame of connection nc (client
// c, not announced): if the token names a session this gate holds and
// the journal has what the client missed, the session moves to this
// connection and c's reader serves it from now on (c.adopted).
func (g *Gate) resume(c *client, body []byte) error {
	r, err := rpc.DecodeResume(body)
	if err != nil {
		g.met.resumes[resumeProtocol].Add(1)
		return g.protocolError(c, "malformed Resume (%d bytes)", len(body))
	}
	if r.Version != rpc.ProtocolVersion {
		g.met.resumes[resumeProtocol].Add(1)
		return g.refuseVersion(c, r.Version)
	}
	gid, cid := tokenClient(r.Token)
	var old *client
	if g.cfg.ResumeWindow > 0 && gid == g.cfg.ID && cid != c.id {
		old = g.lookup(cid)
	}
	var s *session
	if old != nil {
		s = old.sess.Load()
	}
	if s == nil {
		why, kind := g.endedWhy(r.Token)
		return g.refuseResume(c, why, kind)
	}
	s.mu.Lock()
	if !sameToken(s.token, r.Token) {
		s.mu.Unlock()
		why, kind := g.endedWhy(r.Token)
		return g.refuseResume(c, why, kind)
	}
	if s.state == sessEnded || old.kicked.Load() || s.state == sessTaking {
		why := s.why
		s.mu.Unlock()
		if why == "" {
			return g.refuseResume(c, "unknown or expired session", resumeUnknown)
		}
		return g.refuseResume(c, "the session ended: "+why, resumeEnded)
	}
	if r.Received > s.sent {
		sent := s.sent
		s.mu.Unlock()
		g.met.resumes[resumeProtocol].Add(1)
		return g.protocolError(c, "Resume that counts %d frames, but %d were sent", r.Received, sent)
	}
	if r.Received < s.floor {
		missed := s.floor - r.Received
		s.mu.Unlock()
		return g.refuseResume(c, fmt.Sprintf("%d frames you missed are no longer held", missed), resumeMissed)
	}
	// Accepted: the token is used up.
	s.token = g.newToken(cid)
	wasHeld := s.state == sessHeld
	if wasHeld && s.hold != nil {
		s.hold.Stop()
		s.hold = nil
	}
	oldConn, wait := old.conn.Load(), s.readerDone
	s.state = sessTaking
	s.mu.Unlock()
	if !wasHeld {
		// The old connection is open (the drop is not noticed yet):
		// close it without a frame, and wait until its reader has
		// stopped, so that what it handled is counted.
		oldConn.Close(errSuperseded)
		<-wait
	} else {
		g.held.Add(-1)
	}

	// This connection stops being a client of its own before MsgResumed
	// is its frame: a delivery to it (a broadcast to every client) comes
	// before, never after (clients count nothing before MsgResumed).
	g.mu.Lock()
	delete(g.clients, c.id)
	if c.overflow {
		c.overflow = false
		g.overflow--
	}
	owner := old.owner
	g.mu.Unlock()
	conn := c.conn.Load()
	s.mu.Lock()
	if s.state == sessEnded || old.kicked.Load() {
		// Kicked, or too much sent, while this resume waited.
		why := s.why
		if s.state != sessEnded {
			s.endLocked(why)
		}
		s.mu.Unlock()
		g.removeClient(old, why)
		return g.refuseResume(c, "the session ended: "+why, resumeEnded)
	}
	old.conn.Store(conn)
	s.readerDone = make(chan struct{})
	s.state = sessConnected
	s.acked = max(s.acked, r.Received)
	s.trim(r.Received)
	recv := s.recv.Load()
	s.ackedOut, s.unacked, s.ackArmed = recv, 0, false
	old.out.Send(conn, rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: s.token, Received: recv}))
	if rest := s.after(r.Received); len(rest) > 0 {
		old.out.SendFrame(conn, rest)
	}
	if wasHeld {
		g.sendAway(old, owner, false) // OnClientBack follows OnClientAway
	}
	resent := s.sent - r.Received // read under s.mu: deliver counts sent
	s.mu.Unlock()
	c.adopted = old
	g.met.resumes[resumeOK].Add(1)
	g.lines.Logf(g.log.WithField("client", uint64(old.id)).WithField("remote", conn.RemoteAddr().String()), logrus.DebugLevel,
		"session resumed", "session resumed (%d frames resent)", resent)
	return nil
}

// journalBytes returns the bytes of session frames kept for resumable
// clients, in all.
func (g *Gate) journalBytes() int {
	g.mu.RLock()
	ss := make([]*session, 0, len(g.clients))
	for _, c := range g.clients {
		if s := c.sess.Load(); s != nil {
			ss = append(ss, s)
		}
	}
	g.mu.RUnlock()
	n := 0
	for _, s := range ss {
		s.mu.Lock()
		n += s.size()
		s.mu.Unlock()
	}
	return n
}

// HeldSessions returns the number of resumable sessions held for
// clients whose connection dropped (they count in NumClients).
func (g *Gate) HeldSessions() int { return int(g.held.Load()) }
