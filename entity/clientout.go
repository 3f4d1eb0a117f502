package entity

import (
	"math"

	"github.com/goworld-engine/goworld/rpc"
)

// Frames for clients are not sent one by one: everything one event (a
// packet, a timer, a posted callback, a position sync) produces for the
// clients of one gate travels as one MsgToClients, whose items each carry
// one client frame and the clients it goes to. An attribute change seen by
// 200 clients is then one frame body and 200 client IDs, not 200 frames.
//
// Order is kept per gate: every other message for a gate (client owner,
// filter property, kick) first flushes what is buffered for it, and a
// broadcast flushes everything, so a client sees things in the order the
// game did them.

// clientFlushSize flushes a gate's buffer early once it holds this much,
// to keep messages well under the servers' frame limit.
const clientFlushSize = 1 << 20

type gateOut struct {
	buf []byte // gateID u16, then items
}

// toClient sends one client frame to ref through its gate.
func (w *World) toClient(ref ClientRef, t rpc.MsgType, body []byte) {
	w.appendClients(ref.Gate, []rpc.ClientID{ref.ID}, t, body)
}

// toClientRefs sends one client frame to every client in refs, grouped by gate.
func (w *World) toClientRefs(refs []ClientRef, t rpc.MsgType, body []byte) {
	if len(refs) == 1 {
		w.toClient(refs[0], t, body)
		return
	}
	if w.byGate == nil {
		w.byGate = map[rpc.GateID][]rpc.ClientID{}
	}
	for _, r := range refs {
		w.byGate[r.Gate] = append(w.byGate[r.Gate], r.ID)
	}
	// The game loop is single-threaded and appendClients copies the IDs,
	// so the scratch lists are reused: truncated, not freed.
	for g, ids := range w.byGate {
		if len(ids) > 0 {
			w.appendClients(g, ids, t, body)
			w.byGate[g] = ids[:0]
		}
	}
}

func (w *World) appendClients(g rpc.GateID, ids []rpc.ClientID, t rpc.MsgType, body []byte) {
	for len(ids) > 0 {
		n := min(len(ids), math.MaxUint16)
		o := w.gateOut[g]
		if o == nil {
			o = &gateOut{}
			w.gateOut[g] = o
		}
		if len(o.buf) == 0 {
			o.buf = rpc.AppendUint16(o.buf, uint16(g))
		}
		o.buf = rpc.AppendUint16(o.buf, uint16(n))
		for _, id := range ids[:n] {
			o.buf = rpc.AppendUint64(o.buf, uint64(id))
		}
		o.buf = rpc.AppendUint32LE(o.buf, uint32(2+len(body)))
		o.buf = rpc.AppendUint16(o.buf, uint16(t))
		o.buf = append(o.buf, body...)
		ids = ids[n:]
		if len(o.buf) >= clientFlushSize {
			w.flushGate(g)
		}
	}
}

// flushGate sends what is buffered for gate g.
func (w *World) flushGate(g rpc.GateID) {
	o := w.gateOut[g]
	if o == nil || len(o.buf) == 0 {
		return
	}
	w.out.Send(g.Shard(w.out.NumDispatchers()), rpc.MsgToClients, o.buf)
	if cap(o.buf) > 4*clientFlushSize {
		o.buf = nil
	} else {
		o.buf = o.buf[:0]
	}
}

// flushClients sends everything buffered for clients (Engine.FlushClients).
func (w *World) flushClients() {
	for g := range w.gateOut {
		w.flushGate(g)
	}
}
