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
//   - A member with a view (a client) is shown an entity when it comes into
//     its area of interest (Create) and told when it leaves (Destroy); the
//     view never holds an entity the member does not see, and Positions
//     only ever name entities the view holds (or the viewer itself).
//   - What one viewer is sent per [Space.Sync] is bounded (Config.SyncLimit
//     creates and position updates together): in a crowd, the rest waits
//     for the next Sync, oldest first, so every entity gets its turn.
//   - The work one Sync does to find who must hear of a move is bounded
//     too (Config.SyncWork): moves it could not get to wait for the next
//     Sync. A thousand entities on one spot slow their own updates down,
//     never the game loop.
//
// A Space is not safe for concurrent use; the game loop owns it.
package space

import (
	"fmt"

	"github.com/goworld-engine/goworld/aoi"
)

// ID identifies a member. The caller assigns IDs (unique within a space).
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
	// per Sync (default 128).
	SyncLimit int
	// SyncWork bounds the (mover, watcher) pairs one Sync examines to route
	// position updates (default 200,000).
	SyncWork int
}

// Defaults for Config.
const (
	DefaultCellSize  = 100
	DefaultSyncLimit = 128
	DefaultSyncWork  = 200_000
)

type member struct {
	id          ID
	moved       bool // moved since its move was last routed
	serverMoved bool // moved by the server (not its own client) since then
	view        *view
}

type view struct {
	known map[ID]struct{} // what the client holds
	// pending: entities seen but not yet created on the client (over the
	// budget); pendingSet says which entries of pending are live.
	pending    []ID
	pendingSet map[ID]struct{}
	// pos: entities whose new position the client has not been sent yet.
	pos    []ID
	posSet map[ID]struct{}
	budget int
}

// Space is the state of one space. Create it with New.
type Space struct {
	cfg     Config
	grid    *aoi.Grid
	out     Output
	members map[ID]*member
	viewers map[ID]*member
	moved   []*member
	events  []event // the current grid operation's changes
	quiet   bool    // restoring: views are rebuilt, nothing is output
	frozen  map[ID]map[ID]struct{}
	buf     []ID
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
	s := &Space{cfg: cfg, out: out, members: map[ID]*member{}, viewers: map[ID]*member{}}
	s.grid = aoi.NewGrid(cfg.CellSize, aoi.Funcs{
		OnEnter: func(w, t ID) { s.events = append(s.events, event{w, t, true}) },
		OnLeave: func(w, t ID) { s.events = append(s.events, event{w, t, false}) },
	})
	return s
}

// Len returns the number of members.
func (s *Space) Len() int { return len(s.members) }

// Has reports whether id is a member.
func (s *Space) Has(id ID) bool { return s.members[id] != nil }

// Add makes id a member at (x, z) with an AOI radius. viewer says whether
// it has a client to keep a view for.
func (s *Space) Add(id ID, x, z, radius float64, viewer bool) error {
	if s.members[id] != nil {
		return fmt.Errorf("space: member %d already present", id)
	}
	m := &member{id: id}
	if viewer {
		m.view = s.newView()
	}
	s.members[id] = m
	if viewer {
		s.viewers[id] = m
	}
	if err := s.grid.Insert(id, x, z, radius); err != nil {
		delete(s.members, id)
		delete(s.viewers, id)
		return err
	}
	s.apply()
	return nil
}

// Restore adds id like Add, but outputs nothing: after a hot reload the
// clients still hold their views. For a viewer, pending lists the
// entities its client had not been shown yet (see Pending); everything
// else it sees is taken as shown. Members restored this way have their
// positions sent again at the next Sync, in case the last ones were lost.
func (s *Space) Restore(id ID, x, z, radius float64, viewer bool, pending []ID) error {
	if s.frozen == nil {
		s.frozen = map[ID]map[ID]struct{}{}
	}
	if viewer && len(pending) > 0 {
		set := make(map[ID]struct{}, len(pending))
		for _, p := range pending {
			set[p] = struct{}{}
		}
		s.frozen[id] = set
	}
	s.quiet = true
	defer func() { s.quiet = false }()
	if err := s.Add(id, x, z, radius, viewer); err != nil {
		return err
	}
	m := s.members[id]
	m.moved = true
	s.moved = append(s.moved, m)
	return nil
}

// Pending returns the entities viewer sees but its client has not been
// shown yet (over the per-Sync budget), for a freeze file.
func (s *Space) Pending(viewer ID) []ID {
	m := s.members[viewer]
	if m == nil || m.view == nil {
		return nil
	}
	var out []ID
	for _, id := range m.view.pending {
		if _, ok := m.view.pendingSet[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// Remove takes id out of the space: everyone stops seeing it (Destroy for
// the clients that held it) and its own client is told to destroy
// everything it held.
func (s *Space) Remove(id ID) error {
	m := s.members[id]
	if m == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if err := s.grid.Remove(id); err != nil {
		return err
	}
	s.apply()
	delete(s.members, id)
	delete(s.viewers, id)
	return nil
}

// Move moves id to (x, z). byOwner says that its own client moved it, so
// that client is not told; other viewers that hold it are, at the next
// Sync.
func (s *Space) Move(id ID, x, z float64, byOwner bool) error {
	m := s.members[id]
	if m == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if err := s.grid.Move(id, x, z); err != nil {
		return err
	}
	s.apply()
	s.touch(m, byOwner)
	return nil
}

// Touch marks id as moved without moving it on the grid (a change of height
// or yaw only), so that viewers are sent its position at the next Sync.
func (s *Space) Touch(id ID, byOwner bool) {
	if m := s.members[id]; m != nil {
		s.touch(m, byOwner)
	}
}

func (s *Space) touch(m *member, byOwner bool) {
	if !byOwner {
		m.serverMoved = true
	}
	if !m.moved {
		m.moved = true
		s.moved = append(s.moved, m)
	}
}

// SetRadius changes id's AOI radius.
func (s *Space) SetRadius(id ID, r float64) error {
	if s.members[id] == nil {
		return fmt.Errorf("space: %w: %d", aoi.ErrUnknownID, id)
	}
	if err := s.grid.SetRadius(id, r); err != nil {
		return err
	}
	s.apply()
	return nil
}

// SetViewer starts (on) or ends a view for id, when a client is bound to
// or taken from it. A new view is shown everything id sees (within the
// budget); an ended one is told to destroy everything it held.
func (s *Space) SetViewer(id ID, on bool) {
	m := s.members[id]
	if m == nil || (m.view != nil) == on {
		return
	}
	if !on {
		v := m.view
		m.view = nil
		delete(s.viewers, id)
		for t := range v.known {
			s.out.Destroy(id, t)
		}
		return
	}
	m.view = s.newView()
	s.viewers[id] = m
	s.buf = s.buf[:0]
	s.grid.Neighbors(id, func(t ID) bool { s.buf = append(s.buf, t); return true })
	for _, t := range s.buf {
		s.show(m, t)
	}
	if !m.moved {
		m.moved = true
		s.moved = append(s.moved, m)
	}
	m.serverMoved = true // the new client learns where its entity is
}

// Sees reports whether watcher sees target.
func (s *Space) Sees(watcher, target ID) bool { return s.grid.Sees(watcher, target) }

// Shown reports whether viewer's client holds target.
func (s *Space) Shown(viewer, target ID) bool {
	m := s.members[viewer]
	if m == nil || m.view == nil {
		return false
	}
	_, ok := m.view.known[target]
	return ok
}

// Neighbors calls fn for each member id sees, until fn returns false. fn
// must not modify the space.
func (s *Space) Neighbors(id ID, fn func(ID) bool) { s.grid.Neighbors(id, fn) }

// Watchers calls fn for each member that sees id, until fn returns false.
// fn must not modify the space.
func (s *Space) Watchers(id ID, fn func(ID) bool) { s.grid.Watchers(id, fn) }

// ShownTo calls fn for each viewer whose client holds id: the clients to
// tell when id's public state changes.
func (s *Space) ShownTo(id ID, fn func(viewer ID)) {
	s.grid.Watchers(id, func(w ID) bool {
		if m := s.members[w]; m != nil && m.view != nil {
			if _, ok := m.view.known[id]; ok {
				fn(w)
			}
		}
		return true
	})
}

// NumViewers returns the number of members with a view.
func (s *Space) NumViewers() int { return len(s.viewers) }

// Sync sends what is due: each viewer's pending creates, then the
// positions of what moved since the last Sync, at most SyncLimit of both
// together per viewer. Call it at the position sync interval.
func (s *Space) Sync() {
	// Route moves to the views that hold the movers, within the work bound.
	work := 0
	done := 0
	for _, m := range s.moved {
		if work >= s.cfg.SyncWork {
			break
		}
		done++
		if s.members[m.id] != m {
			continue // removed since
		}
		s.grid.Watchers(m.id, func(w ID) bool {
			work++
			if wm := s.members[w]; wm != nil && wm.view != nil {
				if _, ok := wm.view.known[m.id]; ok {
					wm.view.queuePos(m.id)
				}
			}
			return true
		})
		if m.serverMoved && m.view != nil {
			m.view.queuePos(m.id)
		}
		m.moved, m.serverMoved = false, false
	}
	n := copy(s.moved, s.moved[done:])
	clear(s.moved[n:])
	s.moved = s.moved[:n]

	for id, m := range s.viewers {
		v := m.view
		v.budget = s.cfg.SyncLimit
		// Pending creates first: an entity must exist on the client
		// before its position means anything.
		head := 0
		for head < len(v.pending) && v.budget > 0 {
			t := v.pending[head]
			head++
			if _, ok := v.pendingSet[t]; !ok {
				continue
			}
			delete(v.pendingSet, t)
			v.known[t] = struct{}{}
			v.budget--
			s.out.Create(id, t)
		}
		v.pending = compact(v.pending, head)
		if len(v.pos) == 0 || v.budget == 0 {
			continue
		}
		s.buf = s.buf[:0]
		head = 0
		for head < len(v.pos) && v.budget > 0 {
			t := v.pos[head]
			head++
			if _, ok := v.posSet[t]; !ok {
				continue
			}
			delete(v.posSet, t)
			if _, ok := v.known[t]; !ok && t != id {
				continue
			}
			s.buf = append(s.buf, t)
			v.budget--
		}
		v.pos = compact(v.pos, head)
		if len(s.buf) > 0 {
			s.out.Positions(id, s.buf)
		}
	}
}

// Backlog returns the moves not yet routed and the creates and position
// updates queued for viewers, for metrics and tests.
func (s *Space) Backlog() (moves, creates, positions int) {
	for _, m := range s.viewers {
		creates += len(m.view.pendingSet)
		positions += len(m.view.posSet)
	}
	return len(s.moved), creates, positions
}

func (s *Space) newView() *view {
	return &view{known: map[ID]struct{}{}, pendingSet: map[ID]struct{}{}, posSet: map[ID]struct{}{}, budget: s.cfg.SyncLimit}
}

// apply turns the grid's changes into view updates and AOI reports.
func (s *Space) apply() {
	evs := s.events
	s.events = s.events[:0]
	for _, ev := range evs {
		m := s.members[ev.watcher]
		if m != nil && m.view != nil {
			if ev.enter {
				s.show(m, ev.target)
			} else {
				s.hide(m, ev.target)
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

// show makes target visible in m's view: at once if the budget allows,
// else at a later Sync.
func (s *Space) show(m *member, target ID) {
	v := m.view
	if s.quiet {
		if _, pending := s.frozen[m.id][target]; pending {
			v.pending = append(v.pending, target)
			v.pendingSet[target] = struct{}{}
		} else {
			v.known[target] = struct{}{}
		}
		return
	}
	if _, ok := v.known[target]; ok {
		return
	}
	if v.budget > 0 {
		v.budget--
		v.known[target] = struct{}{}
		s.out.Create(m.id, target)
		return
	}
	if _, ok := v.pendingSet[target]; !ok {
		v.pending = append(v.pending, target)
		v.pendingSet[target] = struct{}{}
	}
}

func (s *Space) hide(m *member, target ID) {
	v := m.view
	if _, ok := v.known[target]; ok {
		delete(v.known, target)
		delete(v.posSet, target)
		if !s.quiet {
			s.out.Destroy(m.id, target)
		}
		return
	}
	delete(v.pendingSet, target)
}

func (v *view) queuePos(t ID) {
	if _, ok := v.posSet[t]; !ok {
		v.posSet[t] = struct{}{}
		v.pos = append(v.pos, t)
	}
}

// compact drops the first head entries of q, reusing its array.
func compact(q []ID, head int) []ID {
	if head == 0 {
		return q
	}
	n := copy(q, q[head:])
	return q[:n]
}
