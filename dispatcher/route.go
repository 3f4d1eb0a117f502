package dispatcher

import (
	"encoding/binary"
	"fmt"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// routeGuarded is route, with a panic turned into a dropped frame: it is
// logged with its stack, the peer and the message, counted in /metrics,
// and the peer's connection serves on. Every lock route takes is released
// by a defer, so a panic leaves none held.
func (d *Dispatcher) routeGuarded(p *peer, t rpc.MsgType, body []byte) (err error) {
	defer d.recoverPanic("routing a frame (dropped)", func(f logrus.Fields) {
		f["peer"], f["msg"] = p.String(), t.String()
		if t.IsEntityRouted() {
			if id, ok := rpc.PeekEntityID(body); ok {
				f["entity"] = fmt.Sprintf("%q", id)
			}
		}
	})
	return d.route(p, t, body)
}

// errProtocol closes a peer that sent something a correct peer never sends.
func errProtocol(p *peer, t rpc.MsgType, what string) error {
	return fmt.Errorf("dispatcher: protocol error from %s: %v: %s", p, t, what)
}

// route handles one frame from p, on p's reader goroutine.
func (d *Dispatcher) route(p *peer, t rpc.MsgType, body []byte) error {
	switch {
	case t.IsEntityRouted():
		return d.routeEntity(p, t, body)
	case t.IsGateRouted():
		return d.routeToGate(p, t, body)
	}
	if want, ok := senderRole(t); ok && p.role != want {
		return errProtocol(p, t, "not from a "+want.String())
	}
	switch t {
	case rpc.MsgClientConnected:
		return d.clientConnected(p, t, body)
	case rpc.MsgFreezeGame, rpc.MsgUnfreezeGame:
		d.freeze(p, t == rpc.MsgFreezeGame)
		return nil
	case rpc.MsgRegistered:
		d.registered(p)
		return nil
	case rpc.MsgRestored:
		d.restored(p)
		return nil
	case rpc.MsgFilteredBroadcast:
		d.filteredBroadcast(p, t, body)
		return nil
	}
	return errProtocol(p, t, "unexpected message type")
}

// senderRole returns the role of the only peers that may send t, if only
// one may.
func senderRole(t rpc.MsgType) (rpc.Role, bool) {
	switch t {
	case rpc.MsgRegisterEntity, rpc.MsgUnregisterEntity, rpc.MsgCreateEntitySomewhere, rpc.MsgLoadEntitySomewhere,
		rpc.MsgMigrateBlock, rpc.MsgMigrateEntity, rpc.MsgCreateEntityOnGame, rpc.MsgLoadEntityResult,
		rpc.MsgRequestEntityMethod, rpc.MsgRequestReply, rpc.MsgCallOffline, rpc.MsgEnsureService, rpc.MsgRequestOffline,
		rpc.MsgFreezeGame, rpc.MsgUnfreezeGame, rpc.MsgRegistered, rpc.MsgRestored, rpc.MsgFilteredBroadcast:
		return rpc.RoleGame, true
	case rpc.MsgClientCall, rpc.MsgClientDisconnected, rpc.MsgClientSyncPosition, rpc.MsgClientRequest,
		rpc.MsgClientConnected, rpc.MsgClientAway:
		return rpc.RoleGate, true
	}
	return 0, false
}

// routeToGate forwards a gate-routed frame from a game to its gate, or
// holds it on a restarted dispatcher that the gate has not redialled yet.
func (d *Dispatcher) routeToGate(p *peer, t rpc.MsgType, body []byte) error {
	gid, ok := rpc.PeekGateID(body)
	if !ok || p.role != rpc.RoleGame {
		return errProtocol(p, t, "short body or not from a game")
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	g := d.gates[gid]
	if g == nil {
		if r := d.rec; r != nil && !r.seen[gid] {
			// Restarted: the gate has not redialled yet.
			r.hold(d, &r.gateLog, t, body)
			return nil
		}
		d.log.Debugf("%v for unknown gate %d dropped", t, gid)
		return nil
	}
	p.out.Send(g.conn, t, body)
	return nil
}

// clientConnected places a gate's new client on a game (its boot
// entity), holds it on a restarted dispatcher that no game is back to
// yet, or kicks it when there is no game.
func (d *Dispatcher) clientConnected(p *peer, t rpc.MsgType, body []byte) error {
	if len(body) < rpc.EntityIDLength+2+8 {
		return errProtocol(p, t, "short body")
	}
	placed := true
	d.locked(func() {
		if d.rec != nil && len(d.games) == 0 && len(d.frozen) == 0 && d.reserveLocked(d.rec, rpc.HeaderSize+len(body)) {
			// Restarted, and no game is back yet: the client waits (or,
			// over the hold's bound, is kicked below).
			d.rec.clients = append(d.rec.clients, append([]byte(nil), body...))
			return
		}
		placed = d.connectClientLocked(p.out, body)
	})
	if !placed {
		d.lines.Logf(d.log, logrus.WarnLevel, "client kicked: no game", "a client connected but no game is connected; kicking it")
		r := rpc.NewReader(body[rpc.EntityIDLength:])
		gid, cid := r.Uint16(), r.Uint64()
		kick := rpc.AppendUint64(rpc.AppendUint16(nil, gid), cid)
		p.out.Send(p.conn, rpc.MsgKickClient, rpc.AppendString(kick, "no game server is available"))
	}
	return nil
}

// registered records that game p has re-registered its entities of this
// shard (MsgRegistered); on a restarted dispatcher, once every game has,
// the loads held meanwhile are placed.
func (d *Dispatcher) registered(p *peer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p.registered = true
	if r := d.rec; r != nil && !r.back[rpc.GameID(p.id)] {
		r.back[rpc.GameID(p.id)] = true
		if len(r.loads) > 0 && d.gamesBackLocked(r) {
			d.log.WithField("peer", p.String()).Infof("every game has re-registered: placing %d loads held since the restart", len(r.loads))
			d.placeHeldLoadsLocked(r, p.out)
		}
	}
}

// restored ends the hot reload of game p, restored and serving
// (MsgRestored): its freeze queue goes.
func (d *Dispatcher) restored(p *peer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fg := d.frozen[rpc.GameID(p.id)]; fg != nil && fg.restoring == p {
		delete(d.frozen, rpc.GameID(p.id))
		d.log.WithField("peer", p.String()).Info("restored game is serving; hot reload done")
	}
}

// filteredBroadcast forwards a game's filtered broadcast to the gates
// this dispatcher is the route for (and holds it for those that have not
// redialled a restarted dispatcher yet).
func (d *Dispatcher) filteredBroadcast(p *peer, t rpc.MsgType, body []byte) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.rec; r != nil {
		// For the gates that have not redialled yet.
		r.hold(d, &r.gateLog, t, body)
	}
	for gid, g := range d.gates {
		if gid.Shard(d.cfg.Count) == d.cfg.Index {
			p.out.Send(g.conn, t, body)
		}
	}
}

// routeEntity handles a frame routed by the entity ID at the start of
// its body: the routing table's own messages, placements, and what is
// forwarded to the entity's game.
func (d *Dispatcher) routeEntity(p *peer, t rpc.MsgType, body []byte) error {
	if len(body) < rpc.EntityIDLength {
		return errProtocol(p, t, "body shorter than an entity ID")
	}
	if want, ok := senderRole(t); ok && p.role != want {
		return errProtocol(p, t, "not from a "+want.String())
	}
	id := rpc.EntityID(body[:rpc.EntityIDLength])
	switch t {
	case rpc.MsgRegisterEntity:
		return d.registerEntity(p, t, body, id)
	case rpc.MsgUnregisterEntity:
		d.unregisterEntity(p, id)
		return nil
	case rpc.MsgMigrateBlock:
		d.migrateBlock(p, id)
		return nil
	case rpc.MsgMigrateEntity:
		return d.migrateEntity(p, t, body, id)
	case rpc.MsgCreateEntityOnGame:
		return d.createOnGame(p, t, body, id)
	case rpc.MsgCreateEntitySomewhere, rpc.MsgLoadEntitySomewhere, rpc.MsgEnsureService:
		if t == rpc.MsgEnsureService && len(body) < rpc.EntityIDLength+2 {
			return errProtocol(p, t, "short body")
		}
		if !d.placeEntity(p, t, body, id) {
			return nil
		}
		// A load that names a caller, of a live entity that is migrating:
		// it waits in the entity's queue with its calls (below).
	}
	d.forwardToEntity(p, t, body, id)
	return nil
}

// registerEntity records that game p hosts entity id (MsgRegisterEntity):
// it settles two copies of a persistent entity by their epochs, and
// forwards what waited for the entity (a migration's queue, a restarted
// dispatcher's hold).
func (d *Dispatcher) registerEntity(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) error {
	gid := rpc.GameID(p.id)
	epoch, err := registerEpoch(body)
	if err != nil {
		return errProtocol(p, t, err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.entities[id]
	if ok && old != gid && d.blocked[id] == nil && d.retireOlderCopyLocked(p, id, gid, old, epoch) {
		return nil
	}
	if ok {
		d.load[old]--
	}
	d.entities[id] = gid
	if epoch != 0 {
		d.epochs[id] = epoch
	} else {
		delete(d.epochs, id)
	}
	d.load[gid]++
	if q := d.blocked[id]; q != nil {
		// A migrated entity arrived: what waited for it follows, in order.
		delete(d.blocked, id)
		d.forwardFramesLocked(p.out, gid, q.take())
	}
	if r := d.rec; r != nil {
		if frames, ok := r.takeEntityLocked(id); ok {
			// Re-registered after the restart: what waited for it
			// follows (a held load of it included, which the game
			// ignores: the entity is there).
			delete(r.loads, id)
			d.forwardFramesLocked(p.out, gid, frames)
		}
	}
	return nil
}

// retireOlderCopyLocked settles a registration of entity id by game gid
// while game old has it and it is not migrating: two copies of one
// persistent entity, the newer of which is the one with the greater epoch
// (its load claimed it later). The older is retired by its game
// (MsgRetireEntity); its route, if it had it, goes to the newer. It
// reports whether the registration is the older copy (then it changes
// nothing). Without epochs (an entity that is not persistent, or not
// saved yet), the last registration wins, as a migration does. The caller
// holds d.mu for writing.
func (d *Dispatcher) retireOlderCopyLocked(p *peer, id rpc.EntityID, gid, old rpc.GameID, epoch uint64) (older bool) {
	switch was := d.epochs[id]; {
	case epoch != 0 && was > epoch:
		d.log.Warnf("entity %s registered by game%d (epoch %d) lives on game%d (epoch %d): game%d retires its copy", id, gid, epoch, old, was, gid)
		d.toGameLocked(p.out, gid, rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, id), was))
		return true
	case epoch != 0 && was != 0 && was < epoch:
		d.log.Warnf("entity %s registered by game%d (epoch %d) lived on game%d (epoch %d): game%d retires its copy", id, gid, epoch, old, was, old)
		d.toGameLocked(p.out, old, rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, id), epoch))
	}
	return false
}

// unregisterEntity forgets entity id if game p hosts it.
func (d *Dispatcher) unregisterEntity(p *peer, id rpc.EntityID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g, ok := d.entities[id]; ok && g == rpc.GameID(p.id) {
		delete(d.entities, id)
		delete(d.epochs, id)
		d.load[g]--
	}
}

// migrateBlock starts queueing what is routed to entity id, which leaves
// game p (MsgMigrateBlock), and acknowledges.
func (d *Dispatcher) migrateBlock(p *peer, id rpc.EntityID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blocked[id] == nil {
		d.blocked[id] = &entityQueue{q: newQueue(d.cfg.MigrateQueueLimit)}
	}
	// Under the write lock: every frame for the entity routed before
	// this is already on p's connection, and every later one queues.
	d.toGameLocked(p.out, rpc.GameID(p.id), rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, id))
}

// migrateEntity sends a migrating entity to the game of the space it
// enters (routed by the space's ID), or back to where it came from if no
// game hosts that space.
func (d *Dispatcher) migrateEntity(p *peer, t rpc.MsgType, body []byte, space rpc.EntityID) error {
	if len(body) < rpc.EntityIDLength+2 {
		return errProtocol(p, t, "short body")
	}
	from := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
	d.mu.RLock()
	defer d.mu.RUnlock()
	gid, ok := d.entities[space]
	if !ok {
		d.log.Warnf("migration into unknown space %q: sending the entity back to game%d", space, from)
		gid = from
	}
	d.toGameLocked(p.out, gid, t, body)
	return nil
}

// createOnGame places a new entity on the game named (unless it exists,
// or that game is not connected).
func (d *Dispatcher) createOnGame(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) error {
	if len(body) < rpc.EntityIDLength+2 {
		return errProtocol(p, t, "short body")
	}
	gid := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, live := d.entities[id]; live {
		d.log.Warnf("create of entity %s which already exists: dropped", id)
		return nil
	}
	if d.games[gid] == nil && d.frozen[gid] == nil {
		d.log.Warnf("create of %s on game%d, which is not connected: dropped", id, gid)
		return nil
	}
	d.placeLocked(p.out, id, gid, t, body)
	return nil
}

// forwardToEntity forwards a call or client notification to the game
// that hosts entity id: into its queue while it migrates, to any game for
// an offline call of an entity that is not live, into the hold of a
// restarted dispatcher, or answered "no such entity".
func (d *Dispatcher) forwardToEntity(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if q := d.blocked[id]; q != nil {
		if _, n, log := q.add(t, body); log {
			d.log.Errorf("entity %s is migrating and its queue is full (%d bytes): %d packets dropped so far", id, d.cfg.MigrateQueueLimit, n)
		}
		return
	}
	gid, ok := d.entities[id]
	switch {
	case ok:
		d.toGameLocked(p.out, gid, t, body)
	case t == rpc.MsgCallOffline || t == rpc.MsgRequestOffline:
		d.offlineToAnyGameLocked(p, t, body, id)
	case d.rec != nil:
		// Restarted: its game may not have re-registered it yet.
		d.rec.holdFor(d, id, t, body)
	default:
		d.log.Debugf("%v for unknown entity %q dropped", t, id)
		d.noSuchEntity(p, t, body)
	}
}

// noSuchEntity answers a request for an entity that no game hosts with
// rpc.CodeNoEntity, to the peer that sent it, so that the caller does not
// wait for its timeout: to the caller's game (MsgRequestReply, which that
// game routes on if the caller has moved) or to the client's gate (a
// MsgReply frame in a MsgToClient). Other messages get no answer.
func (d *Dispatcher) noSuchEntity(p *peer, t rpc.MsgType, body []byte) {
	r := rpc.NewReader(body)
	callee := r.EntityID()
	switch t {
	case rpc.MsgRequestEntityMethod:
		caller, reqID := r.EntityID(), r.Uint64()
		if r.Err() != nil || caller == "" {
			return
		}
		b := rpc.AppendUint64(rpc.AppendEntityID(nil, caller), reqID)
		p.out.Send(p.conn, rpc.MsgRequestReply, rpc.AppendReplyError(b, rpc.CodeNoEntity, "entity "+string(callee)+" does not exist"))
	case rpc.MsgClientRequest:
		gate, client, reqID := r.Uint16(), r.Uint64(), r.Uint32()
		if r.Err() != nil {
			return
		}
		b := rpc.AppendUint64(rpc.AppendUint16(nil, gate), client)
		b = rpc.AppendUint16(b, uint16(rpc.MsgReply))
		b = rpc.AppendUint32LE(b, reqID)
		p.out.Send(p.conn, rpc.MsgToClient, rpc.AppendReplyError(b, rpc.CodeNoEntity, "entity "+string(callee)+" does not exist"))
	}
}

// placeEntity handles a create or load somewhere of id, or a service
// shard's MsgEnsureService (handled as a load, placed on the game it
// prefers if that one serves): it places a new
// entity on the least loaded game, holds a load during a recovery, drops a
// create of a live entity, and sends a load of a live entity to its game,
// like a call: that game answers the caller if the load names one
// (MsgLoadEntityResult), or loads it again if it has just let it go (a
// destroyed persistent entity stays registered until its final save is
// done: the load waits behind that save there). It reports whether the
// frame must be routed as a call instead (a load of a live entity that is
// migrating: it waits in its queue).
func (d *Dispatcher) placeEntity(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) (route bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gid, live := d.entities[id]; live {
		switch {
		case t == rpc.MsgCreateEntitySomewhere:
			d.log.Warnf("create of entity %s which already exists: dropped", id)
		case d.blocked[id] != nil:
			return true
		default:
			d.toGameLocked(p.out, gid, t, body)
		}
		return false
	}
	if r := d.rec; r != nil && t != rpc.MsgCreateEntitySomewhere && !d.gamesBackLocked(r) {
		// Restarted: the entity may live on a game that has not
		// re-registered it yet. Loading it elsewhere would make a
		// second copy; hold the load (and what follows for it).
		if d.holdLocked(r, r.entityQueueLocked(id), t, body) {
			r.loads[id] = true
		} else if r.entities[id].size() == 0 {
			delete(r.entities, id) // nothing held for it after all
		}
		return false
	}
	gid, found := d.pickGameLocked()
	if t == rpc.MsgEnsureService {
		// A service's shard goes to the game it prefers, if that game
		// is serving, so that shards spread over the games.
		pref := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
		if d.games[pref] != nil && d.frozen[pref] == nil {
			gid, found = pref, true
		}
	}
	if !found {
		d.log.Warnf("%v of %s: no game connected; dropped", t, id)
		return false
	}
	d.placeLocked(p.out, id, gid, t, body)
	return false
}

// offlineToAnyGameLocked sends an offline call of an entity that no game
// has registered (and that is not migrating) to the least loaded game,
// which stores it in the entity's mailbox. (An offline call of a
// registered entity is routed as a call.) It does not register the
// entity: nothing is loaded. During a recovery window the entity may live
// on a game that has not re-registered it yet: the call is stored all the
// same, and the storing game's notice to the entity (an internal call,
// held like any) makes that copy take its mailbox once it registers. The
// caller holds d.mu.
func (d *Dispatcher) offlineToAnyGameLocked(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) {
	gid, found := d.pickGameLocked()
	if !found {
		d.log.Warnf("%v of %s: no game connected; dropped", t, id)
		return
	}
	d.toGameLocked(p.out, gid, t, body)
}

// placeLocked records that entity id lives on game gid and forwards the
// frame that creates or loads it there. The caller holds d.mu for writing.
func (d *Dispatcher) placeLocked(out *rpc.Batch, id rpc.EntityID, gid rpc.GameID, t rpc.MsgType, body []byte) {
	d.entities[id] = gid
	d.load[gid]++
	d.toGameLocked(out, gid, t, body)
}

// toGameLocked forwards one frame to a game through out (nil: at once),
// or queues it while the game is frozen. The caller holds d.mu (read or write): freezing takes the
// write lock, so no frame can slip past the freeze acknowledgement.
func (d *Dispatcher) toGameLocked(out *rpc.Batch, id rpc.GameID, t rpc.MsgType, body []byte) {
	if h := d.forwardHook.Load(); h != nil {
		(*h)(t, body)
	}
	if fg := d.frozen[id]; fg != nil {
		if fg.restoring != nil {
			out.Send(fg.restoring.conn, t, body)
		}
		if _, n, log := fg.add(t, body); log {
			d.log.Errorf("game%d is frozen and its queue is full (freeze_queue_limit %d bytes): %d packets dropped so far", id, d.cfg.FreezeQueueLimit, n)
		}
		return
	}
	if g := d.games[id]; g != nil {
		out.Send(g.conn, t, body)
		return
	}
	d.log.Debugf("%v for game%d, which is not connected, dropped", t, id)
}

// pickGameLocked returns the game with the fewest entities in this shard
// (lowest ID on ties, so placement is deterministic), preferring games that
// are not frozen for a reload; ok is false if there is no game at all.
func (d *Dispatcher) pickGameLocked() (best rpc.GameID, ok bool) {
	bestFrozen, bestLoad := true, 0
	consider := func(id rpc.GameID) {
		_, frozen := d.frozen[id]
		l := d.load[id]
		better := !ok || (bestFrozen && !frozen) ||
			(frozen == bestFrozen && (l < bestLoad || (l == bestLoad && id < best)))
		if better {
			best, bestLoad, bestFrozen, ok = id, l, frozen, true
		}
	}
	for id := range d.games {
		consider(id)
	}
	for id := range d.frozen {
		if d.games[id] == nil {
			consider(id)
		}
	}
	return best, ok
}

// newLocalEntityID returns a fresh entity ID in this dispatcher's shard, so
// that the dispatcher can record where it lives before anyone calls it.
func (d *Dispatcher) newLocalEntityID() rpc.EntityID {
	for {
		id := rpc.NewEntityID()
		if id.Shard(d.cfg.Count) == d.cfg.Index {
			return id
		}
	}
}

// connectClientLocked places a new client (a MsgClientConnected body from
// a gate): a boot entity ID in this shard on the least loaded game. It
// returns false if there is no game. The caller holds d.mu for writing.
func (d *Dispatcher) connectClientLocked(out *rpc.Batch, body []byte) bool {
	gid, found := d.pickGameLocked()
	if !found {
		return false
	}
	id := d.newLocalEntityID()
	d.entities[id] = gid
	d.load[gid]++
	msg := append(rpc.AppendEntityID(make([]byte, 0, len(body)), id), body[rpc.EntityIDLength:]...)
	d.toGameLocked(out, gid, rpc.MsgClientConnected, msg)
	return true
}

// registerEpoch returns the epoch a MsgRegisterEntity body ends with, or
// 0 if it has none.
func registerEpoch(body []byte) (uint64, error) {
	switch len(body) {
	case rpc.EntityIDLength:
		return 0, nil
	case rpc.EntityIDLength + 8:
		return binary.LittleEndian.Uint64(body[rpc.EntityIDLength:]), nil
	}
	return 0, fmt.Errorf("RegisterEntity body of %d bytes: want %d or %d", len(body), rpc.EntityIDLength, rpc.EntityIDLength+8)
}
