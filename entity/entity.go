package entity

import (
	"fmt"
	"reflect"

	"github.com/goworld-engine/goworld/aoi"
	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
)

// ClientRef names a client connection: its gate and its ID there.
type ClientRef struct {
	Gate rpc.GateID
	ID   rpc.ClientID
}

// Entity is the engine's part of every entity. User types embed it by
// value:
//
//	type Avatar struct {
//		entity.Entity
//	}
//
// All its methods must be called on the game loop (from entity methods,
// hooks, timers and callbacks, which is where user code runs anyway).
type Entity struct {
	id    rpc.EntityID
	typ   *entityType
	world *World
	self  reflect.Value // pointer to the user's struct
	// Attrs is the entity's attribute tree. Top-level keys must be declared
	// with DefineAttr; their flags decide what is synced and saved.
	Attrs *MapAttr

	client    *ClientRef
	timers    map[TimerID]*timer
	nextTimer TimerID
	destroyed bool
	dirty     bool // persistent attributes changed since the last save

	// epoch is the fencing token of this copy of a persistent entity
	// (storage.EntityRecord.Epoch): claimed by its load, or by its first
	// save when it was created here (0 until that save returns: saves
	// made meanwhile claim too). claims counts those saves in flight.
	epoch  uint64
	claims int
	// fenced: this copy was retired because a newer one was claimed.
	fenced bool

	clientAddr string // where the client connected from, as its gate saw it

	sp        *spaceState // set if the entity is a space
	space     *Entity     // the space it is in, if any
	aoiID     aoi.ID      // its ID in that space
	pos       Vector3
	yaw       float32
	viewLimit int  // its own view limit (SetViewLimit); 0: the world's
	migrating bool // waiting to leave for another game

	// The MsgCreateEntity body other clients are sent, kept while nothing
	// it holds changed: in a crowd, many clients are shown the same
	// entity in the same tick.
	attrSeq    uint64 // bumped by every attribute change
	shown      []byte
	shownSeq   uint64
	shownPos   Vector3
	shownYaw   float32
	shownSpace *Entity
}

// ID returns the entity's ID.
func (e *Entity) ID() rpc.EntityID { return e.id }

// TypeName returns the entity's registered type name.
func (e *Entity) TypeName() string { return e.typ.name }

// World returns the game world the entity lives in.
func (e *Entity) World() *World { return e.world }

// IsDestroyed reports whether Destroy has been called.
func (e *Entity) IsDestroyed() bool { return e.destroyed }

// String returns "Type<ID>".
func (e *Entity) String() string { return e.typ.name + "<" + string(e.id) + ">" }

// Self returns the user's struct that embeds this Entity (e.g. *Avatar),
// for hooks that receive other entities as *Entity.
func (e *Entity) Self() any { return e.self.Interface() }

// Client returns the client bound to the entity, if any.
func (e *Entity) Client() (ClientRef, bool) {
	if e.client == nil {
		return ClientRef{}, false
	}
	return *e.client, true
}

// ClientAddr returns the network address ("host:port") the entity's
// client connected from, as its gate saw it (MsgClientConnected): to
// throttle logins per address, say. It follows the client through
// GiveClientTo, migrations and hot reloads. It is "" when no client is
// bound, or when its gate did not say (a gate older than this field).
// Behind a reverse proxy it is the proxy's address.
func (e *Entity) ClientAddr() string {
	if e.client == nil {
		return ""
	}
	return e.clientAddr
}

// HasClient reports whether a client is bound to the entity.
func (e *Entity) HasClient() bool { return e.client != nil }

// Call calls method on the entity id with args, wherever it lives. The call
// is asynchronous: it runs later, on the target's game loop, in the order
// calls to that entity were sent. Errors (unknown entity or method, bad
// arguments) are logged by the receiver.
func (e *Entity) Call(id rpc.EntityID, method string, args ...any) {
	e.world.Call(id, method, args...)
}

// CallClient calls method on this entity's copy in its own client. It does
// nothing if no client is bound. If the type declares its client methods
// (TypeDesc.DefineClientMethod), a method it does not declare, or
// arguments that do not fit the declaration, is an error: logged,
// counted (World.ClientCallErrors) and not sent, whether a client is
// bound or not.
func (e *Entity) CallClient(method string, args ...any) {
	if e.client == nil && len(e.typ.clientMethods) == 0 {
		return
	}
	if body := e.clientCallBody("CallClient", method, args); body != nil && e.client != nil {
		e.world.toClient(*e.client, rpc.MsgCallClient, body)
	}
}

// CallNearbyClients calls method on this entity's copy in every client
// that shows it: its own client, if one is bound, and the clients of the
// members of its space that see it (Watchers) and have been shown it.
// It is what an emote, a spoken line or a hit in a crowd needs: one call
// on the entity that acted, which each client near it plays on its copy
// of that entity. The body is encoded once, and each gate gets one frame
// for all of its clients.
//
// A client that starts to see the entity in the interval before the next
// position sync is shown it at that sync (MsgCreateEntity), after the
// call, and does not get the call; a client that stopped seeing it in that
// interval still holds its copy until the sync and does get it. Declared
// client methods are checked as for CallClient, against this entity's
// type, whether any client gets the call or not.
func (e *Entity) CallNearbyClients(method string, args ...any) {
	e.callNearby("CallNearbyClients", method, args, true)
}

// CallOtherNearbyClients is CallNearbyClients without the entity's own
// client: for what that client already knows, such as an emote its
// player started.
func (e *Entity) CallOtherNearbyClients(method string, args ...any) {
	e.callNearby("CallOtherNearbyClients", method, args, false)
}

// callNearby is CallNearbyClients (own) and CallOtherNearbyClients.
func (e *Entity) callNearby(api, method string, args []any, own bool) {
	toOwn := own && e.client != nil
	if !toOwn && e.space == nil && len(e.typ.clientMethods) == 0 {
		return
	}
	body := e.clientCallBody(api, method, args)
	if body == nil {
		return
	}
	if toOwn {
		e.world.toClient(*e.client, rpc.MsgCallClient, body)
	}
	e.fanOut(rpc.MsgCallClient, body)
}

// clientCallBody encodes a call of method on this entity's client copies
// (MsgCallClient's body), or returns nil after logging and counting why it
// cannot be sent: arguments a client cannot decode, or a method or
// arguments that the type's declared client methods do not allow. api
// names the caller in the log.
func (e *Entity) clientCallBody(api, method string, args []any) []byte {
	body, err := appendCall(nil, e.id, method, args)
	if err != nil {
		e.world.log.WithError(err).Errorf("%s.%s(%s)", e, api, clip.Name(method))
		return nil
	}
	if len(e.typ.clientMethods) > 0 {
		if msg := e.world.checkClientCall(e.typ, method, callArgs(body)); msg != "" {
			e.world.clientCallError(msg)
			return nil
		}
	}
	return body
}

// callArgs returns the msgpack argument array of a body appendCall
// wrote from its start (entityID | method | args).
func callArgs(body []byte) []byte {
	r := rpc.NewReader(body)
	r.EntityID()
	_ = r.String()
	return r.Rest()
}

// SetClientFilterProp sets a property on this entity's client at its gate,
// for filtered broadcasts (World.CallFilteredClients). An empty value
// removes it. It does nothing if no client is bound. A key or value
// longer than rpc.MaxFilterPropLen (256 bytes) is an error: logged, and
// the property is not set (check what a client asks for, such as a room
// name, before it gets here).
func (e *Entity) SetClientFilterProp(key, value string) {
	if e.client == nil {
		return
	}
	if len(key) > rpc.MaxFilterPropLen || len(value) > rpc.MaxFilterPropLen {
		e.world.log.Errorf("%s.SetClientFilterProp(%s, %s): a key or value is at most %d bytes; not set",
			e, clip.QuoteDefault(key), clip.QuoteDefault(value), rpc.MaxFilterPropLen)
		return
	}
	b := rpc.AppendUint16(nil, uint16(e.client.Gate))
	b = rpc.AppendUint64(b, uint64(e.client.ID))
	b = rpc.AppendString(rpc.AppendString(b, key), value)
	e.world.sendGate(e.client.Gate, rpc.MsgSetClientFilterProp, b)
}

// Kick disconnects this entity's client, telling it reason.
func (e *Entity) Kick(reason string) {
	if e.client == nil {
		return
	}
	e.world.kick(*e.client, reason)
}

// GiveClientTo hands this entity's client to the entity id (typically an
// Account giving its client to the player's Avatar after login). This
// entity loses the client at once (its OnClientDisconnected runs); the
// target gets it when the handover arrives, possibly on another game, and
// its OnClientConnected runs there. If the target already has a client,
// that older client is kicked.
func (e *Entity) GiveClientTo(id rpc.EntityID) {
	if e.client == nil {
		e.world.log.Warnf("%s.GiveClientTo(%s): no client to give", e, clip.QuoteDefault(string(id)))
		return
	}
	if !id.Valid() {
		e.world.log.Errorf("%s.GiveClientTo(%s): not a valid entity ID; the client stays", e, clip.QuoteDefault(string(id)))
		return
	}
	ref, addr := *e.client, e.clientAddr
	e.setClient(nil)
	e.world.Call(id, methodTakeClient, uint16(ref.Gate), uint64(ref.ID), addr)
}

// Destroy destroys the entity: OnDestroy runs, a persistent entity is
// saved, its client (if any) is told, its timers are cancelled and it is
// removed from the world. Calls that arrive later are dropped with a
// warning. A persistent entity stays registered with the dispatcher until
// its final save has completed (see World.saveFinal).
func (e *Entity) Destroy() {
	if e.destroyed {
		return
	}
	if h, ok := e.self.Interface().(Destroyer); ok {
		e.world.safely(e, "OnDestroy", h.OnDestroy)
	}
	e.destroy()
}

// destroy is Destroy after OnDestroy: it saves a persistent entity
// (unless fenced), tells its client (if still bound) and removes it.
func (e *Entity) destroy() {
	if e.destroyed {
		return // OnDestroy destroyed it
	}
	e.LeaveSpace()
	e.emptySpace()
	e.destroyed = true
	final := false
	if e.typ.persistent && !e.fenced {
		final = e.world.saveFinal(e)
	}
	if e.sp != nil {
		delete(e.world.spaces, e.id)
	}
	if e.client != nil {
		e.world.toClient(*e.client, rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, e.id))
		e.client = nil
	}
	for id := range e.timers {
		delete(e.timers, id)
	}
	e.world.remove(e, !final)
}

// setClient binds ref (nil to unbind), telling the gates and the client and
// running the client hooks.
func (e *Entity) setClient(ref *ClientRef) { e.bindClient(ref, "") }

// bindClient is setClient with the address the client connected from.
func (e *Entity) bindClient(ref *ClientRef, addr string) {
	w := e.world
	if old := e.client; old != nil {
		if ref != nil && *old == *ref {
			return
		}
		e.spaceClientUnbinding()
		w.toClient(*old, rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, e.id))
		e.client = nil
		if ref != nil {
			// A new connection takes over (the same player logged in
			// again): the old one is kicked, and the entity keeps a
			// client, so OnClientDisconnected does not run.
			w.kick(*old, "logged in from another connection")
		} else if h, ok := e.self.Interface().(ClientDisconnector); ok {
			w.safely(e, "OnClientDisconnected", h.OnClientDisconnected)
		}
	}
	if ref == nil {
		return
	}
	if e.destroyed {
		w.kick(*ref, "the entity this client was given to is gone")
		return
	}
	e.client, e.clientAddr = ref, addr
	b := rpc.AppendUint16(nil, uint16(ref.Gate))
	b = rpc.AppendUint64(b, uint64(ref.ID))
	b = rpc.AppendEntityID(b, e.id)
	b = rpc.AppendUint16(b, uint16(w.gameID))
	w.sendGate(ref.Gate, rpc.MsgSetClientOwner, b)
	w.toClient(*ref, rpc.MsgCreateEntity, e.createBody(true))
	w.spaceOp(e.spaceClientBound)
	if h, ok := e.self.Interface().(ClientConnector); ok {
		w.safely(e, "OnClientConnected", h.OnClientConnected)
	}
}

// clientAway runs OnClientAway (away) or OnClientBack: the entity's
// client dropped and its resumable session is held, or it came back.
func (e *Entity) clientAway(away bool) {
	self := e.self.Interface()
	if h, ok := self.(ClientAwayer); ok && away {
		e.world.safely(e, "OnClientAway", h.OnClientAway)
	}
	if h, ok := self.(ClientReturner); ok && !away {
		e.world.safely(e, "OnClientBack", h.OnClientBack)
	}
}

// createBody encodes MsgCreateEntity for a client: the entity's
// client-visible attributes (all of them for its owner).
func (e *Entity) createBody(isPlayer bool) []byte {
	b := rpc.AppendEntityID(nil, e.id)
	p := uint8(0)
	if isPlayer {
		p = 1
	}
	b = rpc.AppendUint8(b, p)
	b = rpc.AppendString(b, e.typ.name)
	attrs := map[string]any{}
	for k, v := range e.Attrs.m {
		f := e.typ.attrs[k]
		if f&AttrAllClients != 0 || (isPlayer && f&AttrOwnClient != 0) {
			attrs[k] = plain(v)
		}
	}
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		panic(fmt.Sprintf("entity: cannot encode attributes of %s: %v", e, err))
	}
	if e.space != nil {
		b = rpc.AppendPosition(b, e.pos, e.yaw)
	}
	return b
}

// attrChanged is called by the attribute tree for every change under the
// top-level key root.
func (e *Entity) attrChanged(root string, op rpc.AttrOp, path []any, value any) {
	e.attrSeq++
	f := e.typ.attrs[root]
	if f&AttrPersistent != 0 {
		e.dirty = true
	}
	toOwner := e.client != nil && f&(AttrOwnClient|AttrAllClients) != 0
	toOthers := e.space != nil && f&AttrAllClients != 0
	if toOwner || toOthers {
		b := rpc.AppendEntityID(nil, e.id)
		b = rpc.AppendUint8(b, uint8(op))
		b, err := rpc.AppendValue(b, path)
		if err == nil {
			b, err = rpc.AppendValue(b, plain(value))
		}
		if err != nil {
			panic(fmt.Sprintf("entity: cannot encode attribute change of %s: %v", e, err))
		}
		if toOwner {
			e.world.toClient(*e.client, rpc.MsgAttrChange, b)
		}
		if toOthers {
			e.fanOut(rpc.MsgAttrChange, b)
		}
	}
}

// persistentData returns the attributes flagged AttrPersistent.
func (e *Entity) persistentData() map[string]any {
	out := map[string]any{}
	for k, v := range e.Attrs.m {
		if e.typ.attrs[k]&AttrPersistent != 0 {
			out[k] = plain(v)
		}
	}
	return out
}

// appendCall encodes entityID | method | args for a client, refusing
// arguments a client cannot decode.
func appendCall(b []byte, id rpc.EntityID, method string, args []any) ([]byte, error) {
	for i, a := range args {
		if err := rpc.CheckClientValue(a); err != nil {
			return b, fmt.Errorf("argument %d (%T) cannot be sent to a client: %w", i, a, err)
		}
	}
	b = rpc.AppendEntityID(b, id)
	b = rpc.AppendString(b, method)
	return rpc.AppendArgs(b, args)
}
