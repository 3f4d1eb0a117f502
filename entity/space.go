package entity

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/goworld-engine/goworld/aoi"
	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/space"
	"github.com/sirupsen/logrus"
)

// Vector3 is a position: X and Z on the ground plane (where the area of
// interest is computed), Y the height.
type Vector3 = rpc.Vector3

// Hooks of entities in spaces. They run on the game loop, after the
// change that caused them is complete, in the order the changes happened.
type (
	// AOIEnterer: OnEnterAOI runs when other comes into this entity's area
	// of interest.
	AOIEnterer interface{ OnEnterAOI(other *Entity) }
	// AOILeaver: OnLeaveAOI runs when other leaves this entity's area of
	// interest (one of them moved or left the space, or other was destroyed).
	AOILeaver interface{ OnLeaveAOI(other *Entity) }
	// SpaceEnterer: OnEnterSpace runs when the entity has entered a space
	// (Space returns it), before its OnEnterAOI calls.
	SpaceEnterer interface{ OnEnterSpace() }
	// SpaceLeaver: OnLeaveSpace runs when the entity has left space.
	SpaceLeaver interface{ OnLeaveSpace(space *Entity) }
	// SpaceMemberWatcher is implemented by space types that want to know
	// who comes and goes: OnEntityEnter and OnEntityLeave run on the space
	// entity.
	SpaceMemberWatcher interface {
		OnEntityEnter(e *Entity)
		OnEntityLeave(e *Entity)
	}
)

// Errors of space operations.
var (
	// ErrNotSpace: the target of EnterSpace is not a space.
	ErrNotSpace = errors.New("entity: not a space")
	// ErrBadPosition: a coordinate or yaw is NaN or infinite.
	ErrBadPosition = errors.New("entity: position is NaN or infinite")
	// ErrMigrating: the entity is on its way to another game.
	ErrMigrating = errors.New("entity: the entity is migrating to another game")
	// ErrFreezing: the game is freezing for a hot reload and cannot send
	// an entity to another game until it is back (see Engine.SetFreezing).
	ErrFreezing = errors.New("entity: the game is freezing for a hot reload; try again once it is back")
)

// spaceState is what a space entity has beyond an entity: its members
// and the bookkeeping of who sees whom.
type spaceState struct {
	e       *Entity
	s       *space.Space
	members memberTable
}

// memberTable holds a space's members by their AOI ID. Package space
// gives IDs small and dense (from 1, reused), so an index finds a member:
// the position sync names one per position it sends, and a map lookup
// among 100,000 members costs a miss or two each time.
type memberTable struct {
	byID []*Entity // nil for free IDs
	n    int
}

// get returns the member id, or nil.
func (t *memberTable) get(id aoi.ID) *Entity {
	if id < aoi.ID(len(t.byID)) {
		return t.byID[id]
	}
	return nil
}

// set records e as member id.
func (t *memberTable) set(id aoi.ID, e *Entity) {
	if id >= aoi.ID(len(t.byID)) {
		t.byID = slices.Grow(t.byID, int(id)+1-len(t.byID))[:id+1]
	}
	if t.byID[id] == nil {
		t.n++
	}
	t.byID[id] = e
}

// del forgets member id.
func (t *memberTable) del(id aoi.ID) {
	if id < aoi.ID(len(t.byID)) && t.byID[id] != nil {
		t.byID[id] = nil
		t.n--
	}
}

// all returns the members, in the order of their IDs.
func (t *memberTable) all() []*Entity {
	out := make([]*Entity, 0, t.n)
	for _, e := range t.byID {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// IsSpace reports whether the entity is a space (its type called
// DefineSpace).
func (e *Entity) IsSpace() bool { return e.sp != nil }

// Space returns the space the entity is in, or nil.
func (e *Entity) Space() *Entity { return e.space }

// Position returns the entity's position (in its space, if it has one).
func (e *Entity) Position() Vector3 { return e.pos }

// Yaw returns the entity's heading, in radians by convention.
func (e *Entity) Yaw() float32 { return e.yaw }

// AOIRadius returns the radius within which the entity sees others.
func (e *Entity) AOIRadius() float64 { return e.typ.aoiRadius }

// NoViewLimit, given to SetViewLimit, lets an entity's client hold
// everything its entity sees, whatever the world's ViewLimit.
const NoViewLimit = -1

// SetViewLimit bounds the entities this entity's client holds in its
// space at a time, for this entity alone (a low-end device, a spectator):
// n > 0, at most the n nearest of what it sees, overriding the world's
// ViewLimit (aoi_view_limit), lower or higher; NoViewLimit (any n < 0),
// no bound; 0, the world's ViewLimit again. It takes effect at the next
// position sync (a client holding more is sent destroys for the
// farthest), and it stays with the entity: in every space it enters,
// with every client bound to it, across a hot reload and a migration to
// another game. Neither the AOI nor OnEnterAOI and OnLeaveAOI change. If
// a client asks for its limit, bound what it may ask: a client that may
// set any n may choose to hold everything it sees.
func (e *Entity) SetViewLimit(n int) {
	e.viewLimit = max(n, NoViewLimit)
	if sp := e.space; sp != nil {
		// e is a member: the space knows its ID.
		_ = sp.sp.s.SetViewLimit(e.aoiID, e.viewLimit)
	}
}

// ViewLimit returns the entity's own view limit, as given to
// SetViewLimit: 0 when it has none (the world's ViewLimit applies),
// NoViewLimit for no bound.
func (e *Entity) ViewLimit() int { return e.viewLimit }

// NumMembers returns how many entities are in this space (0 if it is not
// a space).
func (e *Entity) NumMembers() int {
	if e.sp == nil {
		return 0
	}
	return e.sp.members.n
}

// Members calls fn for each entity in this space, until fn returns false.
// fn must not make entities enter or leave the space.
func (e *Entity) Members(fn func(*Entity) bool) {
	if e.sp == nil {
		return
	}
	for _, m := range e.sp.members.byID {
		if m != nil && !fn(m) {
			return
		}
	}
}

// Neighbors calls fn for each entity this entity sees (in its area of
// interest), until fn returns false. fn must not move entities.
func (e *Entity) Neighbors(fn func(*Entity) bool) {
	if e.space == nil {
		return
	}
	sp := e.space.sp
	sp.s.Neighbors(e.aoiID, func(id aoi.ID) bool { return fn(sp.members.get(id)) })
}

// Watchers calls fn for each entity that sees this one, until fn returns
// false. fn must not move entities.
func (e *Entity) Watchers(fn func(*Entity) bool) {
	if e.space == nil {
		return
	}
	sp := e.space.sp
	sp.s.Watchers(e.aoiID, func(id aoi.ID) bool { return fn(sp.members.get(id)) })
}

// Sees reports whether other is in this entity's area of interest.
func (e *Entity) Sees(other *Entity) bool {
	return e.space != nil && other.space == e.space && e.space.sp.s.Sees(e.aoiID, other.aoiID)
}

// EnterSpace moves the entity into the space spaceID at pos, leaving the
// space it is in. If the space lives on this game it happens now; if it
// lives on another game, the entity migrates there, with its attributes,
// timers, client and position, and calls sent to it meanwhile follow it.
// The entity is then gone from this game when EnterSpace returns (do not
// use it afterwards). Entering the space it is already in moves it to pos.
// While the game freezes for a hot reload, a space on another game is
// refused with ErrFreezing and the entity stays where it is: try again
// later (a timer survives the reload).
func (e *Entity) EnterSpace(spaceID rpc.EntityID, pos Vector3) error {
	switch {
	case e.destroyed:
		return fmt.Errorf("entity: %s is destroyed", e)
	case e.migrating:
		return fmt.Errorf("%w: %s", ErrMigrating, e)
	case e.sp != nil:
		return fmt.Errorf("entity: %s is a space and cannot enter one", e)
	case !pos.Finite():
		return fmt.Errorf("%w: %v", ErrBadPosition, pos)
	}
	if e.space != nil && e.space.id == spaceID {
		return e.SetPosition(pos)
	}
	target := e.world.entities[spaceID]
	if target == nil {
		if !spaceID.Valid() {
			return fmt.Errorf("entity: invalid space ID %s", clip.QuoteDefault(string(spaceID)))
		}
		if e.world.freezing {
			return fmt.Errorf("%w: %s stays in its space", ErrFreezing, e)
		}
		return e.world.migrate(e, spaceID, pos)
	}
	if target.sp == nil {
		return fmt.Errorf("%w: %s", ErrNotSpace, target)
	}
	e.world.spaceOp(func() {
		e.leaveSpace()
		e.joinSpace(target, pos)
	})
	return nil
}

// LeaveSpace takes the entity out of its space, if it is in one.
func (e *Entity) LeaveSpace() {
	if e.space != nil {
		e.world.spaceOp(e.leaveSpace)
	}
}

// SetPosition moves the entity. In a space, entities that can now see it,
// or no longer can, are told at once (their OnEnterAOI and OnLeaveAOI
// hooks); clients are told at the next position sync: those that now see
// it get it created, those that no longer do get it destroyed, and those
// that keep seeing it (and its own client) get its new position.
func (e *Entity) SetPosition(pos Vector3) error {
	if !pos.Finite() {
		return fmt.Errorf("%w: %v", ErrBadPosition, pos)
	}
	return e.moveTo(pos, e.yaw, false)
}

// SetYaw sets the entity's heading; clients that see it get it at the
// next position sync.
func (e *Entity) SetYaw(yaw float32) error {
	if math.IsNaN(float64(yaw)) || math.IsInf(float64(yaw), 0) {
		return fmt.Errorf("%w: yaw %v", ErrBadPosition, yaw)
	}
	return e.moveTo(e.pos, yaw, false)
}

func (e *Entity) moveTo(pos Vector3, yaw float32, byOwner bool) error {
	old := e.pos
	e.pos, e.yaw = pos, yaw
	if e.space == nil {
		return nil
	}
	s := e.space.sp.s
	if old.X == pos.X && old.Z == pos.Z {
		s.Touch(e.aoiID, byOwner)
		return nil
	}
	w := e.world
	var err error
	w.spaceOp(func() {
		var start time.Time
		if w.aoiCost.timed() {
			start = time.Now()
		}
		err = s.Move(e.aoiID, float64(pos.X), float64(pos.Z), byOwner)
		w.aoiCost.add(start)
	})
	return err
}

// joinSpace adds e to sp at pos (e is in no space).
func (e *Entity) joinSpace(sp *Entity, pos Vector3) {
	w := e.world
	e.pos = pos
	e.space = sp
	if e.client != nil {
		w.toClient(*e.client, rpc.MsgEnterSpace, e.enterSpaceBody())
	}
	w.queueHook(func() {
		if h, ok := sp.self.Interface().(SpaceMemberWatcher); ok && !sp.destroyed {
			w.safely(sp, "OnEntityEnter", func() { h.OnEntityEnter(e) })
		}
	})
	w.queueHook(func() {
		if h, ok := e.self.Interface().(SpaceEnterer); ok && e.space == sp {
			w.safely(e, "OnEnterSpace", h.OnEnterSpace)
		}
	})
	// The entity must be known by its ID before the space reports on it.
	e.aoiID = sp.sp.s.Reserve(1)[0]
	sp.sp.members.set(e.aoiID, e)
	if _, err := sp.sp.s.Add(float64(pos.X), float64(pos.Z), e.typ.aoiRadius, e.client != nil); err != nil {
		// Positions are checked before; this is a bug.
		panic(fmt.Sprintf("entity: %s entering %s: %v", e, sp, err))
	}
	if e.viewLimit != 0 {
		_ = sp.sp.s.SetViewLimit(e.aoiID, e.viewLimit) // a member since Add
	}
}

// leaveSpace takes e out of its space, if any.
func (e *Entity) leaveSpace() {
	sp := e.space
	if sp == nil {
		return
	}
	w := e.world
	if err := sp.sp.s.Remove(e.aoiID); err != nil {
		panic(fmt.Sprintf("entity: %s leaving %s: %v", e, sp, err))
	}
	sp.sp.members.del(e.aoiID)
	e.space = nil
	e.aoiID = 0
	if e.client != nil {
		w.toClient(*e.client, rpc.MsgEnterSpace, e.enterSpaceBody())
	}
	w.queueHook(func() {
		if h, ok := e.self.Interface().(SpaceLeaver); ok {
			w.safely(e, "OnLeaveSpace", func() { h.OnLeaveSpace(sp) })
		}
	})
	w.queueHook(func() {
		if h, ok := sp.self.Interface().(SpaceMemberWatcher); ok {
			w.safely(sp, "OnEntityLeave", func() { h.OnEntityLeave(e) })
		}
	})
}

// enterSpaceBody encodes MsgEnterSpace for e's client: its space (zero ID
// and empty type if none) and its position.
func (e *Entity) enterSpaceBody() []byte {
	var b []byte
	if e.space != nil {
		b = rpc.AppendEntityID(b, e.space.id)
		b = rpc.AppendString(b, e.space.typ.name)
	} else {
		b = rpc.AppendEntityID(b, "")
		b = rpc.AppendString(b, "")
	}
	return rpc.AppendPosition(b, e.pos, e.yaw)
}

// emptySpace makes every member of space e leave it (e is being destroyed).
func (e *Entity) emptySpace() {
	if e.sp == nil || e.sp.members.n == 0 {
		return
	}
	members := e.sp.members.all()
	e.world.spaceOp(func() {
		for _, m := range members {
			m.leaveSpace()
		}
	})
}

// spaceClientBound starts the view of e's new client (bound while e is in
// a space): its space, then everything e sees.
func (e *Entity) spaceClientBound() {
	if e.space == nil {
		return
	}
	e.world.toClient(*e.client, rpc.MsgEnterSpace, e.enterSpaceBody())
	e.space.sp.s.SetViewer(e.aoiID, true)
}

// spaceClientUnbinding ends the view of e's client, which is about to be
// unbound: it is told to destroy everything it was shown and that it is
// in no space any more.
func (e *Entity) spaceClientUnbinding() {
	if e.space == nil {
		return
	}
	e.space.sp.s.SetViewer(e.aoiID, false)
	b := rpc.AppendString(rpc.AppendEntityID(nil, ""), "")
	e.world.toClient(*e.client, rpc.MsgEnterSpace, rpc.AppendPosition(b, Vector3{}, 0))
}

// spaceOp runs fn, a change to spaces, then the hooks it caused, unless
// it is itself running inside a hook (the outer call runs them, in order).
func (w *World) spaceOp(fn func()) {
	fn()
	w.runHooks()
}

func (w *World) queueHook(fn func()) { w.hooks = append(w.hooks, fn) }

func (w *World) runHooks() {
	if w.inHooks {
		return
	}
	w.inHooks = true
	defer func() { w.inHooks = false }()
	for i := 0; i < len(w.hooks); i++ {
		w.hooks[i]()
	}
	clear(w.hooks)
	w.hooks = w.hooks[:0]
}

// newSpaceState makes e a space (its type declared DefineSpace).
func (w *World) newSpaceState(e *Entity) {
	sp := &spaceState{e: e}
	sp.s = space.New(space.Config{CellSize: e.typ.cellSize, SyncLimit: w.cfg.SyncLimit, SyncTotal: w.cfg.SyncTotal, SyncWork: w.cfg.SyncWork,
		ViewLimit: max(w.cfg.ViewLimit, 0)}, (*spaceOut)(sp))
	e.sp = sp
	w.spaces[e.id] = e
}

// SyncPositions sends, for every space, what is due to its clients (see
// package space): the destroys of what left their views, pending creates
// and the positions of what moved. The
// game calls it at the position sync interval.
func (en *Engine) SyncPositions() {
	w := en.w
	for _, sp := range w.spaces {
		d := sp.sp.s.Sync()
		w.syncDeferred.Routes += uint64(d.Routes)
		w.syncDeferred.Creates += uint64(d.Creates)
		w.syncDeferred.Positions += uint64(d.Positions)
	}
	w.flushClients()
}

// NumSpaces returns the number of local spaces.
func (w *World) NumSpaces() int { return len(w.spaces) }

// spaceOut turns a space's decisions into client messages and hooks.
type spaceOut spaceState

func (o *spaceOut) Create(viewer, target aoi.ID) {
	v, t := o.members.get(viewer), o.members.get(target)
	if v == nil || t == nil || v.client == nil {
		return
	}
	v.world.toClient(*v.client, rpc.MsgCreateEntity, t.publicCreateBody())
}

func (o *spaceOut) Destroy(viewer, target aoi.ID) {
	v, t := o.members.get(viewer), o.members.get(target)
	if v == nil || t == nil || v.client == nil {
		return
	}
	v.world.toClient(*v.client, rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, t.id))
}

func (o *spaceOut) Positions(viewer aoi.ID, targets []aoi.ID) {
	v := o.members.get(viewer)
	if v == nil || v.client == nil {
		return
	}
	// A MsgPositions counts its entries in 16 bits: more go in several.
	for len(targets) > 0 {
		chunk := targets[:min(len(targets), maxPositionsPerMsg)]
		targets = targets[len(chunk):]
		b := make([]byte, 2, 2+len(chunk)*(rpc.EntityIDLength+rpc.PositionSize))
		n := 0
		for _, id := range chunk {
			if t := o.members.get(id); t != nil {
				b = rpc.AppendEntityID(b, t.id)
				b = rpc.AppendPosition(b, t.pos, t.yaw)
				n++
			}
		}
		if n == 0 {
			continue
		}
		b[0], b[1] = byte(n), byte(n>>8)
		v.world.toClient(*v.client, rpc.MsgPositions, b)
	}
}

// maxPositionsPerMsg is the most entries one MsgPositions counts (u16).
const maxPositionsPerMsg = 1<<16 - 1

func (o *spaceOut) AOI(watcher, target aoi.ID, enter bool) {
	wa, t := o.members.get(watcher), o.members.get(target)
	if wa == nil || t == nil {
		return
	}
	w := wa.world
	if enter {
		if !wa.typ.entersAOI {
			return
		}
		if h, ok := wa.self.Interface().(AOIEnterer); ok {
			w.queueHook(func() { w.safely(wa, "OnEnterAOI", func() { h.OnEnterAOI(t) }) })
		}
		return
	}
	if !wa.typ.leavesAOI {
		return
	}
	if h, ok := wa.self.Interface().(AOILeaver); ok {
		w.queueHook(func() { w.safely(wa, "OnLeaveAOI", func() { h.OnLeaveAOI(t) }) })
	}
}

// publicCreateBody is createBody(false), reused while the entity's
// attributes, position and space are unchanged.
func (e *Entity) publicCreateBody() []byte {
	if e.shown == nil || e.shownSeq != e.attrSeq || e.shownPos != e.pos || e.shownYaw != e.yaw || e.shownSpace != e.space {
		e.shown = e.createBody(false)
		e.shownSeq, e.shownPos, e.shownYaw, e.shownSpace = e.attrSeq, e.pos, e.yaw, e.space
	}
	return e.shown
}

// fanOut sends a frame about e (an attribute change, a call) to the
// clients that hold e (Space.ShownTo), other than its own.
func (e *Entity) fanOut(t rpc.MsgType, body []byte) {
	if e.space == nil {
		return
	}
	sp, w := e.space.sp, e.world
	// The scratch list is safe to reuse: ShownTo runs no game code, and
	// toClientRefs copies the IDs.
	refs := w.shownTo[:0]
	sp.s.ShownTo(e.aoiID, func(v aoi.ID) {
		if m := sp.members.get(v); m != nil && m.client != nil {
			refs = append(refs, *m.client)
		}
	})
	if len(refs) > 0 {
		w.toClientRefs(refs, t, body)
	}
	w.shownTo = refs[:0]
}

// clientMoved applies a position from e's own client, checked by the caller.
func (e *Entity) clientMoved(pos Vector3, yaw float32) {
	e.moveTo(pos, yaw, true)
}

// CreateSpaceLocally creates a space of the named type (one that called
// DefineSpace) on this game.
func (w *World) CreateSpaceLocally(typeName string, attrs map[string]any) (*Entity, error) {
	if err := w.checkSpaceType(typeName); err != nil {
		return nil, err
	}
	return w.CreateEntityLocally(typeName, attrs)
}

// CreateSpaceSomewhere creates a space of the named type on the least
// loaded game and returns its ID at once.
func (w *World) CreateSpaceSomewhere(typeName string, attrs map[string]any) (rpc.EntityID, error) {
	if err := w.checkSpaceType(typeName); err != nil {
		return "", err
	}
	return w.CreateEntitySomewhere(typeName, attrs)
}

// CreateSpaceOnGame creates a space of the named type on game gameID and
// returns its ID at once.
func (w *World) CreateSpaceOnGame(gameID rpc.GameID, typeName string, attrs map[string]any) (rpc.EntityID, error) {
	if err := w.checkSpaceType(typeName); err != nil {
		return "", err
	}
	return w.CreateEntityOnGame(gameID, typeName, attrs)
}

func (w *World) checkSpaceType(typeName string) error {
	t := w.reg.types[typeName]
	if t == nil {
		return fmt.Errorf("entity: unknown type %q", typeName)
	}
	if !t.isSpace {
		return fmt.Errorf("%w: type %q did not call DefineSpace", ErrNotSpace, typeName)
	}
	return nil
}

// CreateEntityOnGame creates an entity of the named type on game gameID
// (this one included) and returns its ID at once. Calls sent to the ID
// afterwards reach it once it exists. If that game is not connected, the
// dispatcher drops the creation with a log line.
func (w *World) CreateEntityOnGame(gameID rpc.GameID, typeName string, attrs map[string]any) (rpc.EntityID, error) {
	if gameID == w.gameID {
		e, err := w.CreateEntityLocally(typeName, attrs)
		if err != nil {
			return "", err
		}
		return e.id, nil
	}
	if !w.reg.Has(typeName) {
		return "", fmt.Errorf("entity: unknown type %q", typeName)
	}
	id := rpc.NewEntityID()
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendUint16(b, uint16(gameID))
	b = rpc.AppendString(b, typeName)
	if attrs == nil {
		attrs = map[string]any{}
	}
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		return "", fmt.Errorf("entity: attributes: %w", err)
	}
	w.sendEntity(id, rpc.MsgCreateEntityOnGame, b)
	return id, nil
}

// beyondClientLimit reports whether a coordinate of pos, from a client,
// is beyond ClientCoordinateLimit.
func (w *World) beyondClientLimit(pos Vector3) bool {
	l := float32(w.cfg.ClientCoordinateLimit)
	return l > 0 && (pos.X > l || pos.X < -l || pos.Y > l || pos.Y < -l || pos.Z > l || pos.Z < -l)
}

// clientPosition applies a position a client sent for entity id: only if
// the entity is that client's and is in the space the client named (a
// position sent before the client learnt of a space change is dropped).
func (w *World) clientPosition(id rpc.EntityID, ref ClientRef, spaceID rpc.EntityID, pos Vector3, yaw float32) {
	e := w.entities[id]
	switch {
	case e == nil:
		w.log.Debugf("position for unknown entity %s dropped", id)
	case e.client == nil || *e.client != ref:
		w.lines.Logf(w.log.WithFields(logrus.Fields{"gate": ref.Gate, "client": uint64(ref.ID), "entity": e.String()}),
			logrus.WarnLevel, "position from a non-owner", "position from a client that does not own the entity dropped")
	case e.space == nil || e.space.id != spaceID:
		w.log.WithField("entity", e.String()).Debug("position for another space dropped (sent before a space change)")
	case !pos.Finite() || math.IsNaN(float64(yaw)) || math.IsInf(float64(yaw), 0):
		w.clientError(ref, e, "SyncPosition", "position is NaN or infinite")
	case w.beyondClientLimit(pos):
		w.clientError(ref, e, "SyncPosition", fmt.Sprintf("a coordinate beyond ±%d (max_client_coordinate)", w.cfg.ClientCoordinateLimit))
	default:
		e.clientMoved(pos, yaw)
	}
}
