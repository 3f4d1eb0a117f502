package dispatcher

import (
	"sync"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// recovery holds, for a restarted dispatcher, the frames for what it does
// not know yet. The maps and slices are changed under mu while d.mu is
// held for reading, and read and emptied under d.mu held for writing.
type recovery struct {
	mu    sync.Mutex
	timer *time.Timer
	since time.Time
	// budget bounds, to RecoverQueueLimit, everything held: the queues
	// below and the clients.
	budget   *budget
	entities map[rpc.EntityID]*frameQueue // frames for entities not registered yet
	// gateLog holds, in arrival order, gate-routed frames for gates not
	// connected since the restart and every filtered broadcast: each gate
	// gets its part when it first connects.
	gateLog frameQueue
	seen    map[rpc.GateID]bool // gates connected since the restart
	clients [][]byte            // MsgClientConnected bodies, while no game is connected
	// loads marks the entities whose held frames include a
	// MsgLoadEntitySomewhere: they are placed on a game once every game
	// of Config.Games is back (back), or when the window ends, unless
	// their game re-registers them first.
	loads map[rpc.EntityID]bool
	back  map[rpc.GameID]bool // games that said MsgRegistered since the restart
}

// reserveLocked counts n more bytes held, within RecoverQueueLimit; false
// means the frame must be dropped (it is counted, and logged now and
// then). The caller holds d.mu and, unless it holds d.mu for writing,
// r.mu.
func (d *Dispatcher) reserveLocked(r *recovery, n int) bool {
	if r.budget.reserve(n) {
		return true
	}
	d.logHoldFull(r)
	return false
}

// holdLocked appends a frame to q (one of r's) within RecoverQueueLimit,
// and reports whether it did. The caller holds d.mu and, unless it holds
// d.mu for writing, r.mu.
func (d *Dispatcher) holdLocked(r *recovery, q *frameQueue, t rpc.MsgType, body []byte) bool {
	if q.add(t, body) {
		return true
	}
	d.logHoldFull(r)
	return false
}

// logHoldFull logs, now and then, that the recovery's hold is full.
func (d *Dispatcher) logHoldFull(r *recovery) {
	if r.budget.shouldLog() {
		d.log.Errorf("recovering from a restart and the hold queue is full (recover_queue_limit %d bytes): %d packets dropped so far", d.cfg.RecoverQueueLimit, r.budget.dropped)
	}
}

// entityQueueLocked returns the hold queue of entity id, made if need be.
// The caller holds d.mu and, unless it holds d.mu for writing, r.mu.
func (r *recovery) entityQueueLocked(id rpc.EntityID) *frameQueue {
	q := r.entities[id]
	if q == nil {
		q = &frameQueue{budget: r.budget}
		r.entities[id] = q
	}
	return q
}

// takeEntityLocked removes entity id's hold queue and returns its frames
// (ok false: nothing was held for it). The caller holds d.mu for writing.
func (r *recovery) takeEntityLocked(id rpc.EntityID) (frames []byte, ok bool) {
	q, ok := r.entities[id]
	if !ok {
		return nil, false
	}
	delete(r.entities, id)
	return q.take(), true
}

// startRecoveryLocked begins the recovery window, once per process. The
// caller holds d.mu for writing.
func (d *Dispatcher) startRecoveryLocked(p *peer) {
	if d.recovered || d.cfg.RecoverWindow < 0 || d.closed {
		return
	}
	d.recovered = true
	b := &budget{limit: d.cfg.RecoverQueueLimit}
	r := &recovery{since: time.Now(), budget: b, gateLog: frameQueue{budget: b},
		entities: map[rpc.EntityID]*frameQueue{}, seen: map[rpc.GateID]bool{},
		loads: map[rpc.EntityID]bool{}, back: map[rpc.GameID]bool{}}
	for gid := range d.gates {
		r.seen[gid] = true
	}
	for gid, g := range d.games {
		if g.registered {
			r.back[gid] = true
		}
	}
	r.timer = time.AfterFunc(d.cfg.RecoverWindow, d.endRecovery)
	d.rec = r
	d.log.WithField("peer", p.String()).Warnf("%s was connected to another dispatcher instance: this one restarted; holding packets for what re-registers within %v", p, d.cfg.RecoverWindow)
}

// gamesBackLocked reports whether every game of Config.Games has
// re-registered since the restart. The caller holds d.mu.
func (d *Dispatcher) gamesBackLocked(r *recovery) bool {
	if len(d.cfg.Games) == 0 {
		return false
	}
	for _, gid := range d.cfg.Games {
		if !r.back[gid] {
			return false
		}
	}
	return true
}

// placeHeldLoadsLocked places the entities whose loads are held on games,
// as a load outside recovery does, and forwards what was held for each:
// no game has re-registered them, so none holds them. The caller holds
// d.mu for writing.
func (d *Dispatcher) placeHeldLoadsLocked(r *recovery, out *rpc.Batch) {
	for id := range r.loads {
		delete(r.loads, id)
		if r.entities[id] == nil {
			continue
		}
		gid, found := d.pickGameLocked()
		if !found {
			d.log.Warnf("load of %s held during recovery: no game connected; dropped", id)
			continue
		}
		frames, _ := r.takeEntityLocked(id)
		d.entities[id] = gid
		d.load[gid]++
		d.forwardFramesLocked(out, gid, frames)
	}
}

// endRecovery ends the recovery window: held loads are placed, and what
// is still held for other entities is dropped.
func (d *Dispatcher) endRecovery() {
	defer d.recoverPanic("ending the recovery window", nil)
	var r *recovery
	d.locked(func() {
		r = d.rec
		d.rec = nil
		if r != nil {
			d.placeHeldLoadsLocked(r, nil)
		}
	})
	if r == nil {
		return
	}
	n := 0
	for _, q := range r.entities {
		n += q.size()
	}
	entry := d.log.WithField("recovered_for", time.Since(r.since).Round(time.Millisecond).String())
	if len(r.entities) > 0 || len(r.clients) > 0 || r.budget.dropped > 0 {
		entry.Errorf("recovery window over: %d bytes for %d entities that never registered, %d new clients that found no game and %d packets over recover_queue_limit dropped",
			n, len(r.entities), len(r.clients), r.budget.dropped)
	} else {
		entry.Info("recovery window over; nothing was left waiting")
	}
}

// replayGateLogLocked sends gate p the frames of the recovery's gate log
// that are for it: those routed to it and the filtered broadcasts of this
// dispatcher's shard. It returns their bytes. The caller holds d.mu for
// writing.
func (d *Dispatcher) replayGateLogLocked(r *recovery, p *peer) int {
	gid := rpc.GateID(p.id)
	mine := gid.Shard(d.cfg.Count) == d.cfg.Index
	n := 0
	err := eachFrame(r.gateLog.frames, func(t rpc.MsgType, body []byte) {
		to, _ := rpc.PeekGateID(body)
		if (t == rpc.MsgFilteredBroadcast && mine) || (t != rpc.MsgFilteredBroadcast && to == gid) {
			p.conn.Send(t, body)
			n += rpc.HeaderSize + len(body)
		}
	})
	if err != nil {
		d.log.Errorf("dispatcher: corrupt recovery log (%v)", err)
	}
	return n
}

// hold appends a frame to q (one of r's) under r.mu, within
// RecoverQueueLimit. The caller holds d.mu for reading.
func (r *recovery) hold(d *Dispatcher, q *frameQueue, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.holdLocked(r, q, t, body)
}

// holdFor holds a frame for entity id under r.mu. The caller holds d.mu
// for reading.
func (r *recovery) holdFor(d *Dispatcher, id rpc.EntityID, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !d.holdLocked(r, r.entityQueueLocked(id), t, body) && r.entities[id].size() == 0 {
		delete(r.entities, id) // nothing held for it after all
	}
}
