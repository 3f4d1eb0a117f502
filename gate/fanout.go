package gate

// What the dispatchers send for clients: frames to one or many, owners,
// filter properties, kicks and broadcasts.

import (
	"encoding/binary"
	"fmt"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// toClients delivers a MsgToClients body: after the gate ID, items of
// n u16 | n client IDs u64 | frame length u32 | frame.
func (g *Gate) toClients(out *rpc.Batch, body []byte) error {
	if len(body) < 2 {
		return fmt.Errorf("gate: malformed %v: short body", rpc.MsgToClients)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for off := 2; off < len(body); {
		if len(body)-off < 2 {
			return fmt.Errorf("gate: malformed %v: truncated item", rpc.MsgToClients)
		}
		n := int(binary.LittleEndian.Uint16(body[off:]))
		ids := off + 2
		off = ids + 8*n
		if off+4 > len(body) {
			return fmt.Errorf("gate: malformed %v: truncated client list", rpc.MsgToClients)
		}
		flen := int(binary.LittleEndian.Uint32(body[off:]))
		off += 4
		if flen < 2 || flen > len(body)-off {
			return fmt.Errorf("gate: malformed %v: frame of %d bytes", rpc.MsgToClients, flen)
		}
		frame := body[off : off+flen]
		off += flen
		for i := 0; i < n; i++ {
			cid := rpc.ClientID(binary.LittleEndian.Uint64(body[ids+8*i:]))
			if c := g.clients[cid]; c != nil && g.answered(c, frame) {
				g.deliver(out, c, frame)
			}
		}
	}
	return nil
}

func (g *Gate) lookup(cid rpc.ClientID) *client {
	g.mu.RLock()
	c := g.clients[cid]
	g.mu.RUnlock()
	return c
}

// handleDispatcher handles one frame from a dispatcher, on its link's
// goroutine; what it sends waits in out.
func (g *Gate) handleDispatcher(out *rpc.Batch, t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	switch t {
	case rpc.MsgToClient:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		frame := r.Rest() // client type u16 | client body
		if r.Err() != nil || len(frame) < 2 {
			return fmt.Errorf("gate: malformed %v", t)
		}
		g.mu.RLock()
		if c := g.clients[cid]; c != nil && g.answered(c, frame) {
			g.deliver(out, c, frame)
		}
		g.mu.RUnlock()
		return nil
	case rpc.MsgToClients:
		return g.toClients(out, body)
	case rpc.MsgSetClientOwner:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		owner := r.EntityID()
		game := rpc.GameID(r.Uint16())
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		g.mu.Lock()
		c := g.clients[cid]
		if c != nil {
			c.owner, c.ownerGame = owner, game
		}
		g.mu.Unlock()
		if c == nil && owner != "" {
			// The client left before its owner was known: tell the owner.
			out.SendLink(g.link(owner.Shard(len(g.links))), rpc.MsgClientDisconnected, g.clientBody(owner, cid))
		}
		return nil
	case rpc.MsgSetClientFilterProp:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		key, val := r.String(), r.String()
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		if len(key) > rpc.MaxFilterPropLen || len(val) > rpc.MaxFilterPropLen {
			// A game refuses these (Entity.SetClientFilterProp); one that
			// did not would make every client's properties a store.
			g.lines.Logf(g.log.WithField("client", uint64(cid)), logrus.WarnLevel, "filter property too long",
				"filter property %s = %s ignored: longer than %d bytes", clip.QuoteDefault(key), clip.QuoteDefault(val), rpc.MaxFilterPropLen)
			return nil
		}
		g.mu.Lock()
		if c := g.clients[cid]; c != nil {
			g.setPropLocked(c, key, val)
		}
		g.mu.Unlock()
		return nil
	case rpc.MsgKickClient:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		reason := r.String()
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		if c := g.lookup(cid); c != nil {
			g.lines.Logf(g.log.WithField("client", uint64(cid)).WithField("reason", clip.Text(reason, maxReasonLog)),
				logrus.InfoLevel, "kick requested by a game", "kicking client on a game's request")
			g.kick(c, reason)
		}
		return nil
	case rpc.MsgFilteredBroadcast:
		op, key, val, frame, err := decodeBroadcast(body)
		if err != nil {
			return err
		}
		if len(key) > rpc.MaxFilterPropLen || len(val) > rpc.MaxFilterPropLen {
			// A game refuses these (World.CallFilteredClientsOp): no
			// property is that long, and comparing one with every client's
			// would cost its length each time.
			g.lines.Logf(g.log, logrus.WarnLevel, "filter property too long",
				"broadcast to %s %v %s dropped: longer than %d bytes", clip.QuoteDefault(key), op, clip.QuoteDefault(val), rpc.MaxFilterPropLen)
			return nil
		}
		if !op.Valid() {
			g.lines.Logf(g.log, logrus.WarnLevel, "unknown filter op", "broadcast dropped: unknown filter op %d", uint8(op))
			return nil
		}
		g.broadcast(out, op, key, val, frame)
		return nil
	case rpc.MsgPeerGone:
		role, id := rpc.Role(r.Uint8()), r.Uint16()
		if role == rpc.RoleGame {
			g.gameGone(rpc.GameID(id))
		}
		return nil
	}
	return fmt.Errorf("gate: unexpected %v from dispatcher", t)
}

// kickAll kicks every client (unless the gate is closing).
func (g *Gate) kickAll(reason string) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return
	}
	cs := make([]*client, 0, len(g.clients))
	for _, c := range g.clients {
		cs = append(cs, c)
	}
	g.mu.RUnlock()
	if len(cs) > 0 {
		g.log.Warnf("a dispatcher saw this gate leave and told the games; disconnecting all %d clients", len(cs))
	}
	for _, c := range cs {
		g.kick(c, reason)
	}
}

// gameGone kicks the clients whose owner entity lived on a game that went
// away: their session is gone with it.
func (g *Gate) gameGone(game rpc.GameID) {
	g.mu.RLock()
	var victims []*client
	for _, c := range g.clients {
		if c.owner != "" && c.ownerGame == game {
			victims = append(victims, c)
		}
	}
	g.mu.RUnlock()
	if len(victims) > 0 {
		g.log.Warnf("game%d is gone; disconnecting its %d clients", game, len(victims))
	}
	for _, c := range victims {
		g.kick(c, fmt.Sprintf("the game hosting your entity stopped (game%d); please reconnect", game))
	}
}

// decodeBroadcast decodes MsgFilteredBroadcast: op u8 | key str | value
// str | client frame type u16 | client frame body.
func decodeBroadcast(body []byte) (op rpc.FilterOp, key, val string, frame []byte, err error) {
	r := rpc.NewReader(body)
	op = rpc.FilterOp(r.Uint8())
	key, val = r.String(), r.String()
	frame = r.Rest()
	if r.Err() != nil || len(frame) < 2 {
		return 0, "", "", nil, fmt.Errorf("gate: malformed %v (%d bytes)", rpc.MsgFilteredBroadcast, len(body))
	}
	return op, key, val, frame, nil
}

// broadcast sends frame to every client that matches key op val.
func (g *Gate) broadcast(out *rpc.Batch, op rpc.FilterOp, key, val string, frame []byte) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.eachRecipientLocked(op, key, val, func(c *client) { g.deliver(out, c, frame) })
}

// eachRecipientLocked calls fn for every client whose property key
// matches op and val (rpc.FilterOp.Match), each once; none for an unknown
// op. Equality uses the index; the other comparisons look at every client
// (each comparison bounded by rpc.MaxFilterPropLen).
func (g *Gate) eachRecipientLocked(op rpc.FilterOp, key, val string, fn func(*client)) {
	switch {
	case op == rpc.FilterEq:
		for c := range g.index[key][val] {
			fn(c)
		}
	case op == rpc.FilterAll:
		for _, c := range g.clients {
			fn(c)
		}
	case op.Valid():
		match := op.Matcher(val) // val read once, not once per client
		for _, c := range g.clients {
			if v, ok := c.props[key]; match(v, ok) {
				fn(c)
			}
		}
	}
}

func (g *Gate) setPropLocked(c *client, key, val string) {
	if old, ok := c.props[key]; ok {
		if old == val {
			return
		}
		delete(g.index[key][old], c)
		if len(g.index[key][old]) == 0 {
			delete(g.index[key], old)
		}
	}
	if val == "" {
		delete(c.props, key)
		return
	}
	if c.props == nil {
		c.props = map[string]string{}
	}
	c.props[key] = val
	byVal := g.index[key]
	if byVal == nil {
		byVal = map[string]map[*client]struct{}{}
		g.index[key] = byVal
	}
	set := byVal[val]
	if set == nil {
		set = map[*client]struct{}{}
		byVal[val] = set
	}
	set[c] = struct{}{}
}

func (g *Gate) unindexLocked(c *client) {
	for key := range c.props {
		g.setPropLocked(c, key, "")
	}
}
