package gate

import (
	"net"
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
		case <-g.closing.Done():
		}
		s.Close()
	}}
}
