package entity

import (
	"fmt"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/vmihailenco/msgpack/v5"
)

// Migration moves an entity to the game that hosts the space it enters.
// No call to it may be lost or reordered on the way:
//
//  1. The entity leaves its space here (its client is told) and stops
//     running calls and timers; calls that reach it queue up with it. The
//     game sends MsgMigrateBlock to the entity's dispatcher.
//  2. The dispatcher queues everything for the entity from then on, and
//     answers MsgMigrateBlockAck on this game's connection, after every
//     frame for the entity it had already forwarded here: once the ack
//     arrives, nothing more for the entity is on its way to this game.
//  3. The game captures the entity as in a freeze (attributes, timers,
//     client, position, and the queued calls) and sends it, routed by the
//     space's ID, to the game that hosts the space.
//  4. That game rebuilds the entity, runs the queued calls after it has
//     entered the space, and registers the entity with its dispatcher,
//     which records the new home and flushes its queue there, in order.
//     It tells the client's gate the entity's new game; the client keeps
//     its player entity and is shown the new space.
//
// If no game hosts the space, the dispatcher sends the entity back here,
// where it is rebuilt in no space (with a warning): an entity is never
// lost because its destination vanished.
type migration struct {
	e       *Entity
	spaceID rpc.EntityID
	pos     Vector3
	calls   []pendingCall
}

func (w *World) migrate(e *Entity, spaceID rpc.EntityID, pos Vector3) error {
	w.spaceOp(e.leaveSpace)
	if e.destroyed {
		return fmt.Errorf("entity: %s was destroyed while leaving its space", e)
	}
	e.migrating = true
	e.pos = pos
	w.migrations[e.id] = &migration{e: e, spaceID: spaceID, pos: pos}
	w.sendEntity(e.id, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, e.id))
	return nil
}

// migrateAcked sends the entity id on its way: its dispatcher holds
// everything new for it.
func (w *World) migrateAcked(id rpc.EntityID) {
	m := w.migrations[id]
	if m == nil {
		w.log.Warnf("migration ack for %s, which is not migrating", id)
		return
	}
	delete(w.migrations, id)
	e := m.e
	if e.destroyed {
		// Destroyed while waiting (its client left, say): let the
		// dispatcher route to us again, which hands us what it queued
		// (dropped here, for an entity that is gone), then forget it.
		w.sendEntity(id, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, id))
		w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		w.log.Infof("%s was destroyed while migrating; %d calls that waited for it dropped", e, len(m.calls))
		return
	}
	if h, ok := e.self.Interface().(Freezer); ok {
		if err := w.freezeHook(e, h); err != nil {
			w.log.WithError(err).Warnf("%s: OnFreeze failed before migrating; migrating anyway", e)
		}
	}
	fe := e.frozen(w.now())
	for _, c := range m.calls {
		fc := FrozenCall{Method: c.method, Args: c.args}
		if c.client != nil {
			fc.Client = &FrozenClient{Gate: uint16(c.client.Gate), ID: uint64(c.client.ID)}
		}
		if c.reply != nil {
			fc.Request, fc.Caller, fc.ReqID = true, string(c.reply.caller), c.reply.id
		}
		fe.Calls = append(fe.Calls, fc)
	}
	fe.Pos = [3]float32{m.pos.X, m.pos.Y, m.pos.Z}
	data, err := msgpack.Marshal(&fe)
	if err != nil {
		// Attributes were encodable when set; this is a bug. Keep the
		// entity here, and let its dispatcher route to us again.
		w.log.WithError(err).Errorf("%s: cannot encode for migration; it stays here", e)
		e.migrating = false
		w.sendEntity(e.id, rpc.MsgRegisterEntity, registerBody(e))
		for _, c := range m.calls {
			w.deliver(c)
		}
		return
	}
	// The entity leaves without a trace here: no unregistering (the new
	// game's registration replaces it), no destroy message, no hooks.
	w.forget(e)
	e.destroyed = true
	clear(e.timers)
	b := rpc.AppendEntityID(nil, m.spaceID)
	b = rpc.AppendUint16(b, uint16(w.gameID))
	w.sendEntity(m.spaceID, rpc.MsgMigrateEntity, append(b, data...))
}

// migrateIn rebuilds an entity that migrated here (or came back because
// its space was not found).
func (w *World) migrateIn(spaceID rpc.EntityID, data []byte) error {
	var fe FrozenEntity
	if err := unmarshal(data, &fe); err != nil {
		return fmt.Errorf("migrated entity: %w", err)
	}
	var rep RestoreReport
	e, err := w.rebuild(&fe, w.now(), map[string]bool{}, &rep)
	if err != nil {
		return fmt.Errorf("migrated entity %s<%s> cannot be rebuilt here (is its type registered on this game?): %w", fe.Type, fe.ID, err)
	}
	if len(rep.DroppedTimers) > 0 {
		w.log.Warnf("migrated %s: timers dropped (method gone or changed): %v", e, rep.DroppedTimers)
	}
	w.sendEntity(e.id, rpc.MsgRegisterEntity, registerBody(e))
	if e.client != nil {
		// The gate learns the new home; the client keeps its view of the
		// entity itself.
		b := rpc.AppendUint16(nil, uint16(e.client.Gate))
		b = rpc.AppendUint64(b, uint64(e.client.ID))
		b = rpc.AppendEntityID(b, e.id)
		b = rpc.AppendUint16(b, uint16(w.gameID))
		w.sendGate(e.client.Gate, rpc.MsgSetClientOwner, b)
	}
	if h, ok := e.self.Interface().(Restorer); ok {
		w.safely(e, "OnRestore", h.OnRestore)
	}
	sp := w.entities[spaceID]
	switch {
	case sp != nil && sp.sp != nil:
		w.spaceOp(func() { e.joinSpace(sp, e.pos) })
	case sp != nil:
		w.log.Warnf("%s migrated to enter %s, which is not a space; it is in no space", e, sp)
	default:
		w.log.Warnf("%s could not enter space %s (not found); it is in no space, on game %d", e, spaceID, w.gameID)
	}
	for _, c := range fe.Calls {
		pc := pendingCall{id: e.id, method: c.Method, args: c.Args}
		if c.Client != nil {
			pc.client = &ClientRef{Gate: rpc.GateID(c.Client.Gate), ID: rpc.ClientID(c.Client.ID)}
		}
		if c.Request {
			pc.reply = &replyTo{caller: rpc.EntityID(c.Caller), client: pc.client, id: c.ReqID}
			if pc.client == nil && !pc.reply.caller.Valid() {
				continue
			}
		}
		w.local = append(w.local, pc)
	}
	return nil
}

// NumMigrating returns how many entities are waiting to leave this game.
func (en *Engine) NumMigrating() int { return len(en.w.migrations) }
