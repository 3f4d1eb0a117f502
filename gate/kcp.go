package gate

import (
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

// kcpConn is the server side of one KCP client session. Its Close stops
// the reader at once (reads time out) and tears the session down after
// kcpLinger, or as soon as the gate closes, on a goroutine that the gate's
// WaitGroup tracks.
type kcpConn struct {
	*kcp.UDPSession
	g *Gate

	mu     sync.Mutex
	closed bool
}

// SetReadDeadline sets the session's read deadline, unless Close has
// expired it for good.
func (k *kcpConn) SetReadDeadline(t time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	return k.UDPSession.SetReadDeadline(t)
}

// Close makes pending and later reads fail, starts the linger and returns
// nil. Only the first call has an effect.
func (k *kcpConn) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	// The client's reader goroutine (or, for a refused client, the one
	// that waits for its close) holds a count of the WaitGroup until its
	// read fails or the rpc.Conn's Done is closed, both after this Add:
	// it cannot race with Gate.Close's Wait.
	k.g.wg.Add(1)
	k.UDPSession.SetReadDeadline(time.Now())
	k.mu.Unlock()
	go func() {
		defer k.g.wg.Done()
		t := time.NewTimer(kcpLinger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-k.g.closing:
		}
		k.UDPSession.Close()
	}()
	return nil
}
