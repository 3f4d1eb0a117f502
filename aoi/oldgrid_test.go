package aoi

// oldGrid is the grid as it was before issue 18 (commit ad07a6e): every
// visible pair held an edge in both entities' lists, and radii over two
// cells went to a list that every move scanned. It is kept here, renamed
// and otherwise unchanged (comments included), only so that the
// benchmarks can show the current Grid next to it in one run;
// TestOldGridProperty keeps the copy honest.

import (
	"fmt"
	"math"
	"slices"
)

const (
	// classesPerCell is the resolution at which the grid tracks the
	// largest "small" radius: radii are rounded up to a multiple of
	// cellSize/classesPerCell.
	oClassesPerCell = 8
	// smallCells: a radius up to smallCells*cellSize is "small" and found
	// by searching cells around a moving target. Larger radii ("big"
	// watchers) are kept in a list that every moving target checks
	// directly, so that one huge radius does not make every move search a
	// huge area.
	oSmallCells = 2
	oMaxClass   = oClassesPerCell * oSmallCells
	// cellLimit clamps cell coordinates so that they fit in 32 bits.
	// Positions beyond ±cellLimit cells share the edge cells: still
	// correct, only slower.
	oCellLimit = 1<<31 - 2
	// boxSlack widens every search box, relative to the coordinates, to
	// cover float64 rounding in the visibility test.
	oBoxSlack = 1e-9
)

// edge is one side of a visibility pair: in w.sees, {t, j} means w sees t
// and t.seenBy[j] is {w, i} for the index i of this entry.
type oEdge struct {
	other *oEntity
	rev   int
}

type oEntity struct {
	id     ID
	x, z   float64
	r, r2  float64
	class  int // radius class if small, -1 if big
	cell   *oCell
	ci     int // index in cell.slots
	ai     int // index in Grid.all
	bi     int // index in Grid.bigs if big
	sees   []oEdge
	seenBy []oEdge
}

// slot is an entity's entry in its cell: a copy of what a search needs,
// so that searching a cell reads one array.
type oSlot struct {
	x, z float64
	r2   float64 // the entity's squared radius if small; -1 if big
	e    *oEntity
}

type oCell struct {
	key    uint64
	cx, cz int64
	slots  []oSlot
	// nb is the 3×3 block of cells around this one, nb[4] being itself,
	// and nil where there is no cell: most searches need no map lookup.
	nb [9]*oCell
}

// Grid is a grid area of interest. Create one with [NewGrid].
type oldGrid struct {
	size, inv float64
	cb        Callbacks

	ents  map[ID]*oEntity
	cells map[uint64]*oCell
	all   []*oEntity // every entity, for searches larger than the world
	bigs  []*oEntity // entities whose radius is over smallCells*size
	free  []*oCell   // empty cells kept for reuse

	classCount [oMaxClass + 1]int
	topClass   int // largest class with a nonzero count, or -1

	// The calls of the current operation, all involving subject, in six
	// buckets: leaves then enters, each split into (other, subject) with
	// other < subject, (subject, other), and (other, subject) with
	// other > subject. Each holds the other IDs; sorting each bucket gives
	// the documented order without comparing pairs.
	subject ID
	buckets [6][]ID
	pending int
	busy    int
}

// NewGrid returns an empty grid with square cells of side cellSize, which
// should be about the usual radius. It calls cb for every change of
// visibility; cb may be nil. NewGrid panics if cellSize is not a positive
// finite number (with a finite inverse).
func newOldGrid(cellSize float64, cb Callbacks) *oldGrid {
	if !(cellSize > 0) || math.IsInf(cellSize, 1) || math.IsInf(1/cellSize, 1) {
		panic(fmt.Sprintf("aoi: invalid cell size %v", cellSize))
	}
	return &oldGrid{
		size:     cellSize,
		inv:      1 / cellSize,
		cb:       cb,
		ents:     make(map[ID]*oEntity),
		cells:    make(map[uint64]*oCell),
		topClass: -1,
	}
}

// Len returns the number of entities in the grid.
func (g *oldGrid) Len() int { return len(g.ents) }

// CellSize returns the cell size given to [NewGrid].
func (g *oldGrid) CellSize() float64 { return g.size }

// Position returns the position of id, and false if id is not in the grid.
func (g *oldGrid) Position(id ID) (x, z float64, ok bool) {
	e := g.ents[id]
	if e == nil {
		return 0, 0, false
	}
	return e.x, e.z, true
}

// Radius returns the radius of id, and false if id is not in the grid.
func (g *oldGrid) Radius(id ID) (float64, bool) {
	e := g.ents[id]
	if e == nil {
		return 0, false
	}
	return e.r, true
}

// Sees reports whether target is in watcher's view.
func (g *oldGrid) Sees(watcher, target ID) bool {
	w, t := g.ents[watcher], g.ents[target]
	if w == nil || t == nil {
		return false
	}
	if len(w.sees) <= len(t.seenBy) {
		for _, ed := range w.sees {
			if ed.other == t {
				return true
			}
		}
		return false
	}
	for _, ed := range t.seenBy {
		if ed.other == w {
			return true
		}
	}
	return false
}

// Neighbors calls fn for each entity that id currently sees, until fn
// returns false. It does nothing if id is not in the grid. The order is
// unspecified (but the same for the same history of operations). fn must
// not modify the grid.
func (g *oldGrid) Neighbors(id ID, fn func(ID) bool) {
	if e := g.ents[id]; e != nil {
		g.each(e.sees, fn)
	}
}

// Watchers calls fn for each entity that currently sees id (the entities
// to tell when id changes), until fn returns false. It does nothing if id
// is not in the grid. The order is unspecified (but the same for the same
// history of operations). fn must not modify the grid.
func (g *oldGrid) Watchers(id ID, fn func(ID) bool) {
	if e := g.ents[id]; e != nil {
		g.each(e.seenBy, fn)
	}
}

func (g *oldGrid) each(edges []oEdge, fn func(ID) bool) {
	g.busy++
	defer func() { g.busy-- }()
	for _, ed := range edges {
		if !fn(ed.other.id) {
			return
		}
	}
}

// Insert adds id at (x, z) with the given radius, and reports what it sees
// (Enter(id, other)) and who sees it (Enter(other, id)). It changes
// nothing and returns an error wrapping [ErrDuplicateID],
// [ErrInvalidPosition], [ErrInvalidRadius] or [ErrReentrant] if the
// arguments are wrong or it is called from a callback.
func (g *oldGrid) Insert(id ID, x, z, radius float64) error {
	if g.busy > 0 {
		return opErr("insert", id, ErrReentrant)
	}
	if g.ents[id] != nil {
		return opErr("insert", id, ErrDuplicateID)
	}
	if !finite(x) || !finite(z) {
		return opErr("insert", id, ErrInvalidPosition, x, z)
	}
	if !(radius >= 0) {
		return opErr("insert", id, ErrInvalidRadius, radius)
	}
	e := &oEntity{id: id, x: x, z: z}
	g.subject = id
	g.ents[id] = e
	e.ai = len(g.all)
	g.all = append(g.all, e)
	g.setRadius(e, radius)
	g.addToCell(e, g.coord(x), g.coord(z))
	g.enters(e, 0, 0, 0, false, true, true)
	g.fire()
	return nil
}

// Move moves id to (x, z). It reports Leave and Enter for what id sees and
// for who sees id. Moving within a cell does not touch the cell map; a
// move of any length (a teleport) touches only the cells around the new
// position and the entities related to id at the old one (and id's old
// cell). Moving to the same position does nothing. Errors: [ErrUnknownID],
// [ErrInvalidPosition], [ErrReentrant], changing nothing.
func (g *oldGrid) Move(id ID, x, z float64) error {
	if g.busy > 0 {
		return opErr("move", id, ErrReentrant)
	}
	e := g.ents[id]
	if e == nil {
		return opErr("move", id, ErrUnknownID)
	}
	if !finite(x) || !finite(z) {
		return opErr("move", id, ErrInvalidPosition, x, z)
	}
	if x == e.x && z == e.z {
		return nil
	}
	g.subject = id
	ox, oz := e.x, e.z
	e.x, e.z = x, z
	if cx, cz := g.coord(x), g.coord(z); cx != e.cell.cx || cz != e.cell.cz {
		g.removeFromCell(e)
		g.addToCell(e, cx, cz)
	} else {
		s := &e.cell.slots[e.ci]
		s.x, s.z = x, z
	}
	g.leaves(e, true, true)
	g.enters(e, ox, oz, e.r2, true, true, true)
	e.sees, e.seenBy = oShrink(e.sees), oShrink(e.seenBy)
	g.fire()
	return nil
}

// SetRadius changes the radius of id and reports what comes into or
// leaves its view (Enter(id, other), Leave(id, other)). Who sees id does not
// change. Errors: [ErrUnknownID], [ErrInvalidRadius], [ErrReentrant],
// changing nothing.
func (g *oldGrid) SetRadius(id ID, radius float64) error {
	if g.busy > 0 {
		return opErr("set radius of", id, ErrReentrant)
	}
	e := g.ents[id]
	if e == nil {
		return opErr("set radius of", id, ErrUnknownID)
	}
	if !(radius >= 0) {
		return opErr("set radius of", id, ErrInvalidRadius, radius)
	}
	if radius == e.r {
		return nil
	}
	g.subject = id
	or, or2 := e.r, e.r2
	g.unclass(e)
	g.setRadius(e, radius)
	e.cell.slots[e.ci].r2 = e.slotR2()
	if radius < or {
		g.leaves(e, true, false)
		e.sees = oShrink(e.sees)
	} else {
		g.enters(e, e.x, e.z, or2, true, true, false)
	}
	g.fire()
	return nil
}

// Remove removes id. It reports both directions: Leave(id, other) for
// every entity that id saw, and Leave(other, id) for every entity that saw
// id. Like all calls of one operation, they are sorted together by watcher,
// then target, so a pair of mutual watchers gives two calls. Errors:
// [ErrUnknownID], [ErrReentrant], changing nothing.
func (g *oldGrid) Remove(id ID) error {
	if g.busy > 0 {
		return opErr("remove", id, ErrReentrant)
	}
	e := g.ents[id]
	if e == nil {
		return opErr("remove", id, ErrUnknownID)
	}
	g.subject = id
	for i := len(e.sees) - 1; i >= 0; i-- {
		g.emit(e.id, e.sees[i].other.id, false)
		oUnlink(e, i)
	}
	for i := len(e.seenBy) - 1; i >= 0; i-- {
		ed := e.seenBy[i]
		g.emit(ed.other.id, e.id, false)
		oUnlink(ed.other, ed.rev)
	}
	g.removeFromCell(e)
	g.unclass(e)
	last := g.all[len(g.all)-1]
	g.all[e.ai] = last
	last.ai = e.ai
	g.all[len(g.all)-1] = nil
	g.all = g.all[:len(g.all)-1]
	delete(g.ents, id)
	*e = oEntity{}
	g.fire()
	return nil
}

// leaves unlinks the pairs of e that are no longer visible: what e sees if
// watch, who sees e if target.
func (g *oldGrid) leaves(e *oEntity, watch, target bool) {
	if watch {
		for i := len(e.sees) - 1; i >= 0; i-- {
			t := e.sees[i].other
			if dist2(e.x, e.z, t.x, t.z) > e.r2 {
				g.emit(e.id, t.id, false)
				oUnlink(e, i)
			}
		}
	}
	if target {
		for i := len(e.seenBy) - 1; i >= 0; i-- {
			ed := e.seenBy[i]
			w := ed.other
			if dist2(e.x, e.z, w.x, w.z) > w.r2 {
				g.emit(w.id, e.id, false)
				oUnlink(w, ed.rev)
			}
		}
	}
}

// enters links the pairs of e that became visible. (ox, oz) and or2 are
// e's old position and squared radius, used if existed to tell which pairs
// were already visible. It finds what e sees if watch, who sees e if target.
func (g *oldGrid) enters(e *oEntity, ox, oz, or2 float64, existed, watch, target bool) {
	reach := -1.0
	if watch {
		reach = e.r
		if math.IsInf(e.r2, 1) {
			reach = e.r2 // the square overflowed: e sees everything
		}
	}
	if target && g.topClass >= 0 {
		reach = max(reach, float64(g.topClass)*g.size/oClassesPerCell)
	}
	if reach >= 0 {
		slack := (math.Abs(e.x) + math.Abs(e.z) + reach) * oBoxSlack
		x0, x1 := g.coord(e.x-reach-slack), g.coord(e.x+reach+slack)
		z0, z1 := g.coord(e.z-reach-slack), g.coord(e.z+reach+slack)
		if float64(x1-x0+1)*float64(z1-z0+1) > float64(len(g.all)) {
			for _, o := range g.all {
				g.check(e, o, ox, oz, or2, existed, watch, target)
			}
		} else {
			wr2 := -1.0 // never reached by a squared distance
			if watch {
				wr2 = e.r2
			}
			home := e.cell
			for cz := z0; cz <= z1; cz++ {
				dz := cz - home.cz
				for cx := x0; cx <= x1; cx++ {
					var c *oCell
					if dx := cx - home.cx; dx >= -1 && dx <= 1 && dz >= -1 && dz <= 1 {
						c = home.nb[(dz+1)*3+dx+1]
					} else {
						c = g.cells[oPack(cx, cz)]
					}
					if c != nil {
						g.scan(c, e, ox, oz, or2, wr2, existed, target)
					}
				}
			}
		}
	}
	if target {
		for _, w := range g.bigs {
			if w != e && dist2(e.x, e.z, w.x, w.z) <= w.r2 &&
				!(existed && dist2(ox, oz, w.x, w.z) <= w.r2) {
				g.emit(w.id, e.id, true)
				oLink(w, e)
			}
		}
	}
}

// scan links e with the entities of c in whichever direction became
// visible: e sees them if within wr2 (-1 for none), they see e if target.
func (g *oldGrid) scan(c *oCell, e *oEntity, ox, oz, or2, wr2 float64, existed, target bool) {
	ex, ez := e.x, e.z
	for i := range c.slots {
		s := &c.slots[i]
		d2 := dist2(ex, ez, s.x, s.z)
		if d2 <= wr2 && s.e != e && !(existed && dist2(ox, oz, s.x, s.z) <= or2) {
			g.emit(e.id, s.e.id, true)
			oLink(e, s.e)
		}
		if target && d2 <= s.r2 && s.e != e && !(existed && dist2(ox, oz, s.x, s.z) <= s.r2) {
			g.emit(s.e.id, e.id, true)
			oLink(s.e, e)
		}
	}
}

// check links e and o in whichever direction became visible.
func (g *oldGrid) check(e, o *oEntity, ox, oz, or2 float64, existed, watch, target bool) {
	if o == e {
		return
	}
	d2 := dist2(e.x, e.z, o.x, o.z)
	if watch && d2 <= e.r2 && !(existed && dist2(ox, oz, o.x, o.z) <= or2) {
		g.emit(e.id, o.id, true)
		oLink(e, o)
	}
	if target && o.class >= 0 && d2 <= o.r2 && !(existed && dist2(ox, oz, o.x, o.z) <= o.r2) {
		g.emit(o.id, e.id, true)
		oLink(o, e)
	}
}

func (g *oldGrid) emit(watcher, target ID, enter bool) {
	b, other := 0, watcher
	switch {
	case watcher == g.subject:
		b, other = 1, target
	case watcher > g.subject:
		b = 2
	}
	if enter {
		b += 3
	}
	g.buckets[b] = append(g.buckets[b], other)
	g.pending++
}

// fire delivers the calls of the current operation in the documented
// order.
func (g *oldGrid) fire() {
	if g.pending == 0 {
		return
	}
	g.busy++
	defer func() {
		g.busy--
		for i := range g.buckets {
			g.buckets[i] = g.buckets[i][:0]
		}
		g.pending = 0
	}()
	if g.cb == nil {
		return
	}
	s := g.subject
	for b, others := range g.buckets {
		slices.Sort(others)
		for _, o := range others {
			w, t := o, s
			if b%3 == 1 {
				w, t = s, o
			}
			if b < 3 {
				g.cb.Leave(w, t)
			} else {
				g.cb.Enter(w, t)
			}
		}
	}
}

// setRadius sets e's radius and its class; e must be unclassed.
func (g *oldGrid) setRadius(e *oEntity, r float64) {
	e.r, e.r2 = r, r*r
	q := r * g.inv * oClassesPerCell
	if q <= oMaxClass && !math.IsInf(e.r2, 1) {
		e.class = int(math.Ceil(q))
		g.classCount[e.class]++
		g.topClass = max(g.topClass, e.class)
		return
	}
	e.class = -1
	e.bi = len(g.bigs)
	g.bigs = append(g.bigs, e)
}

func (g *oldGrid) unclass(e *oEntity) {
	if e.class < 0 {
		last := g.bigs[len(g.bigs)-1]
		g.bigs[e.bi] = last
		last.bi = e.bi
		g.bigs[len(g.bigs)-1] = nil
		g.bigs = g.bigs[:len(g.bigs)-1]
		return
	}
	g.classCount[e.class]--
	for g.topClass >= 0 && g.classCount[g.topClass] == 0 {
		g.topClass--
	}
}

// coord returns the cell coordinate of v, clamped to ±cellLimit. It is
// monotonic in v, which is all the searches rely on.
func (g *oldGrid) coord(v float64) int64 {
	f := math.Floor(v * g.inv)
	if f >= oCellLimit {
		return oCellLimit
	}
	if f <= -oCellLimit {
		return -oCellLimit
	}
	return int64(f)
}

// slotR2 is the squared radius a cell's slot records for e.
func (e *oEntity) slotR2() float64 {
	if e.class < 0 {
		return -1
	}
	return e.r2
}

func oPack(cx, cz int64) uint64 { return uint64(uint32(cx))<<32 | uint64(uint32(cz)) }

func (g *oldGrid) addToCell(e *oEntity, cx, cz int64) {
	key := oPack(cx, cz)
	c := g.cells[key]
	if c == nil {
		if n := len(g.free); n > 0 {
			c = g.free[n-1]
			g.free[n-1] = nil
			g.free = g.free[:n-1]
		} else {
			c = &oCell{}
		}
		c.key, c.cx, c.cz = key, cx, cz
		g.cells[key] = c
		c.nb[4] = c
		for dz := int64(-1); dz <= 1; dz++ {
			for dx := int64(-1); dx <= 1; dx++ {
				k := (dz+1)*3 + dx + 1
				if k == 4 {
					continue
				}
				// Beyond ±cellLimit, pack gives keys no cell has.
				if n := g.cells[oPack(cx+dx, cz+dz)]; n != nil {
					c.nb[k] = n
					n.nb[8-k] = c
				}
			}
		}
	}
	e.cell = c
	e.ci = len(c.slots)
	c.slots = append(c.slots, oSlot{e.x, e.z, e.slotR2(), e})
}

func (g *oldGrid) removeFromCell(e *oEntity) {
	c := e.cell
	n := len(c.slots) - 1
	last := c.slots[n]
	c.slots[e.ci] = last
	last.e.ci = e.ci
	c.slots[n] = oSlot{}
	c.slots = c.slots[:n]
	e.cell = nil
	if n > 0 {
		return
	}
	delete(g.cells, c.key)
	for k, nb := range c.nb {
		if k != 4 && nb != nil {
			nb.nb[8-k] = nil
		}
	}
	c.nb = [9]*oCell{}
	if len(g.free) < 1024 {
		if cap(c.slots) > 16 {
			c.slots = nil
		}
		g.free = append(g.free, c)
	}
}

// link records that w sees t.
func oLink(w, t *oEntity) {
	w.sees = append(w.sees, oEdge{t, len(t.seenBy)})
	t.seenBy = append(t.seenBy, oEdge{w, len(w.sees) - 1})
}

// unlink removes w.sees[i] and its twin in the target's seenBy.
func oUnlink(w *oEntity, i int) {
	ed := w.sees[i]
	t, j := ed.other, ed.rev
	n := len(w.sees) - 1
	if i != n {
		last := w.sees[n]
		w.sees[i] = last
		last.other.seenBy[last.rev].rev = i
	}
	w.sees[n] = oEdge{}
	w.sees = w.sees[:n]
	m := len(t.seenBy) - 1
	if j != m {
		last := t.seenBy[m]
		t.seenBy[j] = last
		last.other.sees[last.rev].rev = j
	}
	t.seenBy[m] = oEdge{}
	t.seenBy = t.seenBy[:m]
}

// shrink releases most of a list's memory once a crowd has dispersed.
func oShrink(s []oEdge) []oEdge {
	if cap(s) > 64 && len(s) < cap(s)/4 {
		return slices.Clone(s)
	}
	return s
}
