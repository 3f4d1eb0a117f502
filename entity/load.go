package entity

import (
	"errors"
	"fmt"
	"github.com/goworld-engine/goworld/internal/clip"
	"reflect"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// Loads with an answer.
//
// Entity.LoadEntitySomewhere names a method of the calling entity, which
// the engine calls with the result once the entity is live, or with the
// reason it cannot be. The callback is a method name, not a closure, for
// the reason timers are data: the answer comes from another game, through
// a dispatcher, after any time at all, and by then the caller may have
// migrated to another game or been restored by a hot reload (which must
// freeze without waiting for answers from other processes). A name
// travels with the request and the answer, and is called on the caller
// wherever it lives then, in whatever build it runs.
//
// On the wire: the request is MsgLoadEntitySomewhere with the caller's ID
// and the callback's name after the type; the game that takes the load
// (the one that loads it, or the one where it already lives: the
// dispatcher forwards a load of a live entity to its game) answers with
// MsgLoadEntityResult, routed by the caller's ID like any call (so it
// waits in migration and hot-reload queues like one). On the caller's
// game it is an internal call (methodLoadResult) to the caller, which
// runs the callback.

// methodLoadResult is the internal method that carries a load's answer
// to the caller (like methodTakeClient, a name no Go method can have).
const methodLoadResult = "@loaded"

// maxLoadReason bounds the reason text of a load's answer, in bytes.
const maxLoadReason = 512

// LoadCode says why a load failed (LoadError.Code).
type LoadCode uint8

// Load failure codes, as carried by MsgLoadEntityResult (0 is success).
const (
	// LoadNotFound: storage holds no entity of that type and ID.
	LoadNotFound LoadCode = 1
	// LoadDamaged: what storage holds cannot be made into the entity.
	LoadDamaged LoadCode = 2
	// LoadStorageFailed: the storage backend returned an error.
	LoadStorageFailed LoadCode = 3
	// LoadNotLoadable: the loading game does not know the type as a
	// persistent one, or has no storage.
	LoadNotLoadable LoadCode = 4
)

// Errors a *LoadError wraps (test with errors.Is), by LoadCode. A load of
// an entity not in storage wraps storage.ErrNotFound (goworld.ErrNotFound).
var (
	// ErrEntityDamaged: the stored entity cannot be decoded into its type.
	ErrEntityDamaged = errors.New("entity: stored data is damaged")
	// ErrStorageFailed: the storage backend failed.
	ErrStorageFailed = errors.New("entity: storage failed")
	// ErrNotLoadable: the loading game cannot load entities of that type.
	ErrNotLoadable = errors.New("entity: type cannot be loaded there")
)

// LoadError is the error a load callback gets when the entity could not
// be made live: which entity, why (Code, and the error it wraps), and the
// loading game's own words (Reason, at most 512 bytes).
type LoadError struct {
	Type   string
	ID     rpc.EntityID
	Code   LoadCode
	Reason string
}

// Error returns "load Type<ID>: what: reason".
func (e *LoadError) Error() string {
	s := "load " + e.Type + "<" + string(e.ID) + ">: " + e.Unwrap().Error()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns storage.ErrNotFound, ErrEntityDamaged, ErrStorageFailed
// or ErrNotLoadable, by Code.
func (e *LoadError) Unwrap() error {
	switch e.Code {
	case LoadNotFound:
		return storage.ErrNotFound
	case LoadDamaged:
		return ErrEntityDamaged
	case LoadStorageFailed:
		return ErrStorageFailed
	}
	return ErrNotLoadable
}

var errorType = reflect.TypeFor[error]()

// isLoadCallback reports whether a method type (with its receiver) is
// func(rpc.EntityID, error), the signature of load callbacks.
func isLoadCallback(m reflect.Type) bool {
	return m.NumIn() == 3 && m.NumOut() == 0 && !m.IsVariadic() &&
		m.In(1) == reflect.TypeFor[rpc.EntityID]() && m.In(2) == errorType
}

// LoadEntitySomewhere makes the persistent entity id of type typeName
// live, as World.LoadEntitySomewhere does, and then calls this entity's
// method callback with (id, nil) once it is live (loaded now, or live
// already), or with a *LoadError that says why it is not: nothing stored
// under that ID (errors.Is storage.ErrNotFound), stored data that cannot
// be decoded (ErrEntityDamaged), a storage error (ErrStorageFailed), a
// game that cannot load the type (ErrNotLoadable). The callback has the
// signature
//
//	func (a *Account) OnAvatarLoaded(id goworld.EntityID, err error)
//
// and runs on this entity's game loop, wherever the entity lives by then
// (it may have migrated, or been hot-reloaded: the callback is a name, as
// timers are). If the entity is gone by then, the answer is dropped. If
// the game that took the load dies before answering, there is no answer:
// callers that must hear something use a timer too.
//
// It returns an error at once for an unknown or non-persistent type, an
// invalid ID, or a callback that is not such a method of this entity's
// type.
func (e *Entity) LoadEntitySomewhere(typeName string, id rpc.EntityID, callback string) error {
	if _, ok := e.typ.loadCallbacks[callback]; !ok {
		return fmt.Errorf("entity: %s has no method %s(id EntityID, err error) to call with the load's result", e.typ.name, callback)
	}
	if err := e.world.checkLoad(typeName, id); err != nil {
		return err
	}
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), typeName)
	b = rpc.AppendString(rpc.AppendEntityID(b, e.id), callback)
	e.world.sendEntity(id, rpc.MsgLoadEntitySomewhere, b)
	return nil
}

// checkLoad checks what a load asks for before it is sent.
func (w *World) checkLoad(typeName string, id rpc.EntityID) error {
	t, ok := w.reg.types[typeName]
	if !ok {
		return fmt.Errorf("entity: unknown type %q", typeName)
	}
	if !t.persistent {
		return fmt.Errorf("entity: type %q is not persistent", typeName)
	}
	if !id.Valid() {
		return fmt.Errorf("entity: invalid entity ID %q", id)
	}
	return nil
}

// loadCaller is an entity waiting for a load's answer.
type loadCaller struct {
	id       rpc.EntityID
	callback string
}

// load makes the persistent entity id live here (a MsgLoadEntitySomewhere
// from the dispatcher, which placed it here or knows it lives here), and
// answers the caller if there is one (callback != ""). Calls to the
// entity wait meanwhile.
//
// With create (a persistent service's shard), an entity that storage
// does not hold is created instead, and saved at once.
func (w *World) load(id rpc.EntityID, typeName string, caller loadCaller, create bool) {
	if w.entities[id] != nil {
		w.answerLoad(caller, id, typeName, 0, "")
		return
	}
	if _, busy := w.loading[id]; busy {
		w.waitForLoad(id, caller)
		return
	}
	t := w.reg.types[typeName]
	if t == nil || !t.persistent || w.store == nil {
		why := fmt.Sprintf("game%d knows no persistent type %q", w.gameID, typeName)
		if t != nil && t.persistent {
			why = fmt.Sprintf("game%d has no storage", w.gameID)
		}
		w.log.Errorf("cannot load %s: %s", id, why)
		w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		w.answerLoad(caller, id, typeName, LoadNotLoadable, why)
		return
	}
	w.loading[id] = []pendingCall{}
	w.waitForLoad(id, caller)
	w.inflight++
	w.store.LoadEntity(typeName, id, func(data []byte, epoch uint64, mail [][]byte, err error) {
		w.inflight--
		queued := w.loading[id]
		delete(w.loading, id)
		callers := w.loadCallers[id]
		delete(w.loadCallers, id)
		code := LoadCode(0)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			code = LoadNotFound
		case err != nil:
			code = LoadStorageFailed
		}
		created := false
		if create && errors.Is(err, storage.ErrNotFound) {
			created, err, code, epoch = true, nil, 0, 0
		}
		var attrs map[string]any
		if err == nil && !created {
			var v any
			if v, _, err = rpc.DecodeAny(data); err == nil {
				var ok bool
				if attrs, ok = v.(map[string]any); !ok {
					err = fmt.Errorf("saved data is %T, not a map", v)
				}
			}
			if err != nil {
				code = LoadDamaged
			}
		}
		var e *Entity
		if err == nil {
			if e, err = w.newEntity(t, id, attrs); err != nil {
				code = LoadDamaged
			} else {
				e.epoch = epoch
			}
		}
		if err != nil {
			w.log.WithError(err).Errorf("loading %s<%s> failed; %d queued calls dropped", clip.Name(typeName), id, len(queued))
			if w.finalSaves[id] == 0 {
				// Unless its final save is still in flight (the store
				// failing): then it stays registered here, so that the
				// next load comes here too, after that save.
				w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
			}
			for _, c := range callers {
				w.answerLoad(c, id, typeName, code, err.Error())
			}
			if len(mail) > 0 {
				w.storeMail(typeName, id, mail, nil) // for the next load
			}
			w.flushLocal()
			return
		}
		// The dispatcher placed the load here, or forwarded it here
		// because the entity lived here; in the second case this game
		// may have unregistered it meanwhile. Registering it again
		// (after that, on the same link) keeps the dispatcher right.
		w.sendEntity(id, rpc.MsgRegisterEntity, registerBody(e))
		w.created(e)
		if created {
			w.firstSave(e)
		}
		// Offline calls first: they were sent before the entity was
		// loaded, the queued calls while it loaded.
		w.runMail(typeName, id, mail)
		for _, c := range queued {
			w.deliver(c)
		}
		for _, c := range callers {
			w.answerLoad(c, id, typeName, 0, "")
		}
		w.flushLocal()
	})
}

// waitForLoad makes caller (if it has a callback) wait for the load of id.
func (w *World) waitForLoad(id rpc.EntityID, caller loadCaller) {
	if caller.callback == "" {
		return
	}
	if w.loadCallers == nil {
		w.loadCallers = map[rpc.EntityID][]loadCaller{}
	}
	w.loadCallers[id] = append(w.loadCallers[id], caller)
}

// answerLoad sends a load's answer to its caller: an internal call, run
// after the current event if the caller is here, or a MsgLoadEntityResult
// routed by its ID. A load without a callback has no answer.
func (w *World) answerLoad(c loadCaller, id rpc.EntityID, typeName string, code LoadCode, reason string) {
	if c.callback == "" {
		return
	}
	if len(reason) > maxLoadReason {
		reason = reason[:maxLoadReason]
	}
	b := appendLoadResult(rpc.AppendEntityID(nil, c.id), loadResult{id: id, typeName: typeName, callback: c.callback, code: code, reason: reason})
	_, here := w.entities[c.id]
	if _, loading := w.loading[c.id]; here || loading {
		w.local = append(w.local, pendingCall{id: c.id, method: methodLoadResult, args: b[rpc.EntityIDLength:]})
		return
	}
	w.sendEntity(c.id, rpc.MsgLoadEntityResult, b)
}

// loadResult is a decoded MsgLoadEntityResult, after the caller's ID.
type loadResult struct {
	id       rpc.EntityID
	typeName string
	callback string
	code     LoadCode
	reason   string
}

// appendLoadResult encodes res, the body of MsgLoadEntityResult after the
// caller's ID.
func appendLoadResult(b []byte, res loadResult) []byte {
	b = rpc.AppendEntityID(b, res.id)
	b = rpc.AppendString(b, res.typeName)
	b = rpc.AppendString(b, res.callback)
	b = rpc.AppendUint8(b, uint8(res.code))
	return rpc.AppendString(b, res.reason)
}

// decodeLoadResult decodes the body of MsgLoadEntityResult after the
// caller's ID (the arguments of methodLoadResult).
func decodeLoadResult(b []byte) (loadResult, error) {
	r := rpc.NewReader(b)
	res := loadResult{id: r.EntityID(), typeName: r.String(), callback: r.String(), code: LoadCode(r.Uint8()), reason: r.String()}
	switch {
	case r.Err() != nil:
		return res, r.Err()
	case res.id == "":
		return res, fmt.Errorf("zero entity ID")
	case r.Remaining() != 0:
		return res, fmt.Errorf("%d bytes after the reason", r.Remaining())
	}
	return res, nil
}

// runLoadResult runs the callback a load's answer names on e, the caller.
func (w *World) runLoadResult(e *Entity, args []byte) {
	res, err := decodeLoadResult(args)
	if err != nil {
		w.log.WithField("entity", e.String()).Errorf("malformed load answer dropped: %v", err)
		return
	}
	idx, ok := e.typ.loadCallbacks[res.callback]
	if !ok {
		// A hot reload removed or changed the method meanwhile.
		w.log.WithField("entity", e.String()).Warnf("load of %s<%s> answered, but %s has no method %s(id EntityID, err error) any more; answer dropped",
			res.typeName, res.id, e.typ.name, res.callback)
		return
	}
	errv := reflect.Zero(errorType)
	if res.code != 0 {
		errv = reflect.ValueOf(&LoadError{Type: res.typeName, ID: res.id, Code: res.code, Reason: res.reason})
	}
	fn := e.self.Method(idx)
	w.safely(e, "load callback "+res.callback, func() { fn.Call([]reflect.Value{reflect.ValueOf(res.id), errv}) })
}
