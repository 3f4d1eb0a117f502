package entity

// Saving: dirty entities at each interval and at the end, fencing
// epochs, retiring a stale copy, re-registering after a reconnect.

import (
	"errors"
	"strings"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/vmihailenco/msgpack/v5"
)

// DropClients unbinds every client, running OnClientDisconnected, after
// a dispatcher link was lost: that dispatcher told the gates this game is
// gone, and they disconnected its clients.
func (en *Engine) DropClients() {
	w := en.w
	for _, e := range w.entities {
		if e.client != nil {
			e.setClient(nil)
		}
	}
	w.flushLocal()
}

// Reregister tells dispatcher i again about every local entity in its
// shard, after it restarted and lost its table.
func (en *Engine) Reregister(i int) {
	w := en.w
	n := w.out.NumDispatchers()
	for id, e := range w.entities {
		if id.Shard(n) == i {
			w.out.Send(i, rpc.MsgRegisterEntity, registerBody(e))
		}
	}
}

// registerBody is the MsgRegisterEntity of e: its ID, and its fencing
// epoch if it is a persistent entity that has one, so that a dispatcher
// that finds another copy registered keeps the newer (MsgRetireEntity).
func registerBody(e *Entity) []byte {
	b := rpc.AppendEntityID(nil, e.id)
	if (e.typ.persistent || e.typ.service != nil) && e.epoch != 0 {
		b = rpc.AppendUint64(b, e.epoch)
	}
	return b
}

// retireOlder retires the local copy of persistent entity id if a copy
// with a greater epoch lives elsewhere (MsgRetireEntity). A copy that is
// migrating is left alone: it registers again where it lands, and the
// dispatcher compares again then.
func (w *World) retireOlder(id rpc.EntityID, newer uint64) {
	e := w.entities[id]
	switch {
	case e == nil || (!e.typ.persistent && e.typ.service == nil):
		return
	case e.epoch == 0 || e.epoch >= newer:
		w.log.Warnf("%s: told to retire for a copy of epoch %d elsewhere, but this copy's is %d: kept", e, newer, e.epoch)
		return
	case e.migrating:
		return
	}
	w.retire(e, e.epoch, newer)
}

// Registered tells dispatcher i that it has been told of every local
// entity in its shard (MsgRegistered): after Reregister, or on a first
// connection. A restarted dispatcher holds loads of entities it does not
// know until every game has said this, so that an entity still alive
// here is not loaded a second time elsewhere.
func (en *Engine) Registered(i int) {
	w := en.w
	w.out.Send(i, rpc.MsgRegistered, nil)
}

// SaveDirty saves every persistent entity whose persistent attributes
// changed since its last save, in one batch. The game calls it every
// save interval and at shutdown.
func (en *Engine) SaveDirty(done func(err error)) int {
	w := en.w
	var recs []storage.EntityRecord
	for _, e := range w.entities {
		if e.typ.persistent && e.dirty {
			if rec, ok := w.record(e); ok {
				recs = append(recs, rec)
			}
		}
	}
	if len(recs) == 0 {
		if done != nil {
			done(nil)
		}
		return 0
	}
	w.save(recs, done)
	return len(recs)
}

// firstSave saves a newly created persistent entity at once, so that a
// reference to it stored elsewhere (an account's avatar ID) never points
// to nothing after a crash.
func (w *World) firstSave(e *Entity) {
	if e.typ.persistent && !e.destroyed {
		w.saveOne(e)
	}
}

// saveFinal starts the final save of persistent entity e, which is being
// destroyed, and reports whether it did. e stays registered with the
// dispatcher until the save has completed (or failed for good): a load of
// it meanwhile (a logout and a login at once; a login while the save is
// retried because the store is down) is sent to this game, where the
// storage worker runs it after the save, not placed on another game that
// would read what the store held before the save and lose its changes.
func (w *World) saveFinal(e *Entity) bool {
	if w.store == nil {
		return false
	}
	rec, ok := w.record(e)
	if !ok {
		return false
	}
	id := e.id
	if w.finalSaves == nil {
		w.finalSaves = map[rpc.EntityID]int{}
	}
	w.finalSaves[id]++
	w.save([]storage.EntityRecord{rec}, func(error) {
		if w.finalSaves[id]--; w.finalSaves[id] > 0 {
			return
		}
		delete(w.finalSaves, id)
		if _, busy := w.loading[id]; w.entities[id] == nil && !busy {
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		}
	})
	return true
}

func (w *World) saveOne(e *Entity) {
	if rec, ok := w.record(e); ok {
		w.save([]storage.EntityRecord{rec}, nil)
	}
}

func (w *World) record(e *Entity) (storage.EntityRecord, bool) {
	data, err := msgpack.Marshal(e.persistentData())
	if err != nil {
		w.log.WithError(err).Errorf("%s: cannot encode for saving", e)
		return storage.EntityRecord{}, false
	}
	e.dirty = false
	if e.epoch == 0 {
		e.claims++
	}
	return storage.EntityRecord{Type: e.typ.name, ID: string(e.id), Data: data, Epoch: e.epoch}, true
}

func (w *World) save(recs []storage.EntityRecord, done func(error)) {
	var claims []int // the records that claim (Epoch 0)
	for i := range recs {
		if recs[i].Epoch == 0 {
			claims = append(claims, i)
		}
	}
	if w.store == nil {
		w.adoptEpochs(recs, claims)
		if done != nil {
			done(nil)
		}
		return
	}
	w.saving++
	w.store.SaveEntities(recs, func(err error) {
		w.saving--
		var fe *storage.FenceError
		if errors.As(err, &fe) {
			// The other records were stored; the fenced ones belong to
			// copies that a newer copy replaced: retire them.
			w.adoptEpochs(recs, claims)
			var gone []string
			nGone := 0
			for _, f := range fe.Fenced {
				if e := w.entities[rpc.EntityID(f.ID)]; e != nil && e.typ.name == f.Type && e.epoch != 0 && e.epoch <= f.Epoch {
					w.retire(e, f.Epoch, f.Current)
					continue
				}
				if nGone++; len(gone) < 10 {
					gone = append(gone, clip.Name(f.Type)+"<"+clip.Name(f.ID)+">")
				}
			}
			if nGone > 0 {
				// Destroyed since (a final save): the newer copy's state
				// stays.
				w.log.Warnf("the saves of %d entities no longer here were refused: a newer copy of each was loaded elsewhere (%s)",
					nGone, strings.Join(gone, ", "))
			}
			w.flushLocal()
			err = nil
		} else {
			w.adoptEpochs(recs, claims)
		}
		if err != nil {
			var gone []string
			for _, r := range recs {
				if e := w.entities[rpc.EntityID(r.ID)]; e != nil {
					e.dirty = true
				} else if len(gone) < 10 {
					gone = append(gone, r.Type+"<"+r.ID+">")
				}
			}
			w.log.WithError(err).Errorf("saving %d entities failed; those still here stay dirty and are retried", len(recs))
			if len(gone) > 0 {
				// Destroyed (a logout's final save): nothing is left to
				// save again. Migrated entities took their state along.
				w.log.WithError(err).Errorf("the failed save held entities no longer on this game (%s): "+
					"any destroyed since lost the changes of that save", strings.Join(gone, ", "))
			}
		}
		if done != nil {
			done(err)
		}
	})
}

// adoptEpochs gives every entity still here that claimed in recs (the
// records at the indexes claims, saved with Epoch 0: a created entity's
// first saves) the epoch it claimed, which the store set in the record if
// it stored it (if it did not, the next save claims again). Every claim
// in flight is this copy's, so the newest is its epoch.
func (w *World) adoptEpochs(recs []storage.EntityRecord, claims []int) {
	for _, i := range claims {
		r := &recs[i]
		e := w.entities[rpc.EntityID(r.ID)]
		if e == nil || e.typ.name != r.Type || e.claims == 0 {
			continue
		}
		e.epoch = max(e.epoch, r.Epoch)
		e.claims--
	}
}

// FencedLoggedElsewhere is the reason the client of a retired copy is
// kicked with.
const FencedLoggedElsewhere = "your character was loaded elsewhere"

// retire destroys this copy of a persistent entity after its save was
// refused because a newer copy was claimed (loaded or created on another
// game, or here again): without saving it and without OnDestroy, which
// is not this copy's to run (the entity lives on in the newer copy). Its
// client is kicked with FencedLoggedElsewhere.
func (w *World) retire(e *Entity, epoch, current uint64) {
	if e.destroyed {
		return
	}
	w.fenced++
	w.log.WithField("entity", e.String()).Errorf("a newer copy of %s was loaded elsewhere (stored epoch %d, this copy's %d): "+
		"this copy is retired without saving; changes made to it since its last save are lost", e, current, epoch)
	e.fenced = true
	if e.client != nil {
		ref := *e.client
		e.spaceClientUnbinding()
		w.toClient(ref, rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, e.id))
		e.client = nil
		w.kick(ref, FencedLoggedElsewhere)
	}
	e.destroy()
}

// FencedCopies returns how many copies of persistent entities this world
// retired because a newer copy was claimed (their save was fenced).
func (en *Engine) FencedCopies() uint64 { return en.w.fenced }

// SavesInFlight returns the number of saves not yet completed.
func (w *World) SavesInFlight() int { return w.saving }

// StorageInFlight returns the number of storage operations of any kind
// (saves, loads, KV) whose results have not come back yet. A freeze waits
// for it to reach zero: a pending callback is a closure, which cannot be
// written to a freeze file.
//
// Entities waiting to migrate to another game count too: they are
// neither here nor there until their dispatcher answers.
func (w *World) StorageInFlight() int { return w.saving + w.inflight + len(w.migrations) }
