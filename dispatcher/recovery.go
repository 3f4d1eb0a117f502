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
	mu       sync.Mutex
	timer    *time.Timer
	since    time.Time
	bytes    int                     // held in total
	dropped  int                     // frames refused over RecoverQueueLimit
	entities map[rpc.EntityID][]byte // frames for entities not registered yet
	// gateLog holds, in arrival order, gate-routed frames for gates not
	// connected since the restart and every filtered broadcast: each gate
	// gets its part when it first connects.
	gateLog []byte
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
// means the frame must be dropped (it is counted). The caller holds d.mu
// and, unless it holds d.mu for writing, r.mu.
func (d *Dispatcher) reserveLocked(r *recovery, n int) bool {
	if r.bytes+n > d.cfg.RecoverQueueLimit {
		if r.dropped++; r.dropped == 1 || r.dropped%1000 == 0 {
			d.log.Errorf("recovering from a restart and the hold queue is full (recover_queue_limit %d bytes): %d packets dropped so far", d.cfg.RecoverQueueLimit, r.dropped)
		}
		return false
	}
	r.bytes += n
	return true
}

// holdLocked appends a frame to *q within RecoverQueueLimit (see
// reserveLocked).
func (d *Dispatcher) holdLocked(r *recovery, q *[]byte, t rpc.MsgType, body []byte) {
	if d.reserveLocked(r, rpc.HeaderSize+len(body)) {
		*q = rpc.AppendFrame(*q, t, body)
	}
}

// startRecoveryLocked begins the recovery window, once per process. The
// caller holds d.mu for writing.
func (d *Dispatcher) startRecoveryLocked(p *peer) {
	if d.recovered || d.cfg.RecoverWindow < 0 || d.closed {
		return
	}
	d.recovered = true
	r := &recovery{since: time.Now(), entities: map[rpc.EntityID][]byte{}, seen: map[rpc.GateID]bool{},
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
		frames, ok := r.entities[id]
		if !ok {
			continue
		}
		gid, found := d.pickGameLocked()
		if !found {
			d.log.Warnf("load of %s held during recovery: no game connected; dropped", id)
			continue
		}
		delete(r.entities, id)
		r.bytes -= len(frames)
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
		n += len(q)
	}
	entry := d.log.WithField("recovered_for", time.Since(r.since).Round(time.Millisecond).String())
	if len(r.entities) > 0 || len(r.clients) > 0 || r.dropped > 0 {
		entry.Errorf("recovery window over: %d bytes for %d entities that never registered, %d new clients that found no game and %d packets over recover_queue_limit dropped",
			n, len(r.entities), len(r.clients), r.dropped)
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
	for b := r.gateLog; len(b) >= rpc.HeaderSize; {
		t, size, err := rpc.ParseHeader(b[:rpc.HeaderSize], len(b))
		if err != nil || rpc.HeaderSize+size > len(b) {
			d.log.Errorf("dispatcher: corrupt recovery log (%v)", err)
			return n
		}
		body := b[rpc.HeaderSize : rpc.HeaderSize+size]
		b = b[rpc.HeaderSize+size:]
		to, _ := rpc.PeekGateID(body)
		if (t == rpc.MsgFilteredBroadcast && mine) || (t != rpc.MsgFilteredBroadcast && to == gid) {
			p.conn.Send(t, body)
			n += rpc.HeaderSize + size
		}
	}
	return n
}

// hold appends a frame to *q (one of r's) under r.mu, within
// RecoverQueueLimit. The caller holds d.mu for reading.
func (r *recovery) hold(d *Dispatcher, q *[]byte, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.holdLocked(r, q, t, body)
}

// holdFor holds a frame for entity id under r.mu. The caller holds d.mu
// for reading.
func (r *recovery) holdFor(d *Dispatcher, id rpc.EntityID, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.entities[id]
	d.holdLocked(r, &q, t, body)
	if q != nil {
		r.entities[id] = q
	}
}
