package gate

import (
	"encoding/binary"
	"errors"
	"go/token"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
	"github.com/sirupsen/logrus"
)

// Client requests (MsgRequest). The gate forwards a request as
// MsgClientRequest, like a call, and keeps its ID until the answer
// (a MsgReply frame from the game, or from a dispatcher for an entity
// that does not exist) passes through to the client. A client may have
// at most Config.MaxClientRequests requests outstanding: the gate
// answers one beyond with rpc.CodeOverloaded itself, so nothing queues
// without bound. A request whose answer never comes (its game died) is
// forgotten after clientRequestForget, when the client is full; an
// answer for a request the gate does not hold is dropped, so a client
// gets at most one answer per request. Reusing the ID of an outstanding
// request is a protocol error.

// clientRequestForget is how long the gate keeps an unanswered request
// against the client's max_client_requests. Longer than any request's
// sensible timeout: the client has given up on it by then.
const clientRequestForget = time.Minute

// request handles a client's MsgRequest.
func (g *Gate) request(c *client, body []byte) error {
	q, err := rpc.DecodeClientRequest(body)
	if err != nil {
		return g.protocolError(c, "malformed Request (%d bytes)", len(body))
	}
	if len(q.Method) > rpc.MaxMethodNameLen {
		return g.protocolError(c, "method name of %d bytes, over the limit of %d", len(q.Method), rpc.MaxMethodNameLen)
	}
	if !token.IsIdentifier(q.Method) {
		return g.protocolError(c, "method name %s is not an identifier", clip.QuoteDefault(q.Method))
	}
	size := rpc.EntityIDLength + 2 + 8 + 4 + 2 + len(q.Method) + len(q.Args)
	if size > g.cfg.MaxPacketSize {
		return g.protocolError(c, "request of %d bytes, too large to forward (max_packet_size %d)", len(body), g.cfg.MaxPacketSize)
	}
	now := time.Now()
	c.reqMu.Lock()
	if _, dup := c.reqs[q.ID]; dup {
		c.reqMu.Unlock()
		return g.protocolError(c, "request ID %d is already waiting for its answer", q.ID)
	}
	if len(c.reqs) >= g.cfg.MaxClientRequests {
		for id, at := range c.reqs {
			if now.Sub(at) > clientRequestForget {
				delete(c.reqs, id)
			}
		}
	}
	full := len(c.reqs) >= g.cfg.MaxClientRequests
	if !full {
		if c.reqs == nil {
			c.reqs = map[uint32]time.Time{}
		}
		c.reqs[q.ID] = now
	}
	c.reqMu.Unlock()
	if full {
		g.reqOverloaded.Add(1)
		g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.DebugLevel, "client requests overloaded",
			"client request refused: %d requests outstanding (max_client_requests)", g.cfg.MaxClientRequests)
		g.replyToClient(c, q.ID, rpc.CodeOverloaded, "too many requests waiting for their answers (max_client_requests)")
		return nil
	}
	err = c.out.AppendLink(g.link(q.Entity.Shard(len(g.links))), func(b []byte) []byte {
		b = rpc.AppendHeader(b, rpc.MsgClientRequest, size)
		b = rpc.AppendEntityID(b, q.Entity)
		b = rpc.AppendUint16(b, uint16(g.cfg.ID))
		b = rpc.AppendUint64(b, uint64(c.id))
		b = rpc.AppendUint32LE(b, q.ID)
		b = rpc.AppendString(b, q.Method)
		return append(b, q.Args...)
	})
	if err != nil {
		c.reqMu.Lock()
		delete(c.reqs, q.ID)
		c.reqMu.Unlock()
		if errors.Is(err, link.ErrQueueFull) {
			g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.WarnLevel, "link queue full",
				"client request refused: dispatcher link down and its queue full; kicking the client")
			g.kick(c, "the server is unreachable and too much is waiting for it; please reconnect")
			return nil
		}
		g.replyToClient(c, q.ID, rpc.CodeOverloaded, "the server is unreachable")
	}
	return nil
}

// replyToClient sends c the gate's own answer to its request id.
func (g *Gate) replyToClient(c *client, id uint32, code rpc.ErrorCode, msg string) {
	g.deliver(&c.out, c, rpc.AppendReplyError(rpc.AppendUint32LE(rpc.AppendUint16(nil, uint16(rpc.MsgReply)), id), code, msg))
}

// answered reports whether a frame for c may go to it: any frame but a
// MsgReply, and a MsgReply to a request of c's that waits for it (which
// it then no longer does).
func (g *Gate) answered(c *client, frame []byte) bool {
	if len(frame) < 2 || rpc.MsgType(binary.LittleEndian.Uint16(frame)) != rpc.MsgReply {
		return true
	}
	if len(frame) < 2+4 {
		return false
	}
	id := binary.LittleEndian.Uint32(frame[2:])
	c.reqMu.Lock()
	_, ok := c.reqs[id]
	delete(c.reqs, id)
	c.reqMu.Unlock()
	if !ok {
		g.reqUnmatched.Add(1)
	}
	return ok
}
