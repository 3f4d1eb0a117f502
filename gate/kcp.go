package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/goworld-engine/goworld/rpc"
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

// newKCPConn wraps the server side of one KCP client session whose first
// frame the gate has read already (first): its Close stops the reader at
// once and tears the session down after kcpLinger, or as soon as the gate
// closes.
func (g *Gate) newKCPConn(s *kcp.UDPSession, first []byte, release func()) net.Conn {
	return &lingerConn{Conn: &kcpFirstFrame{UDPSession: s, first: first}, g: g, release: release, finish: func() {
		t := time.NewTimer(kcpLinger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-g.closing.Done():
		}
		g.closeKCP(s)
	}}
}

// closeKCP closes a session the gate took from kcp-go, and tells the
// filter its address is free again.
func (g *Gate) closeKCP(s *kcp.UDPSession) {
	s.Close()
	g.udp.forget(s.RemoteAddr(), s.GetConv())
}

// kcpFirstFrame is a KCP session whose first bytes were read before the
// client's reader started: Read returns them first.
type kcpFirstFrame struct {
	*kcp.UDPSession
	first []byte
}

// Read returns what is left of the first bytes, then reads the session.
func (c *kcpFirstFrame) Read(p []byte) (int, error) {
	if len(c.first) == 0 {
		return c.UDPSession.Read(p)
	}
	n := copy(p, c.first)
	if c.first = c.first[n:]; len(c.first) == 0 {
		c.first = nil
	}
	return n, nil
}

// admitKCP takes a session that kcp-go opened (for a datagram that passed
// the filter: from a sender that got a cookie at its address, with its
// first frame) and holds it until that frame has been read; only then is
// it a client, counted against max_clients and announced (at that frame).
// Since the filter lets a session open only with its first frame, that
// takes microseconds; should a session still have no complete frame
// within KCPHandshakeTimeout, it is closed. Until then it is pending
// (Gate.PendingKCP): kcp-go's state, two goroutines and the bytes
// received.
func (g *Gate) admitKCP(s *kcp.UDPSession) {
	g.udp.accepted(s.RemoteAddr(), s.GetConv())
	// Counted until the session is closed; one over max_clients_per_ip
	// is kicked with the reason at its first frame.
	release, ok := g.perAddr.take(s.RemoteAddr())
	if !ok {
		release = func() {}
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.closeKCP(s)
		release()
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	g.kcpPending.Add(1)
	go func() {
		defer g.wg.Done()
		first, err := g.readFirstFrame(s)
		if err != nil {
			// Counted before it stops being pending, so that whoever sees
			// PendingKCP fall also sees why.
			var ne net.Error
			if g.closing.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
				g.kcpTimeouts.Add(1)
				g.kcpDrops.note()
			}
			g.kcpPending.Add(-1)
			g.closeKCP(s)
			release()
			return
		}
		g.kcpPending.Add(-1)
		g.startClient(g.newKCPConn(s, first, release), true, !ok)
	}()
}

// readFirstFrame reads a session's first frame, header and body, within
// KCPHandshakeTimeout (or until the gate closes). A header that declares
// a body over max_client_packet_size, or a length below 2, is returned
// as it is: the client's reader kicks the client with the reason. What is
// read grows with what arrived, up to one frame.
func (g *Gate) readFirstFrame(s *kcp.UDPSession) ([]byte, error) {
	s.SetReadDeadline(time.Now().Add(g.cfg.KCPHandshakeTimeout))
	stop := context.AfterFunc(g.closing, func() { s.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 0, 64)
	need := rpc.HeaderSize
	for len(buf) < need {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(need-len(buf), 4096))
		}
		n, err := s.Read(buf[len(buf):min(need, cap(buf))])
		if err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+n]
		if need == rpc.HeaderSize && len(buf) == rpc.HeaderSize {
			_, body, err := rpc.ParseHeader(buf, g.cfg.MaxClientPacketSize)
			if err != nil {
				return buf, nil
			}
			need += body
		}
	}
	return buf, nil
}

// PendingKCP returns the number of KCP sessions that have not yet sent
// their first complete frame (see Config.KCPHandshakeTimeout). They are
// not clients: NumClients does not count them.
func (g *Gate) PendingKCP() int { return int(g.kcpPending.Load()) }

// kcpDropCounts lists the totals that the KCP drop log reports.
func (g *Gate) kcpDropCounts() []dropCount {
	f := g.udp
	return []dropCount{
		{"session_rate", f.dropped[dropSessionRate].Load(), fmt.Sprintf("dropped %%d first datagrams of new KCP sessions: more than %d per second (kcp_session_rate); their clients resend them", g.cfg.KCPSessionRate)},
		{"bad_cookie", f.dropped[dropBadCookie].Load(), "dropped %d datagrams from new addresses without a valid handshake cookie"},
		{"no_frame", f.dropped[dropNoFrame].Load(), "dropped %d datagrams with a valid cookie but no whole first frame in the session's first segment"},
		{"wrong_conv", f.dropped[dropWrongConv].Load(), "dropped %d datagrams from the address of a session, for another conversation"},
		{"malformed", f.dropped[dropMalformed].Load(), "dropped %d malformed datagrams"},
		{"hello_rate", f.dropped[dropHelloRate].Load(), fmt.Sprintf("left %%d hellos unanswered: more than %d per second (kcp_hello_rate)", g.cfg.KCPHelloRate)},
		{"timeout", g.kcpTimeouts.Load(), fmt.Sprintf("closed %%d sessions that sent no complete frame within kcp_handshake_timeout (%v)", g.cfg.KCPHandshakeTimeout)},
	}
}
