// Package space keeps the members of one space: where they are, who sees
// whom (through a grid area of interest, package aoi), and, for every
// member that has a client, what that client has been shown.
//
// It is the bookkeeping under the engine's spaces, with no knowledge of
// entities, clients or the network: the entity package drives one Space
// per space entity and turns what it reports through [Output] into
// messages and hooks. Keeping it apart makes the rules testable on their
// own:
//
//   - A member with a view (a client) is shown an entity that comes into
//     its area of interest (Create) and told of one that leaves (Destroy)
//     at the next [Space.Sync], with the positions: so a client gets
//     everything of one interval together (the engine sends it in one
//     message), and what leaves and comes back within the interval costs
//     it only a position. After each Sync the view holds only entities the
//     member sees; in between it may also hold those whose destroy waits
//     (and Remove destroys at once, since the ID is then free). Positions
//     only ever name entities the view holds and the member sees (or the
//     viewer itself).
//   - What one viewer is sent per [Space.Sync] is bounded (Config.SyncLimit
//     creates and position updates together, and Config.SyncTotal for all
//     viewers, shared by what each has due): in a crowd, creates wait
//     oldest first, and positions go nearest first, with a quarter of the
//     budget to those that waited longest, so every entity gets its turn.
//   - What one viewer's client holds may be bounded too
//     (Config.ViewLimit, or one member's own: [Space.SetViewLimit]): it is
//     then shown the nearest of what the member sees, chosen again every
//     few Syncs; the others wait in its pending creates. The AOI itself,
//     and what [Output.AOI] reports, is the same.
//   - The work one Sync does to find who must hear of a move is bounded
//     too (Config.SyncWork pairs: (viewer, neighbour) pairs, so members
//     without a client cost nothing; or, when few members moved,
//     (mover, watcher) pairs): what it could not get to is routed at the
//     next Sync, first. A thousand entities on one spot slow their own
//     updates down, never the game loop.
//
// A Space is not safe for concurrent use; the game loop owns it.
package space

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/goworld-engine/goworld/aoi"
)

// ID identifies a member within its space. Add assigns them, small and
// dense (from 1, at most 2^28 − 1), and reuses those of removed members,
// so that looking a member up is an index, not a hash: routing moves
// does it once per (viewer, neighbour) or (mover, watcher) pair.
type ID = aoi.ID

// Output receives what a Space decides. Its methods are called
// synchronously, after the grid has been updated; they must not modify
// the Space (the AOI changes for game logic arrive through AOI, which may
// queue them for hooks that do).
type Output interface {
	// Create: show target to viewer's client.
	Create(viewer, target ID)
	// Destroy: remove target from viewer's client.
	Destroy(viewer, target ID)
	// Positions: send viewer's client the current positions of targets
	// (which may include viewer itself, when the server moved it). The
	// slice is reused after the call returns.
	Positions(viewer ID, targets []ID)
	// AOI: target entered (enter) or left watcher's area of interest.
	AOI(watcher, target ID, enter bool)
}

// Config configures a Space. Zero values take the defaults noted.
type Config struct {
	// CellSize is the AOI grid's cell size, about the usual radius (default 100).
	CellSize float64
	// SyncLimit bounds the creates and position updates one viewer is sent
	// per Sync (default 64).
	SyncLimit int
	// SyncTotal bounds the creates and position updates one Sync sends to
	// all viewers together (default 128,000): in a crowd each viewer gets
	// an even share, and what a viewer with less due leaves goes to those
	// with more.
	SyncTotal int
	// SyncWork bounds the pairs one Sync examines to route position
	// updates (default 128,000): (viewer, neighbour) pairs, each viewer
	// routed looking through everything it sees for what moved, so that
	// members without a client are never examined as watchers; or, when
	// fewer than half as many members moved as there are viewers,
	// (mover, watcher) pairs.
	SyncWork int
	// ViewLimit bounds the entities one viewer's client holds at a time
	// (0, the default: no bound). A viewer that sees more is shown the
	// nearest ViewLimit of them: see Sync.
	ViewLimit int
}

// Defaults for Config. DefaultSyncTotal and DefaultSyncWork let 2,000
// viewers that each see about 60 walking neighbours (114,000 positions
// and pairs due per Sync) get every position at every Sync, and bound a
// larger crowd's Sync to about as much: in the benchmarks of
// docs/performance.md (section 25) such a Sync costs 16–28 ms of one
// busy core, against 7–8 ms with the 50,000 of before, which spread
// the same crowd's positions over two to three Syncs.
const (
	DefaultCellSize  = 100
	DefaultSyncLimit = 64
	DefaultSyncTotal = 128_000
	DefaultSyncWork  = 128_000
)

// maxID is the largest ID a Space assigns: views keep an ID and its
// flags in 32 bits (see stateTable).
const maxID = idMask

// errFull: Add found no ID left.
var errFull = errors.New("space: full (no member ID left)")

// member is one slot of Space.slots, kept by value: a move reads one
// array entry for what it needs of the member (its stamp, whether it is
// listed, its view), a load the processor can overlap with the grid's.
type member struct {
	movedAt uint64 // the Sync interval of its last move (see Space.epoch); 0: never
	view    *view  // nil: no client
	used    bool   // the ID is a member's (false for free IDs and 0)
	listed  bool   // in Space.moved
	// gone: 1 + its index in Space.gone, where the views that may hold
	// it with fGone (its destroy waiting for the next Sync) are listed,
	// for Remove and ShownTo; 0: none. Cleared by Sync.
	gone int32
}

type view struct {
	id  ID  // the viewer
	idx int // in Space.viewers
	// state holds, for every entity the viewer sees (and the viewer
	// itself when its own position is due), what its client has of it:
	// one table for the three facts, so that each step of routing and
	// sending costs one probe.
	state stateTable
	// pending: entities seen but not yet created on the client (until
	// the next Sync, or over its budget), oldest first; entries without
	// fPending are stale.
	pending     []ID
	pendingHead int // entries before it are consumed
	// pos: entities whose new position the client has not been sent yet;
	// entries without fPos are stale.
	pos     []ID
	posHead int
	// gone: entities the client holds but the viewer no longer sees,
	// whose destroy waits for the next Sync; entries without fGone are
	// stale (the entity came back into view, or was destroyed at once).
	gone   []ID
	budget int
	// routed: moves up to this Sync interval (see Space.epoch) have been
	// queued in pos; later ones are found at the next routing.
	routed uint64
	// chosen: the Sync interval in which the view last chose the nearest
	// of what it sees (with a limit; 0: never).
	chosen uint64
	// limit bounds the entities the client holds (see Config.ViewLimit
	// and Space.SetViewLimit); 0: no bound.
	limit int
}

// Flags of view.state (never 0 together: an entity without any is not
// in the table).
const (
	fShown   = 1 << iota // the client holds the entity
	fPending             // queued in pending
	fPos                 // queued in pos
	fGone                // held but no longer seen: its destroy is queued in Space.gone
)

// Space is the state of one space. Create it with New.
type Space struct {
	cfg     Config
	grid    *aoi.Grid
	out     Output
	slots   []member // by ID; unused for free IDs (and for 0)
	free    []ID
	maxID   ID // the largest ID Add may assign: maxID (lower in tests)
	count   int
	viewers []*view // in no order; view.idx is the index
	// epoch numbers the Sync intervals: moves since the last Sync are
	// stamped with it, and each Sync ends it (epoch++). lastMove is the
	// latest stamp given.
	epoch, lastMove uint64
	// moved lists the members that moved since the last Sync (and, after
	// a Sync that routed from the movers' side and ran out of work, those
	// it did not get to: leftover).
	// Entries whose member is no longer listed are stale (the member
	// was removed, or its ID reused and listed again further on).
	moved    []ID
	leftover bool
	behind   int     // viewers the last Sync did not get to route
	events   []event // the current grid operation's changes
	// gone lists the members marked gone (member.gone) since the last
	// Sync, whose marks it clears, each with the views that hid it.
	gone []goneList
	// now: a Destroy goes out at once, not at the next Sync (Remove: the
	// ID is free before then).
	now      bool
	quiet    bool // restoring: views are rebuilt, nothing is output
	frozen   map[ID]map[ID]struct{}
	buf      []ID
	cand     []cand    // Sync's scratch: a viewer's queued positions
	d2       []float64 // and their distances
	order    []due     // Sync's scratch: the viewers
	near     []cand    // choose's scratch: what a view sees
	choosers []*view   // chooseNearest's scratch
	// limits: the members with a view limit of their own (SetViewLimit),
	// kept while they have no view too.
	limits map[ID]int
	// old (benchmarks only): send as before 7 December, queued positions
	// oldest first and SyncTotal to the first viewers that come.
	old bool
	// pullOnly (benchmarks only): always route from the viewers' side.
	pullOnly bool
}

// goneList is a member some views hid since the last Sync (see hide),
// with the IDs of their viewers. An entry is live while that viewer's
// view holds the member with fGone; others are stale (it came back into
// view, the view ended, or its destroy went out), and one viewer may be
// listed twice (it hid the member, saw it again and hid it again).
type goneList struct {
	target  ID
	viewers []ID
}

type event struct {
	watcher, target ID
	enter           bool
}

// New returns an empty space that reports to out.
func New(cfg Config, out Output) *Space {
	if cfg.CellSize <= 0 {
		cfg.CellSize = DefaultCellSize
	}
	if cfg.SyncLimit <= 0 {
		cfg.SyncLimit = DefaultSyncLimit
	}
	if cfg.SyncWork <= 0 {
		cfg.SyncWork = DefaultSyncWork
	}
	if cfg.SyncTotal <= 0 {
		cfg.SyncTotal = DefaultSyncTotal
	}
	s := &Space{cfg: cfg, out: out, slots: []member{{}}, maxID: maxID, epoch: 1}
	s.grid = aoi.NewGrid(cfg.CellSize, aoi.Funcs{
		OnEnter: func(w, t ID) { s.events = append(s.events, event{w, t, true}) },
		OnLeave: func(w, t ID) { s.events = append(s.events, event{w, t, false}) },
	})
	return s
}

// Len returns the number of members.
func (s *Space) Len() int { return s.count }

// Has reports whether id is a member.
func (s *Space) Has(id ID) bool { return s.member(id) != nil }

// member returns id's slot, nil if id is not a member. The pointer is
// good until the next Add.
func (s *Space) member(id ID) *member {
	if id >= ID(len(s.slots)) || !s.slots[id].used {
		return nil
	}
	return &s.slots[id]
}

// Add adds a member at (x, z) with an AOI radius and returns its ID.
// viewer says whether it has a client to keep a view for. It fails when
// the space holds 2^28 − 1 members (no ID is left).
func (s *Space) Add(x, z, radius float64, viewer bool) (ID, error) {
	var id ID
	if n := len(s.free); n > 0 {
		id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		id = ID(len(s.slots))
		if id > s.maxID {
			return 0, errFull
		}
		s.slots = append(s.slots, member{})
	}
	s.slots[id] = member{used: true}
	if viewer {
		s.addView(id)
	}
	if err := s.grid.Insert(id, x, z, radius); err != nil {
		s.release(id)
		return 0, err
	}
	s.count++
	s.apply()
	return id, nil
}

func (s *Space) release(id ID) {
	s.dropView(id)
	delete(s.limits, id)
	s.slots[id] = member{}
	s.free = append(s.free, id)
}

// addView gives id a view.
func (s *Space) addView(id ID) {
	// Moves of this interval are routed to it too: an entity it is shown
	// now may move again before the Sync.
	v := &view{id: id, idx: len(s.viewers), budget: s.cfg.SyncLimit, routed: s.epoch - 1}
	v.limit = s.viewLimit(id)
	s.slots[id].view = v
	s.viewers = append(s.viewers, v)
}

// viewLimit returns the limit of id's view: its own (SetViewLimit), else
// Config.ViewLimit; 0: no bound.
func (s *Space) viewLimit(id ID) int {
	n, own := s.limits[id]
	switch {
	case !own:
		return max(s.cfg.ViewLimit, 0)
	case n < 0:
		return 0
	}
	return n
}

// SetViewLimit gives id a view limit of its own, used whenever it has a
// client: n > 0, its client holds at most the n nearest of what it sees
// (as with Config.ViewLimit, which it overrides, lower or higher); n < 0,
// no bound; 0, Config.ViewLimit again. A client that now holds more than
// its limit is destroyed the farthest at the next Sync; one with more
// room is sent what fills it, within the budget. The limit goes with the
// member: Remove forgets it.
func (s *Space) SetViewLimit(id ID, n int) error {
	m := s.member(id)
	if m == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if n == 0 {
		delete(s.limits, id)
	} else {
		if s.limits == nil {
			s.limits = map[ID]int{}
		}
		s.limits[id] = n
	}
	if v := m.view; v != nil {
		v.limit = s.viewLimit(id)
		v.chosen = 0 // choose at the next Sync
	}
	return nil
}

// ViewLimit returns the limit id's client is held to (0: none), and
// whether it is id's own (SetViewLimit) rather than Config.ViewLimit.
func (s *Space) ViewLimit(id ID) (limit int, own bool) {
	_, own = s.limits[id]
	return s.viewLimit(id), own
}

// dropView takes id's view away (if it has one) and returns it.
func (s *Space) dropView(id ID) *view {
	v := s.slots[id].view
	if v == nil {
		return nil
	}
	s.slots[id].view = nil
	last := s.viewers[len(s.viewers)-1]
	s.viewers[v.idx], last.idx = last, v.idx
	s.viewers[len(s.viewers)-1] = nil
	s.viewers = s.viewers[:len(s.viewers)-1]
	return v
}

// Reserve returns the ID the next Add or Restore will assign, so that a
// caller restoring many members can name, in pending, members it has not
// restored yet: it reserves all their IDs first, then restores them in
// the same order.
func (s *Space) Reserve(n int) []ID {
	ids := make([]ID, 0, n)
	free := len(s.free)
	next := ID(len(s.slots))
	for range n {
		if free > 0 {
			free--
			ids = append(ids, s.free[free])
		} else {
			ids = append(ids, next)
			next++
		}
	}
	return ids
}

// Restore adds a member like Add, but outputs nothing: after a hot
// reload the clients still hold their views. For a viewer, pending lists
// the members its client had not been shown yet (see Pending; use
// Reserve to know the IDs of members not restored yet); everything else
// it sees is taken as shown. Members restored this way have their
// positions sent again at the next Sync, in case the last ones were lost.
// Call FinishRestore when all are in.
func (s *Space) Restore(x, z, radius float64, viewer bool, pending []ID) (ID, error) {
	if s.frozen == nil {
		s.frozen = map[ID]map[ID]struct{}{}
	}
	id := s.Reserve(1)[0]
	if viewer && len(pending) > 0 {
		set := make(map[ID]struct{}, len(pending))
		for _, p := range pending {
			set[p] = struct{}{}
		}
		s.frozen[id] = set
	}
	s.quiet = true
	defer func() { s.quiet = false }()
	id, err := s.Add(x, z, radius, viewer)
	if err != nil {
		delete(s.frozen, id)
		return 0, err
	}
	s.stamp(id)
	return id, nil
}

// OwnPositionDue reports whether viewer's client is owed its own entity's
// position (the server moved it since the last Sync), for a freeze file:
// after the restore, Touch(viewer, false) owes it again. Restore does not,
// since a client that moves its entity itself is not sent it back.
func (s *Space) OwnPositionDue(viewer ID) bool {
	m := s.member(viewer)
	return m != nil && m.view != nil && m.view.state.get(viewer)&fPos != 0
}

// FinishRestore forgets what Restore needed to rebuild the views.
func (s *Space) FinishRestore() { s.frozen = nil }

// Pending returns the entities viewer sees but its client has not been
// shown yet (over the per-Sync budget, or for want of room under
// ViewLimit), for a freeze file.
func (s *Space) Pending(viewer ID) []ID {
	m := s.member(viewer)
	if m == nil || m.view == nil {
		return nil
	}
	var out []ID
	for _, id := range m.view.pending[m.view.pendingHead:] {
		if m.view.state.get(id)&fPending != 0 {
			out = append(out, id)
		}
	}
	return out
}

// Remove takes id out of the space: everyone stops seeing it (Destroy for
// the clients that held it) and its own client is told to destroy
// everything it held, at once rather than at the next Sync (the ID is
// free for another member once Remove returns).
func (s *Space) Remove(id ID) error {
	m := s.member(id)
	if m == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	// Its ID is free once this returns: what waits to destroy it, or
	// to destroy what its own client holds, goes now.
	if m.gone != 0 {
		g := &s.gone[m.gone-1]
		for _, w := range g.viewers {
			if v := s.slots[w].view; v != nil {
				if st := v.state.get(id); st&fGone != 0 {
					v.state.clear(id, st)
					s.out.Destroy(w, id)
				}
			}
		}
		g.viewers = g.viewers[:0]
		m.gone = 0
	}
	if m.view != nil {
		s.sendDestroys(m.view)
	}
	s.now = true
	err := s.grid.Remove(id)
	if err == nil {
		s.apply()
	}
	s.now = false
	if err != nil {
		return err
	}
	s.release(id)
	s.count--
	return nil
}

// Move moves id to (x, z). byOwner says that its own client moved it, so
// that client is not told; other viewers that hold it are, at the next
// Sync.
func (s *Space) Move(id ID, x, z float64, byOwner bool) error {
	// The slot's load overlaps the grid's: nothing here waits for it.
	if id >= ID(len(s.slots)) || !s.slots[id].used {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if err := s.grid.Move(id, x, z); err != nil {
		return err
	}
	if len(s.events) > 0 {
		s.apply()
	}
	s.touch(id, byOwner)
	return nil
}

// Touch marks id as moved without moving it on the grid (a change of height
// or yaw only), so that viewers are sent its position at the next Sync.
func (s *Space) Touch(id ID, byOwner bool) {
	if s.member(id) != nil {
		s.touch(id, byOwner)
	}
}

// touch stamps id, a member, and queues its own position for its
// client unless byOwner.
func (s *Space) touch(id ID, byOwner bool) {
	m := &s.slots[id]
	if !byOwner && m.view != nil {
		m.view.queuePos(id) // its own client learns where it is
	}
	s.stampSlot(id, m)
}

// stamp marks id, a member, as moved in this Sync interval: the viewers
// that see it queue its position when routing next reaches them.
func (s *Space) stamp(id ID) { s.stampSlot(id, &s.slots[id]) }

func (s *Space) stampSlot(id ID, m *member) {
	m.movedAt = s.epoch
	s.lastMove = s.epoch
	if !m.listed {
		m.listed = true
		s.moved = append(s.moved, id)
	}
}

// SetRadius changes id's AOI radius.
func (s *Space) SetRadius(id ID, r float64) error {
	if s.member(id) == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if err := s.grid.SetRadius(id, r); err != nil {
		return err
	}
	s.apply()
	return nil
}

// SetViewer starts (on) or ends a view for id, when a client is bound to
// or taken from it. A new view is shown everything id sees (from the next
// Sync, within the budget); an ended one is told, at once, to destroy
// everything it held.
func (s *Space) SetViewer(id ID, on bool) {
	m := s.member(id)
	if m == nil || (m.view != nil) == on {
		return
	}
	if !on {
		v := s.dropView(id)
		v.state.all(func(t ID, st uint8) {
			if st&fShown != 0 {
				s.out.Destroy(id, t)
			}
		})
		return
	}
	s.addView(id)
	v := s.slots[id].view
	s.buf = s.buf[:0]
	s.grid.Neighbors(id, func(t ID) bool { s.buf = append(s.buf, t); return true })
	for _, t := range s.buf {
		s.show(v, t)
	}
	s.touch(id, false) // the new client learns where its entity is
}

// Sees reports whether watcher sees target.
func (s *Space) Sees(watcher, target ID) bool { return s.grid.Sees(watcher, target) }

// Shown reports whether viewer's client holds target.
func (s *Space) Shown(viewer, target ID) bool {
	m := s.member(viewer)
	if m == nil || m.view == nil {
		return false
	}
	return m.view.state.get(target)&fShown != 0
}

// Neighbors calls fn for each member id sees, until fn returns false. fn
// must not modify the space.
func (s *Space) Neighbors(id ID, fn func(ID) bool) { s.grid.Neighbors(id, fn) }

// Watchers calls fn for each member that sees id, until fn returns false.
// fn must not modify the space.
func (s *Space) Watchers(id ID, fn func(ID) bool) { s.grid.Watchers(id, fn) }

// ShownTo calls fn for each viewer whose client holds id, once each: the
// clients to tell when id's public state changes. They include those
// whose destroy of id waits for the next Sync (id left their view since
// the last one): id may come back into view before then, and the client
// keeps its copy, which must not miss the change.
func (s *Space) ShownTo(id ID, fn func(viewer ID)) {
	m := s.member(id)
	if m == nil {
		return
	}
	s.grid.Watchers(id, func(w ID) bool {
		if v := s.slots[w].view; v != nil && v.state.get(id)&fShown != 0 {
			fn(w)
		}
		return true
	})
	if m.gone == 0 {
		return
	}
	// The views that hid id: keep the live entries, once each (fGone is
	// taken off each one found, so a second entry of it reads as stale,
	// and put back), then tell them. None of them sees id, so none was
	// a watcher above.
	g := &s.gone[m.gone-1]
	live := g.viewers[:0]
	for _, w := range g.viewers {
		if v := s.slots[w].view; v != nil && v.state.turn(id, fGone, fShown) {
			live = append(live, w)
		}
	}
	g.viewers = live
	for _, w := range live {
		s.slots[w].view.state.or(id, fGone)
	}
	for _, w := range live {
		fn(w)
	}
}

// NumViewers returns the number of members with a view.
func (s *Space) NumViewers() int { return len(s.viewers) }

// Sync sends what is due: each viewer's destroys (what left its view
// since the last Sync), its pending creates, then the positions of what
// moved since the last Sync, at most SyncLimit of creates and positions
// together per viewer, and returns what it had to leave for later. Call
// it at the position sync interval.
//
// Moves are routed from the viewers' side: each viewer (those routed
// longest ago first) goes through what it sees and queues the members
// that moved since it was last routed, until SyncWork (viewer, neighbour)
// pairs have been examined; the viewers not reached are routed at a later
// Sync, and lose nothing meanwhile. Members without a client cost nothing
// here, however many there are or move. When fewer than half as many
// members moved as there are viewers (a crowd standing still, a few
// walking through it), routing goes from the movers' side instead, as it
// did before: each mover's watchers, every one counted against SyncWork,
// oldest mover first, the rest at the next Sync.
//
// When a viewer's queued positions exceed its budget, about three
// quarters of it goes to the nearest (its own entity counts as nearest)
// and a quarter to those that have waited longest, so that a far
// neighbour is never starved: see sendPositions.
//
// With a ViewLimit, a view whose member sees more than the limit
// chooses, after the destroys, the nearest it should hold (see
// chooseNearest and choose): what it holds beyond them is destroyed, and
// its creates go nearest first, only while its client has room. Its
// moves are routed through what it holds (routeHeld).
func (s *Space) Sync() Deferred {
	var left Deferred
	cur := s.epoch
	s.epoch++
	work := 0
	// Route the viewers routed longest ago first, so that when the work
	// bound runs out, the ones left wait only until the next Sync.
	s.order = s.order[:0]
	for _, v := range s.viewers {
		s.order = append(s.order, due{v: v})
	}
	// Few movers among many viewers (a crowd standing still, one walking
	// through): asking each mover's watchers is cheaper than each viewer's
	// neighbours. Switch only where no work is left over from the other
	// way, so that no move is routed twice or missed.
	if s.leftover || (s.behind == 0 && 2*len(s.moved) < len(s.viewers) && !s.pullOnly) {
		s.pushRoute(cur)
		for i, d := range s.order {
			v := d.v
			v.routed = cur
			s.order[i].n = len(v.pending) - v.pendingHead + len(v.pos) - v.posHead
		}
	} else {
		slices.SortFunc(s.order, func(a, b due) int { return cmp.Compare(a.v.routed, b.v.routed) })
		s.behind = 0
		for i, d := range s.order {
			v := d.v
			if v.routed < s.lastMove {
				if work < s.cfg.SyncWork {
					work += s.route(v, cur)
				} else {
					s.behind++
				}
			}
			// What is due (an upper bound: stale entries count).
			s.order[i].n = len(v.pending) - v.pendingHead + len(v.pos) - v.posHead
		}
		s.unlist()
	}
	// What left the views first: an entity must exist on the client
	// before its position means anything, and what is destroyed makes
	// room under ViewLimit.
	for _, v := range s.viewers {
		s.sendDestroys(v)
	}
	s.chooseNearest(cur)
	// SyncTotal is shared like water: viewers in the order of what they
	// have due, least first, each may use an even share of what is left,
	// so what one leaves unused goes to those with more.
	if !s.old {
		slices.SortFunc(s.order, func(a, b due) int { return a.n - b.n })
	}
	total := s.cfg.SyncTotal
	for i, d := range s.order {
		v := d.v
		s.order[i].v = nil
		id := v.id
		v.budget = min(s.cfg.SyncLimit, total/(len(s.order)-i))
		if s.old {
			v.budget = min(s.cfg.SyncLimit, total)
		}
		before := v.budget
		// The creates, then the positions.
		head := v.pendingHead
		for head < len(v.pending) && v.budget > 0 && !s.full(v) {
			t := v.pending[head]
			head++
			if !v.state.turn(t, fPending, fShown) {
				continue
			}
			v.budget--
			s.out.Create(id, t)
		}
		v.pending, v.pendingHead = advance(v.pending, head)
		if len(v.pos) > v.posHead && v.budget > 0 {
			s.sendPositions(v, cur)
		}
		total -= before - v.budget
		_, positions := v.state.waiting()
		left.Creates += s.waitingCreates(v)
		left.Positions += positions
	}
	// Every view's destroys went out: nothing waits for Remove to find.
	s.unmarkGone()
	left.Routes = s.behind
	if s.leftover {
		left.Routes = len(s.moved)
	}
	return left
}

// Deferred is what one Sync left for a later one because a bound held
// it back: Routes, the viewers whose moves were not routed (SyncWork;
// routing from the movers' side, the movers not routed); Creates and
// Positions, the creates and the positions of held entities that wait
// for a viewer's budget (SyncLimit, SyncTotal). Creates that wait for
// room under a view limit are not counted. Nothing deferred is lost: it
// goes at a later Sync.
type Deferred struct{ Routes, Creates, Positions int }

// Choosing what a limited view holds (Config.ViewLimit, SetViewLimit).
const (
	// chooseEvery: a view over its limit chooses again at most every
	// chooseEvery Syncs (half a second at the default interval).
	chooseEvery = 5
	// keepFactor: an entity the client holds counts, when a view
	// chooses, as if its squared distance were keepFactor times what it
	// is (as if about 10 % nearer), so that two entities at about the
	// same distance do not take turns on the client at every choice.
	keepFactor = 0.81
)

// full reports whether v's client holds as many entities as it may.
func (s *Space) full(v *view) bool {
	return v.limit > 0 && v.state.held() >= v.limit
}

// chooseNearest lets the views that see more than their limit choose the
// nearest of what they see (see choose): those that chose longest ago
// first, each at most every chooseEvery Syncs (or at every Sync while
// its client has room), until SyncWork entities have been looked at;
// the others choose at a later Sync.
func (s *Space) chooseNearest(cur uint64) {
	vs := s.choosers[:0]
	for _, v := range s.viewers {
		if v.limit == 0 {
			continue
		}
		held := v.state.held()
		if held+len(v.pending)-v.pendingHead <= v.limit {
			continue // everything fits
		}
		// With room on the client (one it held left, or it is being
		// filled), choose at once what fills it; and a view that never
		// chose (new, or its limit changed) chooses at once.
		if v.chosen == 0 || cur-v.chosen >= chooseEvery || held < v.limit && v.chosen < cur {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b *view) int { return cmp.Compare(a.chosen, b.chosen) })
	work := 0
	for _, v := range vs {
		if work >= s.cfg.SyncWork {
			break
		}
		work += s.choose(v, cur)
	}
	clear(vs)
	s.choosers = vs[:0]
}

// choose makes v hold the v.limit nearest of what its viewer sees
// (counting those it holds as keepFactor nearer): those it holds beyond
// them are destroyed on its client now, and wait in pending like any
// create; those it does not hold among them go first in pending, and
// are created at this Sync and the next ones, within the budget. It
// returns the entities looked at.
//
// pending is rebuilt from what the viewer sees, so it holds no stale
// entry afterwards: those of a crowd that never fits would otherwise
// pile up.
func (s *Space) choose(v *view, cur uint64) int {
	v.chosen = cur
	vx, vz, _ := s.grid.Position(v.id)
	ns := s.near[:0]
	s.grid.Neighbors(v.id, func(t ID) bool {
		x, z, _ := s.grid.Position(t)
		d2 := (x-vx)*(x-vx) + (z-vz)*(z-vz)
		if v.state.get(t)&fShown != 0 {
			d2 *= keepFactor
		}
		ns = append(ns, cand{id: t, d2: d2})
		return true
	})
	s.near = ns
	limit := v.limit
	if len(ns) <= limit {
		return len(ns)
	}
	s.d2 = s.d2[:0]
	for _, n := range ns {
		s.d2 = append(s.d2, n.d2)
	}
	bound := nth(s.d2, limit-1)
	// Of those at the bound, as many as the limit still allows.
	atBound := limit
	for _, d := range s.d2[:limit] {
		if d < bound {
			atBound--
		}
	}
	// The chosen the client does not hold go first, nearest first (ns
	// is reused for them: each is written behind the one read), then
	// the others.
	rest := s.buf[:0]
	chosen := ns[:0]
	for _, n := range ns {
		in := n.d2 < bound
		if n.d2 == bound && atBound > 0 {
			atBound--
			in = true
		}
		st := v.state.get(n.id)
		switch {
		case st&fShown != 0 && !in:
			v.state.turn(n.id, fShown|fPos, fPending)
			s.out.Destroy(v.id, n.id)
			rest = append(rest, n.id)
		case st&fShown != 0:
		case in:
			chosen = append(chosen, n)
		default:
			rest = append(rest, n.id)
		}
	}
	slices.SortFunc(chosen, func(a, b cand) int { return cmp.Compare(a.d2, b.d2) })
	v.pending, v.pendingHead = v.pending[:0], 0
	for _, c := range chosen {
		v.pending = append(v.pending, c.id)
	}
	v.pending = append(v.pending, rest...)
	s.buf = rest[:0]
	return len(ns)
}

// pushRoute routes moves from the movers' side: for each listed mover,
// oldest first, its watchers (every one counted against SyncWork) queue
// its position if they have a view. The movers it did not get to stay
// listed, and the next Sync routes them the same way first.
func (s *Space) pushRoute(cur uint64) {
	work, done := 0, 0
	for _, id := range s.moved {
		if work >= s.cfg.SyncWork {
			break
		}
		done++
		m := &s.slots[id]
		if !m.listed {
			continue // stale: removed since, or listed again further on
		}
		m.listed = false
		s.grid.Watchers(id, func(w ID) bool {
			work++
			if v := s.slots[w].view; v != nil {
				v.queuePos(id)
			}
			return true
		})
	}
	n := copy(s.moved, s.moved[done:])
	s.moved = s.moved[:n]
	s.leftover = n > 0
}

// unlist empties the list of movers (routing from the viewers' side
// found them through their stamps).
func (s *Space) unlist() {
	for _, id := range s.moved {
		s.slots[id].listed = false
	}
	s.moved = s.moved[:0]
}

// route queues, in v, the position of every member its viewer sees that
// moved after v was last routed, and returns the pairs examined.
func (s *Space) route(v *view, cur uint64) int {
	since := v.routed
	if v.limit > 0 {
		return s.routeHeld(v, cur)
	}
	n := 0
	// Whether the client holds the mover is checked when the queue is
	// sent (it may be created by then), which saves a lookup per pair.
	s.grid.Neighbors(v.id, func(t ID) bool {
		n++
		if s.slots[t].movedAt > since {
			v.queuePos(t)
		}
		return true
	})
	v.routed = cur
	return n
}

// routeHeld is route for a limited view, which may see many more
// entities than its client holds: it goes through the view's own table
// instead, and queues the held entities that moved (the others get
// their position with their create). It returns the held entries looked
// at: the (viewer, neighbour) pairs whose move it checked; the others
// cost only a scan of the table.
func (s *Space) routeHeld(v *view, cur uint64) int {
	since := v.routed
	moved := s.buf[:0]
	v.state.all(func(t ID, st uint8) {
		if st&(fShown|fGone) == fShown && s.slots[t].movedAt > since {
			moved = append(moved, t)
		}
	})
	for _, t := range moved {
		v.queuePos(t)
	}
	s.buf = moved[:0]
	v.routed = cur
	return v.state.held()
}

// due is a viewer and how much it has due, for sharing SyncTotal.
type due struct {
	v *view
	n int
}

// cand is a queued position Sync may send.
type cand struct {
	id ID
	d2 float64 // squared distance from the viewer (0 for itself)
}

// sendPositions sends up to m's budget of its queued positions. All of
// them if they fit; otherwise the oldest (a quarter of the budget, on
// average over four Syncs when the budget is under four) and then the
// nearest; the rest stay queued, in the order they were queued, for the
// next Sync. A queued position thus waits at most about
// 4 × (entries ahead of it) / budget Syncs, however many near ones move.
func (s *Space) sendPositions(v *view, cur uint64) {
	id := v.id
	// Gather the live entries, oldest first; their fPos is cleared here
	// (which also skips a second, stale entry of the same ID) and set
	// back for those that stay.
	cs := s.cand[:0]
	for _, t := range v.pos[v.posHead:] {
		// (An entry left with no flag, the viewer itself, is removed.)
		st := v.state.clear(t, fPos)
		if st&fPos == 0 {
			continue
		}
		if st&fShown == 0 && t != id {
			continue // still pending: its create will carry its position
		}
		cs = append(cs, cand{id: t})
	}
	s.cand = cs
	v.pos, v.posHead = v.pos[:0], 0
	s.buf = s.buf[:0]
	if len(cs) <= v.budget {
		for _, c := range cs {
			s.buf = append(s.buf, c.id)
		}
	} else {
		old := (v.budget + int(cur%4)) / 4
		if s.old {
			old = v.budget
		}
		near := v.budget - old
		for _, c := range cs[:old] {
			s.buf = append(s.buf, c.id)
		}
		rest := cs[old:]
		// The near-th smallest distance among the rest: those under it
		// go, and of those at it, as many as the budget still allows.
		var limit float64
		if near > 0 {
			// Distances only now: when all fit, they are not needed.
			vx, vz, _ := s.grid.Position(id)
			s.d2 = s.d2[:0]
			for i := range rest {
				if t := rest[i].id; t != id {
					x, z, _ := s.grid.Position(t)
					rest[i].d2 = (x-vx)*(x-vx) + (z-vz)*(z-vz)
				}
				s.d2 = append(s.d2, rest[i].d2)
			}
			limit = nth(s.d2, near-1)
			under := 0
			for _, d := range s.d2[:near] {
				if d < limit {
					under++
				}
			}
			atLimit := near - under
			for _, c := range rest {
				if c.d2 < limit || (c.d2 == limit && atLimit > 0) {
					if c.d2 == limit {
						atLimit--
					}
					s.buf = append(s.buf, c.id)
					c.d2 = -1 // sent
				}
				if c.d2 >= 0 {
					s.requeue(v, c.id)
				}
			}
		} else {
			for _, c := range rest {
				s.requeue(v, c.id)
			}
		}
	}
	v.budget -= len(s.buf)
	if len(s.buf) > 0 {
		s.out.Positions(id, s.buf)
	}
}

// requeue puts t back in v's position queue (after sendPositions took it
// out).
func (s *Space) requeue(v *view, t ID) {
	v.state.or(t, fPos)
	v.pos = append(v.pos, t)
}

// nth reorders a so that a[k] is its k-th smallest value (from 0), with
// nothing larger before it and nothing smaller after, and returns a[k].
func nth(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		p := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// Backlog returns the moves not routed yet (viewers not routed, or movers
// not routed when routing went from the movers' side), and
// the creates and position updates queued for viewers, for metrics and
// tests. Creates that wait for room under a view limit rather than for the
// budget are not counted: a view that sees more than its limit has them
// for as long as it does.
func (s *Space) Backlog() (moves, creates, positions int) {
	if s.leftover {
		moves = len(s.moved)
	}
	for _, v := range s.viewers {
		if v.routed < s.lastMove {
			moves++
		}
		v.state.all(func(_ ID, st uint8) {
			if st&fPos != 0 {
				positions++
			}
		})
		creates += s.waitingCreates(v)
	}
	return moves, creates, positions
}

// waitingCreates returns the creates v's client waits for from the
// budget: all its pending creates, or, under a view limit, as many as
// there is room for (the others wait for room, not for the budget).
func (s *Space) waitingCreates(v *view) int {
	pending, _ := v.state.waiting()
	if v.limit > 0 {
		pending = max(0, min(pending, v.limit-v.state.held()))
	}
	return pending
}

// apply turns the grid's changes into view updates and AOI reports.
func (s *Space) apply() {
	evs := s.events
	s.events = s.events[:0]
	for _, ev := range evs {
		// One load per event: a free slot has no view.
		if v := s.slots[ev.watcher].view; v != nil {
			if ev.enter {
				s.show(v, ev.target)
			} else {
				s.hide(v, ev.target)
			}
		}
	}
	if s.quiet {
		return
	}
	for _, ev := range evs {
		s.out.AOI(ev.watcher, ev.target, ev.enter)
	}
}

// show makes target visible in v: its create waits for the next Sync
// (within the viewer's budget then). An entity whose destroy was waiting
// is still on the client: it stays, and only its position is sent.
func (s *Space) show(v *view, target ID) {
	st := v.state.get(target)
	if st&fGone != 0 {
		v.state.clear(target, fGone)
		v.queuePos(target)
		return
	}
	if st&(fShown|fPending) != 0 {
		return
	}
	if s.quiet {
		if _, pending := s.frozen[v.id][target]; !pending {
			v.state.or(target, fShown)
			return
		}
	}
	v.state.or(target, fPending)
	v.pending = append(v.pending, target)
}

// hide takes target out of v: a create still waiting is dropped, and
// the client's copy is destroyed at the next Sync (at once while a
// member is being removed: its ID is freed before then).
func (s *Space) hide(v *view, target ID) {
	st := v.state.get(target)
	switch {
	case st&fShown == 0 || s.quiet:
		// Queue entries left behind are stale.
		v.state.clear(target, st)
	case s.now:
		v.state.clear(target, st)
		s.out.Destroy(v.id, target)
	case st&fGone == 0:
		v.state.turn(target, fShown|fPos, fShown|fGone) // no position to send
		v.gone = append(v.gone, target)
		m := &s.slots[target]
		if m.gone == 0 {
			// Reuse the list of an earlier interval, and its capacity.
			n := len(s.gone)
			if n < cap(s.gone) {
				s.gone = s.gone[:n+1]
				s.gone[n].target, s.gone[n].viewers = target, s.gone[n].viewers[:0]
			} else {
				s.gone = append(s.gone, goneList{target: target})
			}
			m.gone = int32(n + 1)
		}
		g := &s.gone[m.gone-1]
		g.viewers = append(g.viewers, v.id)
	}
}

// sendDestroys sends v's waiting destroys.
func (s *Space) sendDestroys(v *view) {
	for _, t := range v.gone {
		if st := v.state.get(t); st&fGone != 0 {
			v.state.clear(t, st)
			s.out.Destroy(v.id, t)
		}
	}
	v.gone = v.gone[:0]
}

// SendDestroys sends, at once, the destroys that wait for the next Sync
// (entities that left a client's view since the last one). The engine
// calls it before it freezes the space for a hot reload: the views it
// rebuilds after hold only what their members see.
func (s *Space) SendDestroys() {
	for _, v := range s.viewers {
		s.sendDestroys(v)
	}
	s.unmarkGone()
}

// unmarkGone clears the gone marks, once no view has a destroy waiting.
func (s *Space) unmarkGone() {
	for i := range s.gone {
		if d := s.gone[i].target; int(d) < len(s.slots) {
			s.slots[d].gone = 0
		}
	}
	s.gone = s.gone[:0]
}

func (v *view) queuePos(t ID) {
	if v.state.or(t, fPos)&fPos == 0 {
		v.pos = append(v.pos, t)
	}
}

// advance consumes q up to head. The consumed prefix is dropped only
// once it is at least half of q, so a long queue drained a little at each
// Sync is not copied each time.
func advance(q []ID, head int) ([]ID, int) {
	if head == len(q) {
		return q[:0], 0
	}
	if head < len(q)/2 {
		return q, head
	}
	n := copy(q, q[head:])
	return q[:n], 0
}
